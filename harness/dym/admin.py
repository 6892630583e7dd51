"""DYM reference data: the integrating applications (D-DYM-SIGN). Called by `harness dym …` and by tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from harness import sealing
from harness.dym import ids, personal
from harness.errors import ConfigError
from harness.journal import now_iso
from harness.store import Store

KINDS = ("enterprise", "platform", "regulator")


@dataclass(frozen=True)
class App:
    app_id: str
    kind: str
    name: str
    secret: str


SECRET_PURPOSE = "dym-app-secret"  # the associated data an application's sealed HMAC secret is bound to


def app_secret(store: Store, stored: Any) -> str:
    """An application's HMAC secret as stored (sealed), opened."""
    return sealing.unseal(store, stored, SECRET_PURPOSE).decode("utf-8")


def add_app(
    store: Store, name: str, *, kind: str = "enterprise", uscc: str | None = None, app_id: str | None = None, secret: str | None = None
) -> App:
    """Register an application; its secret is returned here once (and kept in the store, sealed, to verify signatures)."""
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {', '.join(KINDS)}")
    if uscc is not None and (problem := ids.uscc_problem(uscc)):
        raise ConfigError(f"uscc {uscc}: {problem}")
    app_id = app_id or ("DYM" + secrets.token_hex(8).upper())
    if not (8 <= len(app_id) <= 32 and app_id.isascii() and app_id.isalnum()):
        raise ConfigError("app_id is 8-32 letters and digits")
    secret = secret or secrets.token_urlsafe(32)
    with store.transaction() as conn:
        if conn.execute("SELECT 1 FROM dym_apps WHERE app_id = ?", (app_id,)).fetchone():
            raise ConfigError(f"app {app_id} already exists")
        conn.execute(
            "INSERT INTO dym_apps (app_id, kind, name, uscc, secret, created) VALUES (?, ?, ?, ?, ?, ?)",
            # the secret and the enterprise's unified code sealed at rest (harness/sealing.py, harness/dym/personal.py)
            (app_id, kind, name, personal.seal(store, "dym_apps", "uscc", uscc), sealing.seal(store, secret, SECRET_PURPOSE), now_iso()),
        )
    return App(app_id, kind, name, secret)
