"""Settings: every default lives here and only here (CLI flags and environment override them)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from harness import limits
from harness.errors import ConfigError

PROFILES = ("strict", "tolerant")
MIN_CONTROL_TOKEN = 16


def default_db_path() -> Path:
    """The embedded store: ``$HARNESS_DB``, else ``~/.local/share/harness/harness.db``."""
    env = os.environ.get("HARNESS_DB")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "harness" / "harness.db"


def default_store() -> str | None:
    """``$HARNESS_STORE``: where `harness serve` and `harness store` keep the store (a ``postgresql://`` URL or a
    SQLite path); None: the SQLite file of :func:`default_db_path` (``--db`` / ``$HARNESS_DB``)."""
    return os.environ.get("HARNESS_STORE") or None


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    db: Path = dataclasses.field(default_factory=default_db_path)
    # The store when it is not the SQLite file ``db``: a ``postgresql://`` URL (harness/store_pg.py) or a path.
    store: str | None = dataclasses.field(default_factory=default_store, repr=False)  # repr: a URL may hold a password
    # uvicorn worker processes of `harness serve` (more than one needs a PostgreSQL store: SQLite serves one process).
    workers: int = 1
    # tolerant (default): every form any reading of the seed allows is accepted, and what only the file's own reading
    # refuses is journaled as a SHOULD naming the decision; strict (opt-in) refuses those too. Verdicts are the same.
    profile: str = "tolerant"
    # Validate the harness's own replies against the spec; tests turn it on so drift is caught.
    validate_responses: bool = False
    # Signing window for YXC ts (D-YXC-TS-WINDOW).
    ts_window_seconds: int = 180
    # Sign-in code lifetime (D-YXC-CODE-TTL).
    code_ttl_seconds: int = 12 * 3600
    # Largest request body accepted (the biggest YXC file is 5 MiB; multipart adds framing).
    max_body_bytes: int = 8 * 1024 * 1024
    # A request body must arrive in full within this many seconds (a client announcing 1,000 bytes and sending 5 is
    # answered malformed, not waited for): harness.limits.BODY_TIMEOUT_SECONDS.
    body_timeout_seconds: float = limits.BODY_TIMEOUT_SECONDS
    # Idle keep-alive connections stay open this long: above any heartbeat interval (DUDU devices: 5 s), or a device
    # races the server's close on every beat (uvicorn's default is 5 s).
    keep_alive_seconds: int = 75
    # The control API (/_harness/…) and the console (/) answer loopback clients; other addresses only with
    # ``Authorization: Bearer <control_token>`` (harness/control_gate.py). None: closed to other addresses.
    control_token: str | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}")
        if self.workers < 1:
            raise ConfigError(f"workers must be 1 or more, not {self.workers}")
        if self.control_token is not None and len(self.control_token) < MIN_CONTROL_TOKEN:
            raise ConfigError(f"the control token must be at least {MIN_CONTROL_TOKEN} characters (e.g. `openssl rand -hex 16`)")

    @property
    def store_target(self) -> str:
        """What :func:`harness.schema.open_store` opens: ``store`` when set, else the SQLite file ``db``."""
        return self.store or str(self.db)

    @property
    def strict(self) -> bool:
        return self.profile == "strict"

    def update(self, **changes: object) -> Settings:
        """A copy with the given values; ``None`` means "keep the current value"."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
