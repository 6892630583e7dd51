"""The store: SQLite (WAL) by default.

Only this module talks to the database driver, and it knows nothing of the tables it holds: each owner (the journal,
the PKI, each platform's state, the certification sessions) exports its :class:`Schema`, and the composition root
(:func:`harness.schema.open_store`) hands them all to :class:`Store`. SQL elsewhere uses ``?`` placeholders and
portable types; :mod:`harness.store_pg` is the PostgreSQL backend with the same interface (``postgresql://`` URLs).

Migrations are versioned per owner in ``schema_versions (owner, version)``: opening a store runs, for each owner, only
the steps above its stored version, each step in its own transaction together with the version it reaches; a store
that is up to date runs no DDL at all. Stores made before versions existed already hold the tables: version 1 steps
use ``IF NOT EXISTS`` and :class:`AddColumn` skips a column that is already there.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import StoreError


class StoreUnreachable(sqlite3.OperationalError, StoreError):
    """The database cannot be reached at all (a PostgreSQL store during an outage): every exchange fails alike until it
    answers again, so the server logs the outage, not each exchange's traceback. A ``sqlite3.OperationalError``, as
    every engine's statement errors are (harness.store_pg)."""


@dataclass(frozen=True)
class AddColumn:
    """``ALTER TABLE table ADD COLUMN column declaration``, skipped when the column exists (``PRAGMA table_info``)."""

    table: str
    column: str
    declaration: str

    def apply(self, conn: sqlite3.Connection) -> None:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({self.table})")}
        if self.column not in columns:
            conn.execute(f"ALTER TABLE {self.table} ADD COLUMN {self.column} {self.declaration}")


@dataclass(frozen=True)
class Migrate:
    """A data migration inside a step: ``fn(conn, store)`` runs in the step's transaction, after the statements before
    it (e.g. values an older version kept in clear are sealed). Portable SQL only, as everywhere."""

    fn: Callable[[Any, Any], None]


@dataclass(frozen=True)
class Step:
    """One migration: the statements (SQL text, :class:`AddColumn` or :class:`Migrate`) that take an owner's tables to
    ``version``."""

    version: int
    statements: Sequence[str | AddColumn | Migrate]


@dataclass(frozen=True)
class Schema:
    """An owner's tables as numbered steps, oldest first (versions strictly increasing, starting at 1)."""

    owner: str
    steps: Sequence[Step]

    def __post_init__(self) -> None:
        versions = [s.version for s in self.steps]
        if not versions or versions[0] < 1 or any(b <= a for a, b in zip(versions, versions[1:], strict=False)):
            raise StoreError(f"schema {self.owner!r}: step versions must start at 1 or above and increase, not {versions}")

    @property
    def version(self) -> int:
        return self.steps[-1].version


