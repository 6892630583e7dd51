"""The sign-in/sign-out codes the province (its mini-program backend) issues (000 附件二, 附件三).

A code comes back later in a classrecord as ``logininfo``/``logoutinfo`` (000 附件四 A.6.3.2 #24/#25). The harness
is the platform that issues them: the mini-program simulator and the APP-jump page use this service.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass

from harness.clock import BEIJING  # noqa: F401  (D-TIMEZONE; callers use codes.BEIJING)
from harness.errors import ConfigError
from harness.store import Store

EXPIRATION_FORMAT = "%Y-%m-%d %H:%M:%S"  # 000 附件二 expirationtime yyyy-MM-dd HH:mm:ss


@dataclass(frozen=True)
class SignCode:
    code: str
    kind: str
    stunum: str
    expirationtime: str
    expires_ms: int
    issued_ms: int
    callback: str | None = None
    record_key: str | None = None

    def callback_body(self, callback: str) -> dict[str, str]:
        """The body the province POSTs to the vendor's callback (000 附件二 1)."""
        return {"code": self.code, "expirationtime": self.expirationtime, "stunum": self.stunum, "callback": callback}


def format_expiration(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).strftime(EXPIRATION_FORMAT)


STUNUM_LENGTH = 16  # 000 附件四 A.6.3.1.1 表A.4 stunum 字符型 F16 (统一编号)


def check_stunum(stunum: str) -> None:
    """Refuse a 学员统一编号 that is not 16 characters (F16): a code issued for it could never match a classrecord."""
    if len(stunum) != STUNUM_LENGTH or not stunum.isascii() or not stunum.isalnum():
        raise ConfigError(f"--stunum must be 16 letters or digits (学员统一编号 F16, 000 附件四 表A.4), got {stunum!r} ({len(stunum)})")


def issue(store: Store, stunum: str, kind: str, ttl_seconds: int, callback: str | None = None, source: str = "api") -> SignCode:
    if kind not in ("login", "logout"):
        raise ValueError("kind must be login or logout")
    now = int(time.time() * 1000)
    # Whole seconds: expirationtime has second resolution, and the stored deadline must equal what was sent.
    expires = (now // 1000 + ttl_seconds) * 1000
    code = SignCode(secrets.token_hex(16).upper(), kind, stunum, format_expiration(expires), expires, now, callback)
    store.execute(
        "INSERT INTO yxc_codes (code, kind, stunum, expirationtime, expires_ms, issued_ms, callback, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (code.code, kind, stunum, code.expirationtime, expires, now, callback, source),
    )
    return code


def find(store: Store, code: str) -> SignCode | None:
    row = store.query_one(
        "SELECT code, kind, stunum, expirationtime, expires_ms, issued_ms, callback, record_key FROM yxc_codes WHERE code = ?",
        (code,),
    )
    return SignCode(**dict(row)) if row else None


def bind(store: Store, code: str, record_key: str) -> None:
    """Mark a code as backing one classrecord (D-YXC-LOGININFO)."""
    store.execute("UPDATE yxc_codes SET record_key = ? WHERE code = ? AND record_key IS NULL", (record_key, code))
