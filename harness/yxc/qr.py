"""The training QR a timing terminal shows (000 附件一): make a conforming one, check any one.

    https://jpfw.gdcd.gov.cn/m/c?redirect_uri={urlencoded callback URL}&timestamp={seconds}&callback={urlencoded param}

The seed's ``×tamp`` is OCR-mangled ``&timestamp``. Every outcome names the requirement id and the clause it
enforces; where the seed is silent the decision id (specs/decisions.yaml) is named too.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, quote, urlsplit

from harness.conformance import catalogue
from harness.conformance.model import Requirement
from harness.conformance.validity import host_problem
from harness.errors import ConfigError

QR_BASE = "https://jpfw.gdcd.gov.cn/m/c"
MAX_BYTES = 255  # 000 附件一 3 (不得超过255字节)
MIN_PIXELS = 150  # 000 附件一 2 (像素不低于 150px * 150px)
VALID_SECONDS = 300  # 000 附件一 3 timestamp (二维码 5 分钟内有效)
FUTURE_SKEW = {"strict": 30, "tolerant": 120}  # D-YXC-QR-TIMESTAMP
PARAM_ORDER = ("redirect_uri", "timestamp", "callback")

OutcomeStatus = Literal["passed", "failed", "skipped"]


# The rules of 000 附件一 (and 2.1.1 for the callback address), as the requirement catalogue states them; this order
# is the order checks run in.
QR_REQUIREMENT_IDS = (
    "YXC-QR-SYMBOLOGY",
    "YXC-QR-PIXELS",
    "YXC-QR-BYTES",
    "YXC-QR-URL",
    "YXC-QR-REDIRECT-HTTPS",
    "YXC-QR-REDIRECT-DOMAIN",
    "YXC-QR-REDIRECT-NOQUERY",
    "YXC-QR-TIMESTAMP",
    "YXC-QR-CALLBACK",
)
REQUIREMENTS: tuple[Requirement, ...] = tuple(catalogue.by_id("yxc")[rid] for rid in QR_REQUIREMENT_IDS)
REQUIREMENT_BY_ID = {r.id: r for r in REQUIREMENTS}


@dataclass(frozen=True)
class QrOutcome:
    requirement: str
    clause: str
    status: OutcomeStatus
    message: str = ""

    def __str__(self) -> str:
        return f"{self.status.upper():7} {self.requirement} [{self.clause}] {self.message}".rstrip()


@dataclass
class QrReport:
    """The outcome of every QR requirement, plus what was decoded (for the simulator and the callback role)."""

    source: Literal["text", "image"]
    text: str | None = None
    redirect_uri: str | None = None
    callback: str | None = None
    timestamp: int | None = None
    outcomes: dict[str, QrOutcome] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def findings(self) -> list[QrOutcome]:
        return [o for o in self.outcomes.values() if o.status == "failed"]

    def _set(self, requirement: str, status: OutcomeStatus, message: str = "") -> None:
        req = REQUIREMENT_BY_ID[requirement]
        clause = f"{req.clause}; {req.decision}" if req.decision and status == "failed" else req.clause
        self.outcomes[requirement] = QrOutcome(requirement, clause, status, message)

    def passed(self, requirement: str, message: str = "") -> None:
        self._set(requirement, "passed", message)

    def failed(self, requirement: str, message: str) -> None:
        self._set(requirement, "failed", message)

    def skipped(self, requirement: str, message: str) -> None:
        self._set(requirement, "skipped", message)


# --- making ------------------------------------------------------------------------------------------------------------
def make_text(redirect_uri: str, callback: str, timestamp: int | None = None) -> str:
    """The QR content for one scan; both values percent-encoded with nothing left unencoded (D-YXC-QR-URL-SHAPE)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"{QR_BASE}?redirect_uri={quote(redirect_uri, safe='')}&timestamp={ts}&callback={quote(callback, safe='')}"


