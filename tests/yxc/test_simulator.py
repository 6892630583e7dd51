"""Mini-program scan simulator (000 附件二): issue a code, POST it to the vendor's callback, grade the reply."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner

from examples.yxc_vendor.client import Client, file_training
from harness.cli import main
from harness.config import Settings
from harness.pki import enrol
from harness.schema import open_store
from harness.server import create_app
from harness.signing import Signer
from harness.store import Store
from harness.yxc import codes, qr
from harness.yxc.scan import simulate_scan

STUNUM = "S440100200001234"


def test_scan_over_https_with_private_ca(start_vendor, store: Store) -> None:
    vendor = start_vendor(https=True)
    text = vendor.qr_text()
    # localhost is no public domain name (000 2.1.1): without the development opt-out the mini-program refuses the QR.
    refused = simulate_scan(store, text, STUNUM, ca_bundle=vendor.cert)
    assert [f.requirement for f in refused.qr.findings] == ["YXC-QR-REDIRECT-DOMAIN"] and refused.exchange is None
    result = simulate_scan(store, text, STUNUM, ca_bundle=vendor.cert, insecure_http=True)
    assert result.verdict == "passed", (result.findings, result.qr.findings, result.error)
    assert result.exit_code == 0
    # The code is stored, so a later classrecord's logininfo is matched against it.
    stored = codes.find(store, result.code.code)
    assert stored is not None and stored.kind == "login" and stored.stunum == STUNUM
    # callback echoed byte for byte: the decoded QR parameter, as the vendor issued it.
    sent = json.loads(result.exchange.request_body.decode("utf-8"))
    assert sent == {
        "code": stored.code,
        "expirationtime": stored.expirationtime,
        "stunum": STUNUM,
        "callback": qr.check_text(text).callback,
    }
    assert vendor.vendor.scans[-1]["callback"] in vendor.vendor.issued


def test_sign_out_issues_a_logout_code(start_vendor, store: Store) -> None:
    vendor = start_vendor()
    result = simulate_scan(store, vendor.qr_text(), STUNUM, logout=True, insecure_http=True)
    assert result.verdict == "passed"
    assert codes.find(store, result.code.code).kind == "logout"


def test_untrusted_certificate_cannot_run(start_vendor, store: Store) -> None:
    vendor = start_vendor(https=True)
    result = simulate_scan(store, vendor.qr_text(), STUNUM, insecure_http=True)  # system trust store: the self-signed cert is refused
    assert result.verdict == "error" and result.exit_code == 2


@pytest.mark.parametrize(
    ("defect", "requirement"),
    [
        ("errorcode-as-string", "YXC-CB-ERRORCODE-INT"),
        ("wrong-shape", "YXC-CB-REPLY-SHAPE"),
    ],
)
def test_defective_reply_is_graded(start_vendor, store: Store, defect: str, requirement: str) -> None:
    vendor = start_vendor(defect)
    result = simulate_scan(store, vendor.qr_text(), STUNUM, insecure_http=True)
    assert result.verdict == "failed" and result.exit_code == 1
    assert requirement in {f.requirement for f in result.findings}


def test_refused_scan_fails(start_vendor, store: Store) -> None:
    vendor = start_vendor()
    forged = qr.make_text(vendor.callback_url, "never-issued")
    result = simulate_scan(store, forged, STUNUM, insecure_http=True)
    assert result.verdict == "failed"
    assert [f.requirement for f in result.findings] == ["YXC-CB-ACCEPT-SIGNIN"]


def test_nonconforming_qr_is_not_posted(start_vendor, store: Store) -> None:
    vendor = start_vendor()
    stale = qr.make_text(vendor.callback_url, "x", int(time.time()) - 900)
    result = simulate_scan(store, stale, STUNUM, insecure_http=True)
    assert result.verdict == "failed" and result.exchange is None and result.code is None
    assert {f.requirement for f in result.qr.findings} == {"YXC-QR-TIMESTAMP"}
    plain = simulate_scan(store, qr.make_text(vendor.callback_url, "x"), STUNUM)  # http:// without the opt-out
    assert {f.requirement for f in plain.qr.findings} == {"YXC-QR-REDIRECT-HTTPS", "YXC-QR-REDIRECT-DOMAIN"}


def test_unreachable_callback_exits_2(store: Store) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = simulate_scan(store, qr.make_text(f"http://127.0.0.1:{port}/cb", "x"), STUNUM, insecure_http=True)
    assert result.exit_code == 2 and "cannot reach" in result.error


def test_cli(start_vendor, tmp_path: Path) -> None:
    vendor = start_vendor(https=True)
    db = tmp_path / "cli.db"
    args = ["simulate", "yxc-scan", "--qr", vendor.qr_text(), "--stunum", STUNUM, "--ca-bundle", str(vendor.cert), "--insecure-http"]
    args += ["--db", str(db)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "grade: passed" in result.stdout
    code = result.stdout.split("issued sign-in code ")[1].split()[0]
    assert codes.find(open_store(db), code) is not None
    bad = CliRunner().invoke(main, ["simulate", "yxc-scan", "--qr", "x", "--stunum", "short", "--db", str(db)])
    assert bad.exit_code == 2  # bad arguments: could not run
    assert "F16" in bad.stderr


@pytest.fixture
def harness_server(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    store = open_store(tmp_path / "serve.db")
    app = create_app(Settings(db=store.path), store)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", store
    server.should_exit = True
    thread.join(5)


def test_codes_from_the_scan_back_a_classrecord_filed_by_the_client(start_vendor, harness_server, tmp_path: Path) -> None:
    """The whole flow: the vendor's QR is scanned (sign-in, sign-out), then its client files the classrecord with the codes."""
    base, store = harness_server
    vendor = start_vendor()
    signin = simulate_scan(store, vendor.qr_text(), STUNUM, insecure_http=True)
    signout = simulate_scan(store, vendor.qr_text(), STUNUM, logout=True, insecure_http=True)
    assert signin.verdict == signout.verdict == "passed"
    received = [s["code"] for s in vendor.vendor.scans]  # what the vendor's callback got, and will file
    assert received == [signin.code.code, signout.code.code]
    enrolment = enrol(store, "yxc", "A0001", tmp_path / "keys")
    client = Client(base, Signer.from_dir(tmp_path / "keys"))
    replies = dict(file_training(client, enrolment.vendor.platnum, STUNUM, received[0], received[1]))
    assert {op: r["errorcode"] for op, r in replies.items() if not op.startswith("imageup")} == {
        "coach": 0,
        "student": 0,
        "classrecord": 0,
    }, replies
    assert codes.find(store, received[0]).record_key is not None  # the code now backs that record (D-YXC-LOGININFO)
    # A classrecord whose logininfo the province never issued is refused, naming the rule.
    forged = Client(base, Signer.from_dir(tmp_path / "keys"))
    refused = dict(file_training(forged, "A0001", STUNUM, "0" * 32, None, seed=1))
    assert refused["classrecord"]["errorcode"] != 0
    assert "logininfo" in json.dumps(refused["classrecord"], ensure_ascii=False)
