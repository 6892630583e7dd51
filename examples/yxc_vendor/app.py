"""A small, conforming timing-platform callback in Flask (000 附件一, 附件二), for vendors to compare with.

    python -m examples.yxc_vendor.app --https --port 8443          # https://localhost:8443, self-signed certificate
    DEFECT=ignores-callback python -m examples.yxc_vendor.app ...   # the same vendor with one planted defect

The terminal shows ``GET /qr`` (text) or ``GET /qr.png``: a fresh QR whose ``callback`` names the terminal and a
one-off session. The province POSTs ``{code, expirationtime, stunum, callback}`` to ``/yxc/callback``; the vendor
accepts only callback values it issued, and answers the general reply ``{errorcode, message, data}`` with HTTP 200.
The accepted codes are what the vendor later files as ``logininfo``/``logoutinfo`` (see ``client.py``).

Planted defects (``--defect`` or ``$DEFECT``), each breaking one rule (examples/defects/yxc-callback.yaml lists the
checks each must fail):
  errorcode-as-string  errorcode "0" instead of 0                       (000 附件二 2, errorcode int)
  errorcode-not-in-table  refusals answered with errorcode 400          (000 附件二 返回码定义)
  no-errorcode         replies {message, data} without errorcode         (000 附件二 2 通用应答)
  refuses-scans        answers 1 to valid scans                          (000 附件二 1; 000 2.1.2)
  ignores-callback     accepts a callback value it never issued          (000 附件一 3 callback)
  accepts-malformed    answers 0 to a body it cannot parse               (000 附件二 返回码 200)
  accepts-any-media-type  takes a JSON body labelled text/plain or form  (000 附件二 1, advice beyond the seed)
  wrong-shape          answers {"code": 0, "msg": …}                     (000 附件二 2 通用应答)
  http-500             answers refusals with HTTP 500                    (D-HTTP-STATUS)
  qr-datamatrix        /qr.png is a Data Matrix, not a QR Code           (000 附件一 1)
  qr-small             /qr.png symbol under 150 px                       (000 附件一 2)
  qr-too-long          QR content over 255 bytes                         (000 附件一 3)
  qr-extra-param       QR content carries a fourth parameter             (000 附件一 3)
  qr-http-redirect     redirect_uri is http://                           (000 2.1.1 https)
  qr-ip-redirect       redirect_uri names 127.0.0.1                      (000 2.1.1 不支持IP地址)
  qr-redirect-query    redirect_uri carries its own query                (000 附件一 3 回调地址不允许有其他参数内容)
  qr-milliseconds      timestamp in milliseconds                         (000 附件一 3 timestamp 单位秒)
  qr-empty-callback    callback parameter empty                          (000 附件一 3 callback)
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import re
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from harness.yxc.qr import make_png, make_text

REPLY_DEFECTS = (
    "errorcode-as-string",
    "errorcode-not-in-table",
    "no-errorcode",
    "refuses-scans",
    "ignores-callback",
    "accepts-malformed",
    "accepts-any-media-type",
    "wrong-shape",
    "http-500",
)
QR_DEFECTS = (
    "qr-datamatrix",
    "qr-small",
    "qr-too-long",
    "qr-extra-param",
    "qr-http-redirect",
    "qr-ip-redirect",
    "qr-redirect-query",
    "qr-milliseconds",
    "qr-empty-callback",
)
DEFECTS = REPLY_DEFECTS + QR_DEFECTS
FIELDS = ("code", "expirationtime", "stunum", "callback")
EXPIRATION = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")  # 000 附件二 expirationtime yyyy-MM-dd hh:mm:ss


class Vendor:
    """The vendor's state: callback values it issued (one per QR shown) and the scans it accepted."""

    def __init__(self, public_url: str, terminal: str = "T0001", defect: str | None = None) -> None:
        self.public_url = public_url
        self.terminal = terminal
        self.defect = defect
        self.issued: dict[str, float] = {}
        self.scans: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def new_callback(self) -> str:
        value = f"term={self.terminal}&sess={secrets.token_hex(6)}"
        if self.defect == "qr-too-long":
            value += "&pad=" + "x" * 200
        elif self.defect == "qr-empty-callback":
            value = ""
        with self.lock:
            self.issued[value] = time.time()
        return value

    def qr_text(self) -> str:
        url, timestamp = self.public_url, int(time.time())
        if self.defect == "qr-http-redirect":
            url = url.replace("https://", "http://", 1)
        elif self.defect == "qr-ip-redirect":
            url = url.replace("://localhost", "://127.0.0.1", 1)
        elif self.defect == "qr-redirect-query":
            url += f"?term={self.terminal}"
        elif self.defect == "qr-milliseconds":
            timestamp *= 1000
        text = make_text(url, self.new_callback(), timestamp)
        return text + f"&terminal={self.terminal}" if self.defect == "qr-extra-param" else text

    def qr_png(self) -> bytes:
        text = self.qr_text()
        if self.defect == "qr-datamatrix":
            return _datamatrix_png(text)
        if self.defect == "qr-small":
            return _small_qr_png(text)
        return make_png(text)


