"""The mini-program's scan, played by the harness (000 附件二), and the grading of a callback reply.

On a scan the province issues a sign-in (or sign-out) code, stores it (so a later classrecord's ``logininfo`` /
``logoutinfo`` sent to ``harness serve`` is matched against it) and POSTs ``{code, expirationtime, stunum, callback}``
to the vendor's ``redirect_uri`` with ``callback`` echoed byte for byte. The vendor answers the general reply.
The callback role (``harness certify yxc-callback``) grades replies with the same functions.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.errors import ConfigError, HarnessError
from harness.store import Store
from harness.yxc import codes, qr

# 000 附件二 返回码定义
CODE_TABLE: dict[int, str] = {
    0: "执行成功/数据上传成功",
    1: "执行失败",
    100: "请求的服务/资源不存在",
    200: "数据格式错误,无法正确解析",
    201: "时间戳重复或错误",
    202: "证书无法通过验证",
}
CLAUSE_REPLY = "000 附件二 2 (通用应答)"
CLAUSE_ERRORCODE_INT = "000 附件二 2 (errorcode 类型 int)"
CLAUSE_TABLE = "000 附件二 返回码定义"
CLAUSE_HTTP = "000 附件二 2; D-HTTP-STATUS"
JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class ReplyFinding:
    requirement: str
    clause: str
    message: str

    def __str__(self) -> str:
        return f"{self.requirement} [{self.clause}] {self.message}"


@dataclass
class Exchange:
    """One POST to the vendor's callback and what came back (the evidence of a check)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int | None = None
    reply_headers: dict[str, str] = field(default_factory=dict)
    reply_body: bytes = b""
    document: Any = None
    elapsed_ms: float = 0.0

    def request_evidence(self) -> dict[str, Any]:
        return {"method": self.method, "url": self.url, "headers": self.request_headers, "body": _text(self.request_body)}

    def reply_evidence(self) -> dict[str, Any]:
        return {"status": self.status, "headers": self.reply_headers, "body": _text(self.reply_body)}

    @property
    def errorcode(self) -> Any:
        return self.document.get("errorcode") if isinstance(self.document, dict) else None


def _text(raw: bytes, limit: int = 2000) -> str:
    text = raw.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "…"


class Unreachable(HarnessError):
    """The callback URL cannot be reached at all (DNS, refused connection, TLS handshake, timeout)."""


def tls_verify(ca_bundle: Path | str | None) -> ssl.SSLContext | bool:
    """Trust the system store, or only the vendor's private CA when a bundle is given (staging systems)."""
    if ca_bundle is None:
        return True
    if not Path(ca_bundle).is_file():
        raise ConfigError(f"CA bundle {ca_bundle} does not exist")
    return ssl.create_default_context(cafile=str(ca_bundle))