VERSIONS_DDL = "CREATE TABLE IF NOT EXISTS schema_versions (owner TEXT PRIMARY KEY, version INTEGER NOT NULL)"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Store:
    """A handle on the store. Thread-safe: one connection guarded by a lock (writes are short).

    ``dialect`` names the engine (``sqlite``; :class:`harness.store_pg.PostgresStore` is ``postgresql``): callers that
    tune the engine itself (WAL checkpoints) look at it; SQL itself stays portable."""

    dialect = "sqlite"

    def __init__(self, path: Path | str, *, schemas: Sequence[Schema]) -> None:
        """Open (creating if need be) the store at ``path`` and bring every schema in ``schemas`` up to date.

        Callers normally use :func:`harness.schema.open_store`, which passes every owner's schema."""
        self.path = Path(path)
        self.schemas = tuple(schemas)
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = _connect(self.path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        # Called after every state-changing commit through this handle (data_version() reports the others'): caches
        # of the store's state forget themselves here.
        self._on_state_change: list[Callable[[], None]] = []
        self.migrate()

    def migrate(self) -> dict[str, int]:
        """Run the steps each schema has above its stored version; returns the versions now stored, per owner."""
        stored = self.versions()
        if all(stored.get(s.owner, 0) >= s.version for s in self.schemas):
            return stored  # up to date: no DDL, no write transaction
        for schema in self.schemas:
            for step in schema.steps:
                if step.version <= stored.get(schema.owner, 0):
                    continue
                try:
                    with self.transaction() as conn:
                        conn.execute(VERSIONS_DDL)
                        row = conn.execute("SELECT version FROM schema_versions WHERE owner = ?", (schema.owner,)).fetchone()
                        if row is not None and row[0] >= step.version:  # another process migrated meanwhile
                            stored[schema.owner] = row[0]
                            continue
                        for statement in step.statements:
                            if isinstance(statement, AddColumn):
                                self._add_column(conn, statement)
                            elif isinstance(statement, Migrate):
                                statement.fn(conn, self)
                            else:
                                conn.execute(statement)
                        conn.execute(
                            "INSERT INTO schema_versions (owner, version) VALUES (?, ?)"
                            " ON CONFLICT (owner) DO UPDATE SET version = excluded.version",
                            (schema.owner, step.version),
                        )
                except sqlite3.Error as exc:
                    raise StoreError(f"store {self.path}: migrating {schema.owner} to version {step.version} failed: {exc}") from exc
                stored[schema.owner] = step.version
        if self.dialect == "sqlite" and str(self.path) != ":memory:":
            # A step may have rewritten rows (e.g. sealed values kept in clear): move the new pages into the database
            # file now, so that the old ones do not stay there until the next automatic checkpoint.
            with self._lock:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return stored

    def versions(self) -> dict[str, int]:
        """The schema version stored per owner (empty for a store made before versions existed, until it is opened)."""
        with self._lock:
            if not self._table_exists("schema_versions"):
                return {}
            return {row[0]: row[1] for row in self._conn.execute("SELECT owner, version FROM schema_versions").fetchall()}

    # -- what differs per engine (harness.store_pg.PostgresStore overrides these) ------------------------------------
    def _table_exists(self, name: str) -> bool:
        return self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None

    def _add_column(self, conn: Any, column: AddColumn) -> None:
        column.apply(conn)

    def insert_many(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """Run one ``INSERT`` per row on ``conn`` (inside the caller's write transaction); returns the new rows' ids.
        SQLite: ids are consecutive inside one write transaction (one writer at a time), so the batch ends at
        last_insert_rowid()."""
        conn.executemany(sql, rows)
        last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        return list(range(last - len(rows) + 1, last + 1))

    def new_connection(self) -> sqlite3.Connection:
        """A separate connection, for a background writer thread."""
        return _connect(self.path)

    def on_state_change(self, fn: Callable[[], None]) -> None:
        """``fn()`` runs after every commit through this handle that changes state (not journal rows, tokens, used
        tickets, nor a unit of work its platform's caches already reflect): a cache empties itself there."""
        self._on_state_change.append(fn)

    @contextmanager
    def transaction(self, *, changes_state: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction. ``changes_state=False`` (journal rows only) calls no :meth:`on_state_change`."""
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
                    for fn in self._on_state_change:
                        fn()

    def data_version(self) -> int:
        """PRAGMA data_version: moves whenever another connection or process commits (this handle's own commits call
        :meth:`on_state_change` instead). Together they tell a cache whether anything changed since it was filled."""
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def execute(self, sql: str, params: Sequence[Any] = (), *, changes_state: bool = True) -> int:
        """Run one write in its own transaction; returns lastrowid. ``changes_state=False``: a write no cache of the
        store's state depends on (a token, a used ticket)."""
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
        """A connection setting (e.g. ``wal_autocheckpoint=0``) on the store's own connection (SQLite only)."""
        with self._lock:
            self._conn.execute(f"PRAGMA {pragma}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()