def make_png(text: str, box_size: int = 8, border: int = 4) -> bytes:
    """A PNG of ``text`` as a QR Code; box size is raised until the symbol is at least 150 px (000 附件一 2)."""
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border)
    data = text.encode("utf-8")
    qr.add_data(data)
    try:
        qr.make(fit=True)
    except (ValueError, qrcode.exceptions.DataOverflowError):  # past version 40: "Invalid version (was 41 …)"
        raise ConfigError(
            f"the QR content is {len(data):,} bytes, too long for a QR Code (at most 2,331 bytes at error correction M): "
            "shorten the callback or redirect URI"
        ) from None
    modules = qr.modules_count
    qr.box_size = max(box_size, -(-MIN_PIXELS // modules))
    out = io.BytesIO()
    qr.make_image().save(out, format="PNG")
    return out.getvalue()


# --- checking ----------------------------------------------------------------------------------------------------------
_PCT_ONLY = re.compile(r"^(?:[A-Za-z0-9\-._~]|%[0-9A-Fa-f]{2})*$")  # unreserved characters and %XX: fully encoded
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _is_dns_name(host: str) -> bool:
    # D-YXC-QR-DOMAIN: RFC 1123 labels (public-name rules are validity.host_problem's).
    host = host.rstrip(".")
    if not host or len(host) > 253:
        return False
    labels = host.split(".")
    return all(_LABEL.match(label) for label in labels) and not labels[-1].isdigit()


def check_text(
    text: str,
    *,
    now: float | None = None,
    profile: str = "strict",
    allow_insecure_http: bool = False,
    report: QrReport | None = None,
) -> QrReport:
    """Check the QR content (000 附件一 3). ``allow_insecure_http`` waives HTTPS and domain (a developer's loopback run)."""
    report = report or QrReport(source="text")
    report.text = text
    if report.source == "text":
        report.skipped("YXC-QR-SYMBOLOGY", "content given as text: no image to check")
        report.skipped("YXC-QR-PIXELS", "content given as text: no image to check")
    raw = text.encode("utf-8")
    if len(raw) > MAX_BYTES:
        report.failed("YXC-QR-BYTES", f"content is {len(raw)} bytes, more than {MAX_BYTES}")
    else:
        report.passed("YXC-QR-BYTES", f"{len(raw)} bytes")

    url_problems: list[str] = []
    params: dict[str, str] = {}
    raw_values: dict[str, str] = {}
    base, sep, query = text.partition("?")
    if base != QR_BASE and not (profile == "tolerant" and base.lower() == QR_BASE):
        url_problems.append(f"must start with {QR_BASE}? (got {base[:60]!r})")
    if not sep:
        url_problems.append("has no query")
    if "#" in query:
        url_problems.append("has a fragment")
        query = query.split("#", 1)[0]
    names: list[str] = []
    for pair in query.split("&") if query else []:
        name, eq, value = pair.partition("=")
        names.append(name)
        if not eq:
            url_problems.append(f"parameter {name!r} has no '='")
            continue
        raw_values.setdefault(name, value)
    for name in names:
        if names.count(name) > 1 and f"parameter {name!r} appears more than once" not in url_problems:
            url_problems.append(f"parameter {name!r} appears more than once")
    unknown = [n for n in names if n not in PARAM_ORDER]
    if unknown:
        url_problems.append(f"unknown parameter(s) {', '.join(repr(u) for u in unknown)} (only {', '.join(PARAM_ORDER)})")
    missing = [n for n in PARAM_ORDER if n not in raw_values]
    if missing:
        url_problems.append(f"missing {', '.join(missing)}")
    if not missing and not unknown and profile == "strict" and tuple(names) != PARAM_ORDER:
        url_problems.append(f"parameters must be in the order {'&'.join(PARAM_ORDER)} (got {'&'.join(names)})")
    for name in ("redirect_uri", "callback"):
        value = raw_values.get(name)
        # Strict: "urlencode 过的" means every reserved character is %-encoded, so the value survives any URL parser.
        if value is not None and profile == "strict" and not _PCT_ONLY.match(value.replace("+", "%20")):
            url_problems.append(f"{name} is not fully URL-encoded (reserved characters left as is)")
    # D-YXC-QR-DECODING: application/x-www-form-urlencoded decoding, as Java's URLEncoder and Python's urlencode write it.
    params = {k: v for k, v in parse_qsl(query, keep_blank_values=True)}
    if url_problems:
        report.failed("YXC-QR-URL", "the content " + "; ".join(url_problems))
    else:
        report.passed("YXC-QR-URL", "https://jpfw.gdcd.gov.cn/m/c?redirect_uri=…&timestamp=…&callback=…")

    _check_redirect(report, params.get("redirect_uri"), allow_insecure_http)
    _check_timestamp(report, raw_values.get("timestamp"), now, profile)
    callback = params.get("callback")
    if callback is None:
        report.failed("YXC-QR-CALLBACK", "callback is missing")
    elif callback == "":
        report.failed("YXC-QR-CALLBACK", "callback is empty")
    else:
        report.callback = callback
        report.passed("YXC-QR-CALLBACK", f"callback present ({len(callback)} characters decoded)")
    return report


def _check_redirect(report: QrReport, redirect: str | None, allow_insecure_http: bool) -> None:
    ids = ("YXC-QR-REDIRECT-HTTPS", "YXC-QR-REDIRECT-DOMAIN", "YXC-QR-REDIRECT-NOQUERY")
    if not redirect:
        for rid in ids:
            report.failed(rid, "redirect_uri is missing or empty")
        return
    report.redirect_uri = redirect
    try:
        parts = urlsplit(redirect)
        host = parts.hostname or ""
        _ = parts.port  # raises on a malformed port
    except ValueError as exc:
        for rid in ids:
            report.failed(rid, f"redirect_uri {redirect!r} is not a URL: {exc}")
        return
    waived = "waived by --allow-insecure-http: a development run, not valid for certification"
    if parts.scheme == "https":
        report.passed("YXC-QR-REDIRECT-HTTPS", f"https://{parts.netloc}")
    elif allow_insecure_http and parts.scheme == "http":
        report.skipped("YXC-QR-REDIRECT-HTTPS", f"{parts.scheme}:// {waived}")
    else:
        report.failed("YXC-QR-REDIRECT-HTTPS", f"redirect_uri decodes to {redirect!r}, not an https:// URL")
    # 000 2.1.1 有效域名,不支持IP地址 (D-YXC-QR-DOMAIN): a public DNS name, never an IP, localhost, *.local or one label.
    problem = host_problem(host) if host else "redirect_uri has no host"
    if problem is None and not _is_dns_name(host):
        problem = f"{host!r} is not a domain name of RFC 1123 labels"
    if problem is None:
        report.passed("YXC-QR-REDIRECT-DOMAIN", host)
    elif allow_insecure_http:
        report.skipped("YXC-QR-REDIRECT-DOMAIN", f"{problem}: {waived}")
    else:
        report.failed("YXC-QR-REDIRECT-DOMAIN", f"redirect_uri's host: {problem}")
    if parts.query or redirect.endswith("?"):
        report.failed("YXC-QR-REDIRECT-NOQUERY", f"redirect_uri carries its own query {parts.query!r}")
    elif parts.fragment:
        report.failed("YXC-QR-REDIRECT-NOQUERY", f"redirect_uri carries a fragment {parts.fragment!r}")
    else:
        report.passed("YXC-QR-REDIRECT-NOQUERY", "no query")


def _check_timestamp(report: QrReport, value: str | None, now: float | None, profile: str) -> None:
    rid = "YXC-QR-TIMESTAMP"
    if value is None or value == "":
        report.failed(rid, "timestamp is missing")
        return
    if not value.isascii() or not value.isdigit():
        report.failed(rid, f"timestamp {value!r} is not a whole number of seconds")
        return
    if len(value) >= 13:  # D-YXC-QR-TIMESTAMP: milliseconds are the common mistake; seconds have 10 digits until 2286
        report.failed(rid, f"timestamp {value} looks like milliseconds; the seed says seconds (秒)")
        return
    ts = int(value)
    report.timestamp = ts
    clock = time.time() if now is None else now
    age = clock - ts
    if age > VALID_SECONDS:
        report.failed(rid, f"timestamp {ts} is {int(age)} s old; a QR is valid for {VALID_SECONDS} s and must be refreshed")
    elif -age > FUTURE_SKEW[profile]:
        report.failed(rid, f"timestamp {ts} is {int(-age)} s in the future (allowed skew {FUTURE_SKEW[profile]} s)")
    else:
        report.passed(rid, f"{int(age)} s old")


def decode_image(data: bytes, report: QrReport, profile: str = "strict") -> str | None:
    """Decode with zxing-cpp and check symbology and size (000 附件一 1, 2); returns the content, or None."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        report.failed("YXC-QR-SYMBOLOGY", f"not a readable image: {exc}")
        return None
    width, height = image.size
    symbols = zxingcpp.read_barcodes(image.convert("L"))
    if not symbols:
        report.failed("YXC-QR-SYMBOLOGY", f"no symbol could be decoded in the {width}×{height} image")
        return None
    qr = [s for s in symbols if s.format == zxingcpp.BarcodeFormat.QRCode]
    if not qr:
        report.failed("YXC-QR-SYMBOLOGY", f"the image holds {', '.join(str(s.format) for s in symbols)}, not a QR Code")
        return None
    symbol = qr[0]
    report.passed("YXC-QR-SYMBOLOGY", f"QR Code ({len(qr)} found)")
    corners = [symbol.position.top_left, symbol.position.top_right, symbol.position.bottom_right, symbol.position.bottom_left]
    sym_w = max(c.x for c in corners) - min(c.x for c in corners)
    sym_h = max(c.y for c in corners) - min(c.y for c in corners)
    # D-YXC-QR-PIXELS: strict measures the symbol itself (a big canvas around a tiny code does not help a scanner).
    if profile == "strict":
        size_ok, what = sym_w >= MIN_PIXELS and sym_h >= MIN_PIXELS, f"symbol {sym_w}×{sym_h} px (image {width}×{height})"
    else:
        size_ok, what = width >= MIN_PIXELS and height >= MIN_PIXELS, f"image {width}×{height} px (symbol {sym_w}×{sym_h})"
    if size_ok:
        report.passed("YXC-QR-PIXELS", what)
    else:
        report.failed("YXC-QR-PIXELS", f"{what}: less than {MIN_PIXELS}×{MIN_PIXELS} px")
    raw = bytes(symbol.bytes)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        report.failed("YXC-QR-URL", "the symbol's bytes are not UTF-8 text")
        return None


def check_image(data: bytes, *, now: float | None = None, profile: str = "strict", allow_insecure_http: bool = False) -> QrReport:
    report = QrReport(source="image")
    text = decode_image(data, report, profile)
    if text is None:
        for req in REQUIREMENTS:
            if req.id not in report.outcomes:
                report.skipped(req.id, "no QR content could be decoded")
        return report
    return check_text(text, now=now, profile=profile, allow_insecure_http=allow_insecure_http, report=report)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")


def check_source(source: str) -> None:
    """Refuse, before anything runs, a QR source named as an image file that is not there (a bad argument: exit 2)."""
    if source.lower().startswith(("http://", "https://")) or Path(source).is_file():
        return
    if source.lower().endswith(IMAGE_SUFFIXES):
        raise ConfigError(f"QR image {source} does not exist")


def check(source: str, *, now: float | None = None, profile: str = "strict", allow_insecure_http: bool = False) -> QrReport:
    """Check a QR given as its text or as the path of an image file (anything that is not an http(s) URL and exists)."""
    if not source.lower().startswith(("http://", "https://")):
        if Path(source).is_file():
            return check_image(Path(source).read_bytes(), now=now, profile=profile, allow_insecure_http=allow_insecure_http)
        check_source(source)
    return check_text(source, now=now, profile=profile, allow_insecure_http=allow_insecure_http)
