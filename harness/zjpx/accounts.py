"""Learning-platform accounts and their tokens (002 §1.1: account + password → acceptToken, valid 2 hours).

Accounts are made by the operator (`harness zjpx account add`); the seed has no registration interface.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from harness import masking
from harness.errors import ConfigError
from harness.store import Store

TOKEN_TTL_MS = 2 * 3600 * 1000  # 002 §1.1.1 token有效期为2小时
_ITERATIONS = 20_000


@dataclass(frozen=True)
class Account:
    account: str
    platform_code: str
    platform_name: str


@dataclass(frozen=True)
class Token:
    token: str
    account: str
    platform_code: str
    issued_ms: int
    expires_ms: int


def _hash(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt.encode("ascii"), _ITERATIONS).hex()


def add_account(store: Store, account: str, password: str, platform_name: str, platform_code: str | None = None) -> Account:
    """Create a learning-platform account; the platform code is a 32-hex UUID unless given (D-ZJPX-UUID32)."""
    if not account or not password:
        raise ConfigError("account and password must not be empty")
    code = platform_code or secrets.token_hex(16)
    salt = secrets.token_hex(8)
    try:
        store.execute(
            "INSERT INTO zjpx_accounts (account, salt, pw_hash, platform_code, platform_name, at) VALUES (?, ?, ?, ?, ?, ?)",
            (account, salt, _hash(password, salt), code, platform_name, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")),
        )
    except sqlite3.IntegrityError:
        raise ConfigError(f"account {account!r} or platform code {code} already exists") from None
    return Account(account, code, platform_name)


def list_accounts(store: Store) -> list[Account]:
    rows = store.query("SELECT account, platform_code, platform_name FROM zjpx_accounts ORDER BY account")
    return [Account(r["account"], r["platform_code"], r["platform_name"]) for r in rows]


# An unknown account is checked against this salt and hash, so it costs the same PBKDF2 as a known one with a wrong
# password: the reply time does not tell which accounts exist.
_DUMMY_SALT = secrets.token_hex(8)
_DUMMY_HASH = _hash(secrets.token_hex(16), _DUMMY_SALT)


def check_password(store: Store, account: str, password: str) -> Account | None:
    """The account, if ``password`` is its password. Constant time: one PBKDF2 and one ``hmac.compare_digest``
    whether or not the account exists."""
    row = store.query_one("SELECT * FROM zjpx_accounts WHERE account = ?", (account,))
    salt, expected = (row["salt"], row["pw_hash"]) if row is not None else (_DUMMY_SALT, _DUMMY_HASH)
    matches = hmac.compare_digest(expected.encode(), _hash(password, salt).encode())
    if row is None or not matches:
        return None
    return Account(row["account"], row["platform_code"], row["platform_name"])


def issue_token(store: Store, account: Account, now_ms: int, ttl_ms: int = TOKEN_TTL_MS) -> Token:
    """A new acceptToken, returned in clear for the reply; the store keeps only its keyed hash (harness.masking), the
    form the journal shows it in."""
    token = Token(secrets.token_hex(16), account.account, account.platform_code, now_ms, now_ms + ttl_ms)
    store.execute(
        "INSERT INTO zjpx_tokens (token, account, platform_code, issued_ms, expires_ms) VALUES (?, ?, ?, ?, ?)",
        (masking.hide(store, token.token), token.account, token.platform_code, token.issued_ms, token.expires_ms),
    )
    return token


def find_token(store: Store, token: str) -> Token | None:
    """The token's record (its ``token`` is the stored keyed hash), looked up by the keyed hash of ``token``."""
    row = store.query_one("SELECT * FROM zjpx_tokens WHERE token = ?", (masking.hide(store, token),))
    return Token(row["token"], row["account"], row["platform_code"], row["issued_ms"], row["expires_ms"]) if row else None
