"""The store: SQLite (WAL) by default.

Only this module talks to the database driver. Platforms register their tables as DDL in ``MIGRATIONS`` order
through :func:`register_schema`; SQL elsewhere uses ``?`` placeholders and portable types so that a PostgreSQL
backend can replace this class without touching callers.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.errors import StoreError

_SCHEMAS: dict[str, tuple[str, ...]] = {}


def register_schema(owner: str, *statements: str) -> None:
    """Declare the tables a module needs; applied (idempotently) whenever a store opens."""
    _SCHEMAS[owner] = statements


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Store:
    """A handle on the store. Thread-safe: one connection guarded by a lock (writes are short)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self.generation = 0  # bumped by every state-changing commit through this handle (see version())
        self.migrate()

    def migrate(self) -> None:
        # Import the modules that declare tables so a bare Store() is complete.
        import harness.journal  # noqa: F401
        import harness.pki  # noqa: F401
        from harness.platforms import import_state_modules

        import_state_modules()

        with self.transaction() as conn:
            for statements in _SCHEMAS.values():
                for statement in statements:
                    conn.execute(statement)

    def new_connection(self) -> sqlite3.Connection:
        """A separate connection, for a background writer thread."""
        return _connect(self.path)

    @contextmanager
    def transaction(self, *, changes_state: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction. ``changes_state=False`` (journal rows only) leaves :attr:`generation` alone."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
                if changes_state:
                    self.generation += 1

    def data_version(self) -> int:
        """PRAGMA data_version: moves whenever another connection or process commits (this handle's own commits move
        :attr:`generation` instead). Together they tell a cache whether anything changed since it was filled."""
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def execute(self, sql: str, params: Sequence[Any] = (), *, changes_state: bool = True) -> int:
        """Run one write in its own transaction; returns lastrowid. ``changes_state=False``: a write no cache keyed on
        :attr:`generation` depends on (a token, a used ticket)."""
        with self.transaction(changes_state=changes_state) as conn:
            return conn.execute(sql, params).lastrowid or 0

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.transaction() as conn:
            conn.executemany(sql, rows)

    def execute_pragma(self, pragma: str) -> None:
        """A connection setting (e.g. ``wal_autocheckpoint=0``) on the store's own connection."""
        with self._lock:
            self._conn.execute(f"PRAGMA {pragma}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
