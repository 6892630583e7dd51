"""The DYM request signature (D-DYM-SIGN), the capacity verification code (D-DYM-CAPACITY-CODE) and the waybill QR
content (D-DYM-WAYBILL-QR). A vendor's client needs only :func:`sign` (or :func:`signed`) and its app secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import struct
from collections.abc import Mapping
from typing import Any

import rfc8785

TIME_WINDOW = 300  # seconds either side (D-DYM-TIMESTAMP)
NONCE_MEMORY = 600  # seconds a nonce is remembered (D-DYM-NONCE)
CAPACITY_STEP = 300  # seconds per capacity code (D-DYM-CAPACITY-CODE)
QR_PREFIX = "DYMW1"
DRIVER_QR = "DYM1:D:"
ENTERPRISE_QR = "DYM1:E:"
TAG_BYTES = 16


def _text(value: Any) -> str:
    """A field's value in the signing string: strings as sent, booleans true/false, integers in decimal, other numbers
    in their RFC 8785 (ECMAScript) form (12500.0 and 1.25e4 → 12500, 12500.50 → 12500.5), arrays and objects as RFC 8785
    JSON (plain sorted JSON for what RFC 8785 refuses, e.g. integers beyond 2**53)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    try:
        return rfc8785.dumps(value).decode("utf-8")
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def signing_string(body: Mapping[str, Any]) -> str:
    """Every field but ``sign`` whose value is not null or "", sorted by ASCII name, as ``k=v`` joined with ``&``."""
    return "&".join(f"{k}={_text(body[k])}" for k in sorted(body) if k != "sign" and body[k] is not None and body[k] != "")


class _Sent(str):
    """A number's JSON text exactly as the request wrote it (``12500.0``, ``1.25e4``)."""


def signing_string_as_sent(raw: bytes | str, body: Mapping[str, Any]) -> str | None:
    """The signing string with every top-level number written as the request wrote it, when that differs from the
    designed string (a client that signed ``weight_kg=12500.0`` where the design writes RFC 8785's ``12500``);
    None when no number's text differs or ``raw`` is not a JSON object (D-DYM-SIGN, tolerant reading)."""
    try:
        texts = json.loads(raw, parse_float=_Sent, parse_int=_Sent)
    except (ValueError, TypeError):
        return None
    if not isinstance(texts, dict):
        return None
    fields = {k: texts[k] if isinstance(texts.get(k), _Sent) else v for k, v in body.items()}
    if all(not isinstance(v, _Sent) or v == _text(body[k]) for k, v in fields.items() if k in body):
        return None
    return signing_string(fields)


def sign(body: Mapping[str, Any], secret: str) -> str:
    """Lowercase hex HMAC-SHA256 of the signing string under the app's secret (D-DYM-SIGN)."""
    return hmac_hex(signing_string(body), secret)


def hmac_hex(text: str, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def signed(body: Mapping[str, Any], app_id: str, secret: str, *, now: float, nonce: str | None = None) -> dict[str, Any]:
    """``body`` with app_id, timestamp, nonce and sign added: what a vendor's client sends."""
    out = {**body, "app_id": app_id, "timestamp": int(now), "nonce": nonce or secrets.token_hex(12)}
    out["sign"] = sign(out, secret)
    return out


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def capacity_code(key: str, now: float, *, offset: int = 0) -> str:
    """Six digits: RFC 4226 dynamic truncation of HMAC-SHA256(key, counter floor(now / 300)); ``key`` is
    :func:`token_hash` of the driver token (what the platform keeps; the driver's app computes it from its token)."""
    counter = int(now) // CAPACITY_STEP + offset
    digest = hmac.new(key.encode("ascii"), struct.pack(">Q", counter), hashlib.sha256).digest()
    at = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[at : at + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def capacity_code_ok(key: str, code: str, now: float) -> bool:
    """The current or the previous window's code."""
    return any(hmac.compare_digest(capacity_code(key, now, offset=o), code) for o in (0, -1))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def waybill_qr(key: bytes, app_id: str, waybill_no: str, exp: int) -> str:
    """DYMW1.<app_id>.<waybill_no>.<exp>.<tag> (D-DYM-WAYBILL-QR)."""
    head = f"{QR_PREFIX}.{app_id}.{waybill_no}.{exp}"
    return f"{head}.{_b64(hmac.new(key, head.encode('ascii'), hashlib.sha256).digest()[:TAG_BYTES])}"


def open_waybill_qr(key: bytes, content: str, now: float) -> tuple[tuple[str, str] | None, str]:
    """((app_id, waybill_no), "") for a valid, unexpired waybill QR, else (None, why)."""
    parts = content.split(".") if isinstance(content, str) else []
    if len(parts) != 5 or parts[0] != QR_PREFIX or not parts[3].isdigit() or not content.isascii():
        return None, "not a waybill QR (DYMW1.<app_id>.<waybill_no>.<exp>.<tag>)"
    expected = waybill_qr(key, parts[1], parts[2], int(parts[3]))
    if not hmac.compare_digest(expected.encode("ascii"), content.encode("ascii")):
        return None, "the waybill QR's tag does not verify: it was not issued by this platform or was altered"
    if int(parts[3]) < now:
        return None, "the waybill QR has expired (waybill/qr issues a fresh one)"
    return (parts[1], parts[2]), ""


def driver_of_qr(content: str) -> str | None:
    """The driver code a driver code QR holds (DYM1:D:<driver_code>), or None."""
    if isinstance(content, str) and content.startswith(DRIVER_QR):
        code = content[len(DRIVER_QR) :]
        if len(code) == 20 and code.startswith("DYMD") and all(c in "0123456789ABCDEF" for c in code[4:]):
            return code
    return None