def post(
    client: httpx.Client, url: str, body: bytes, content_type: str | None = JSON_TYPE, extra_headers: dict[str, str] | None = None
) -> Exchange:
    """POST raw bytes; parse the reply as JSON when it is JSON (the grading decides what that means)."""
    headers = {"Content-Type": content_type} if content_type else {}
    headers.update(extra_headers or {})
    exchange = Exchange("POST", url, headers, body)
    try:
        response = client.post(url, content=body, headers=headers)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
            raise Unreachable(f"cannot reach {url}: its TLS certificate is not trusted (a private CA needs --ca-bundle): {exc}") from exc
        raise Unreachable(f"cannot reach {url}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise Unreachable(f"{url} did not answer in time: {exc}") from exc
    exchange.status = response.status_code
    exchange.reply_headers = dict(response.headers)
    exchange.reply_body = response.content
    exchange.elapsed_ms = response.elapsed.total_seconds() * 1000
    try:
        exchange.document = json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        exchange.document = None
    return exchange


def grade_reply(exchange: Exchange, profile: str = "strict") -> list[ReplyFinding]:
    """Findings against the general reply (000 附件二 2): HTTP 200, a JSON object {errorcode:int, message, data}, a known code."""
    findings: list[ReplyFinding] = []
    if exchange.status != 200:
        findings.append(
            ReplyFinding("YXC-CB-HTTP-STATUS", CLAUSE_HTTP, f"HTTP {exchange.status}; every reply is HTTP 200 with the general reply")
        )
    doc = exchange.document
    if not isinstance(doc, dict):
        what = "not JSON (or not UTF-8)" if doc is None else f"a JSON {type(doc).__name__}, not an object"
        findings.append(ReplyFinding("YXC-CB-REPLY-SHAPE", CLAUSE_REPLY, f"the reply body is {what}: {_text(exchange.reply_body, 120)!r}"))
        return findings
    # D-YXC-CALLBACK-REPLY: strict needs all three fields; tolerant lets message and data be absent.
    required = ("errorcode", "message", "data") if profile == "strict" else ("errorcode",)
    missing = [k for k in required if k not in doc]
    problems = [f"missing {', '.join(missing)}"] if missing else []
    if "message" in doc and doc["message"] is not None and not isinstance(doc["message"], str):
        problems.append(f"message is {type(doc['message']).__name__}, not a string")
    if "data" in doc and doc["data"] is not None and not isinstance(doc["data"], dict):
        problems.append(f"data is {type(doc['data']).__name__}, not an object")
    if problems:
        findings.append(
            ReplyFinding("YXC-CB-REPLY-SHAPE", CLAUSE_REPLY + "; D-YXC-CALLBACK-REPLY", "; ".join(problems) + f" in {doc!r}"[:300])
        )
    if "errorcode" in doc:
        code = doc["errorcode"]
        if isinstance(code, bool) or not isinstance(code, int):
            findings.append(
                ReplyFinding("YXC-CB-ERRORCODE-INT", CLAUSE_ERRORCODE_INT, f"errorcode is {code!r} ({type(code).__name__}), not an int")
            )
        elif code not in CODE_TABLE:
            findings.append(
                ReplyFinding("YXC-CB-ERRORCODE-TABLE", CLAUSE_TABLE, f"errorcode {code} is not in the table (0, 1, 100, 200, 201, 202)")
            )
    return findings


def callback_body_bytes(body: Any) -> bytes:
    """UTF-8 JSON, non-ASCII kept as is so ``callback`` goes back exactly as the QR carried it (000 附件二 1)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- the simulator -----------------------------------------------------------------------------------------------------
@dataclass
class ScanResult:
    qr: qr.QrReport
    code: codes.SignCode | None = None
    exchange: Exchange | None = None
    findings: list[ReplyFinding] = field(default_factory=list)
    error: str = ""

    @property
    def verdict(self) -> str:
        if self.error:
            return "error"
        return "passed" if self.qr.ok and self.exchange is not None and not self.findings else "failed"

    @property
    def exit_code(self) -> int:
        return {"passed": 0, "failed": 1, "error": 2}[self.verdict]


def simulate_scan(
    store: Store,
    qr_source: str,
    stunum: str,
    *,
    logout: bool = False,
    ca_bundle: Path | str | None = None,
    insecure_http: bool = False,
    profile: str = "strict",
    ttl_seconds: int = 12 * 3600,
    timeout: float = 10.0,
) -> ScanResult:
    """Scan one QR as the mini-program: check it, issue and store a code, POST it to the vendor, grade the reply."""
    if len(stunum) != 16:  # 000 附件四 A.6.3.1.1 stunum F16
        raise ConfigError(f"stunum must be 16 characters (F16), got {len(stunum)}")
    report = qr.check(qr_source, profile=profile, allow_insecure_http=insecure_http)
    result = ScanResult(report)
    if not report.ok or report.redirect_uri is None or report.callback is None:
        return result  # the real mini-program refuses such a QR; nothing is posted
    kind = "logout" if logout else "login"
    result.code = codes.issue(store, stunum, kind, ttl_seconds, report.callback, source="simulate-scan")
    body = callback_body_bytes(result.code.callback_body(report.callback))
    with httpx.Client(verify=tls_verify(ca_bundle), timeout=timeout) as client:
        try:
            result.exchange = post(client, report.redirect_uri, body)
        except Unreachable as exc:
            result.error = str(exc)
            return result
    result.findings = grade_reply(result.exchange, profile)
    if not result.findings and result.exchange.errorcode != 0:
        code = result.exchange.errorcode
        result.findings.append(
            ReplyFinding(
                "YXC-CB-ACCEPT-SIGNOUT" if logout else "YXC-CB-ACCEPT-SIGNIN",
                "000 附件二 1; 000 2.1.2 2)",
                f"the vendor refused a valid {'sign-out' if logout else 'sign-in'} scan: errorcode {code} ({CODE_TABLE.get(code, '?')})",
            )
        )
    return result