def _datamatrix_png(text: str) -> bytes:
    """The QR's content as a Data Matrix symbol: a readable code of the wrong symbology (000 附件一 1 QRCode)."""
    import io

    import zxingcpp
    from PIL import Image

    view = memoryview(zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.DataMatrix), scale=8))
    image = Image.frombuffer("L", (view.shape[1], view.shape[0]), bytes(view), "raw", "L", 0, 1)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _small_qr_png(text: str) -> bytes:
    """A QR Code drawn at 2 px a module: readable, but the symbol and the picture are under 150 px (000 附件一 2)."""
    import io

    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=2, border=2)
    code.add_data(text.encode("utf-8"))
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out, format="PNG")
    return out.getvalue()


def create_app(public_url: str, defect: str | None = None) -> Flask:
    """The callback app; ``public_url`` is the callback URL as the QR carries it (its path is served)."""
    if defect and defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; one of {', '.join(DEFECTS)}")
    app = Flask("yxc_vendor")
    vendor = Vendor(public_url, defect=defect)
    app.config["VENDOR"] = vendor
    path = "/" + public_url.split("://", 1)[1].split("/", 1)[1] if public_url.count("/") > 2 else "/"

    def reply(errorcode: int, message: str, data: Any = None) -> Response:
        if defect == "errorcode-not-in-table" and errorcode != 0:
            errorcode = 400
        if defect == "wrong-shape":
            body: dict[str, Any] = {"code": errorcode, "msg": message}
        elif defect == "no-errorcode":
            body = {"message": message, "data": data}
        else:
            body = {"errorcode": str(errorcode) if defect == "errorcode-as-string" else errorcode, "message": message, "data": data}
        status = 500 if defect == "http-500" and errorcode != 0 else 200
        return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json")

    def malformed(message: str) -> Response:
        return reply(0, "ok") if defect == "accepts-malformed" else reply(200, message)

    @app.get("/qr")
    def qr_text() -> Response:
        return Response(vendor.qr_text() + "\n", mimetype="text/plain")

    @app.get("/qr.png")
    def qr_png() -> Response:
        return Response(vendor.qr_png(), mimetype="image/png")

    @app.post(path)
    def callback() -> Response:
        # Parse nothing before the media type is known to be JSON (000 附件二 1: body is UTF-8 JSON).
        if request.mimetype != "application/json" and defect != "accepts-any-media-type":
            return malformed(f"Content-Type must be application/json, not {request.mimetype or 'none'}")
        try:
            body = json.loads(request.get_data().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return malformed("the body is not UTF-8 JSON")
        if not isinstance(body, dict):
            return malformed("the body is not a JSON object")
        missing = [f for f in FIELDS if f not in body]
        if missing:
            return malformed(f"missing {', '.join(missing)}")
        wrong = [f for f in FIELDS if not isinstance(body[f], str)]
        if wrong:
            return malformed(f"{', '.join(wrong)} must be strings")
        if not EXPIRATION.match(body["expirationtime"]) or len(body["stunum"]) != 16 or not body["code"]:
            return malformed("expirationtime must be yyyy-MM-dd HH:mm:ss, stunum 16 characters, code non-empty")
        with vendor.lock:
            known = body["callback"] in vendor.issued
        if not known and defect != "ignores-callback":
            return reply(1, "unknown callback: this platform never issued it")
        if defect == "refuses-scans":
            return reply(1, "scan refused")
        with vendor.lock:
            vendor.scans.append({k: body[k] for k in FIELDS})
        # 2.1.2 3): the terminal now shows a clear sign-in prompt; here the reply's message says so.
        return reply(0, f"{body['stunum']} 扫码成功", None)

    return app


def self_signed(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (and 127.0.0.1), usable as its own CA bundle; returns (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yxc reference vendor")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, False, False, False), critical=True
        )  # digitalSignature, keyCertSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--https", action="store_true", help="serve https://localhost:PORT with a fresh self-signed certificate")
    parser.add_argument("--path", default="/yxc/callback")
    parser.add_argument("--defect", default=os.environ.get("DEFECT") or None, choices=DEFECTS)
    parser.add_argument("--cert-out", type=Path, default=None, help="with --https: also write the certificate here (for --ca-bundle)")
    parser.add_argument(
        "--detach", action="store_true", help="run in the background and return once it listens (prints its pid; stop it with kill)"
    )
    args = parser.parse_args(argv)
    if args.detach:
        sys.exit(_detach([a for a in (argv if argv is not None else sys.argv[1:]) if a != "--detach"], args))
    from werkzeug.serving import make_server

    ssl_context = None
    if args.https:
        cert, key = self_signed(Path(tempfile.mkdtemp(prefix="yxc-vendor-")))
        import ssl

        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(cert, key)
        if args.cert_out is not None:
            args.cert_out.write_bytes(cert.read_bytes())
            cert = args.cert_out
        print(f"certificate (use as --ca-bundle): {cert}", flush=True)
    server = make_server(args.host, args.port, create_app("placeholder"), threaded=True, ssl_context=ssl_context)
    scheme, host = ("https", "localhost") if args.https else ("http", args.host)
    public = f"{scheme}://{host}:{server.server_port}{args.path}"
    server.app = create_app(public, args.defect)
    print(f"callback {public}{'  DEFECT=' + args.defect if args.defect else ''}", flush=True)
    print(f"QR text  {scheme}://{host}:{server.server_port}/qr   (PNG: /qr.png)", flush=True)
    print(f"QR now   {server.app.config['VENDOR'].qr_text()}", flush=True)
    server.serve_forever()


def _detach(argv: list[str], args: argparse.Namespace) -> int:
    """Start this vendor as a child process and wait until it listens; print what it printed and its pid."""
    import socket
    import subprocess

    log = Path(tempfile.mkdtemp(prefix="yxc-vendor-")) / "vendor.log"
    with log.open("wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "examples.yxc_vendor.app", *argv], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if child.poll() is not None:
            sys.stderr.write(log.read_text(encoding="utf-8", errors="replace"))
            return 2
        try:
            with socket.create_connection((args.host, args.port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        child.kill()
        sys.stderr.write(f"the vendor did not listen on {args.host}:{args.port} within 30 s\n")
        return 2
    time.sleep(0.2)  # its banner is printed just before it listens
    sys.stdout.write(log.read_text(encoding="utf-8", errors="replace"))
    print(f"pid      {child.pid}   (log {log}; stop it with: kill {child.pid})", flush=True)
    return 0


if __name__ == "__main__":
    main()
