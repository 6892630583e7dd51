"""The store on PostgreSQL: the same interface as :class:`harness.store.Store`, for several processes on one database.

Callers keep writing the SQL they write for SQLite (``?`` placeholders, ``INSERT ... ON CONFLICT``); this module
translates each statement text once (cached) and keeps the differences in one small, explicit dialect layer:

- ``?`` → ``%s`` (and a literal ``%`` → ``%%``); the column name ``user``, a reserved word here, is quoted;
- DDL types: ``INTEGER`` → ``BIGINT``, ``INTEGER PRIMARY KEY [AUTOINCREMENT]`` → an identity column, ``REAL`` →
  ``DOUBLE PRECISION``, ``BLOB`` → ``BYTEA``; ``WITHOUT ROWID`` is dropped;
- ``INSERT OR IGNORE`` → ``ON CONFLICT DO NOTHING``; ``INSERT OR REPLACE`` → an upsert on the table's primary key;
  the two-argument scalar ``MAX(a, b)`` → ``GREATEST(a, b)``; ``last_insert_rowid()`` → ``lastval()``;
- an ``INSERT`` into a table with an identity column gets ``RETURNING`` it, which is the cursor's ``lastrowid``;
- ``BEGIN IMMEDIATE`` (a write transaction) takes one transaction-level advisory lock, so write transactions are
  serialised across every process on the database exactly as SQLite serialises them; a plain ``BEGIN`` (a read
  snapshot) is ``REPEATABLE READ``; ``PRAGMA`` is a no-op.

Parameters are sent untyped (``int``, ``bool``, ``float`` as text of unknown type), so the server infers their type
from the column they meet, as SQLite's dynamic typing does (a device id sent as 5 matches the TEXT ``'5'``); a
``NUMERIC`` result (``SUM``/``AVG`` of integers) comes back as ``int`` or ``float``. Rows behave like ``sqlite3.Row``
(``row["name"]``, ``row[0]``, ``dict(row)``). Driver errors are raised as the ``sqlite3`` exception classes
(``IntegrityError`` for a unique violation, ...), which is the store's error contract for every caller.

Connections come from one ``psycopg_pool.ConnectionPool`` per handle and are held (the handle's own, each
:meth:`PostgresStore.new_connection`), so no statement pays a checkout. A connection found lost (a database restart,
a dropped connection) is given back to the pool and replaced: a read outside a transaction, or a transaction's first
round trip (its deferred BEGIN travels with it), is sent once more on the fresh connection; anything else, a COMMIT
above all, fails with the store's error and is never sent again (docs/scale-out.md, "Connections").

``data_version()``: a one-row table ``harness_changes`` counts committed transactions that wrote anything other
than journal rows (bumped just before ``COMMIT``, under the write lock, so it costs no extra contention). Each
handle subtracts its own bumps, so, as SQLite's ``PRAGMA data_version``, it moves only when *another* handle or
process committed a change; caches compare it before trusting themselves.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness.errors import StoreError
from harness.store import AddColumn, Schema, Store, StoreUnreachable

try:  # optional: `pip install 'harness[postgres]'`
    import psycopg
    from psycopg import pq
    from psycopg.adapt import Dumper, Loader
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]
try:
    from psycopg_pool import ConnectionPool
except ImportError:  # pragma: no cover - exercised only without the extra
    ConnectionPool = None  # type: ignore[assignment,misc]

log = logging.getLogger("harness.store")

URL_SCHEMES = ("postgresql://", "postgres://")
WRITE_LOCK = 0x4841524E  # "HARN": the advisory lock every write transaction holds until it ends
TAKE_LOCK = f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"
CHANGES_DDL = "CREATE TABLE IF NOT EXISTS harness_changes (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)"
BUMP = "UPDATE harness_changes SET n = n + 1 WHERE id = 1"
# A commit returns once PostgreSQL has it, not once it is on disk: what the SQLite store promises (WAL with
# synchronous=NORMAL): an acknowledged exchange survives any crash of harness itself (kill -9 included); a crash of the
# database server or the machine may lose the last fraction of a second. A URL that names synchronous_commit (e.g.
# ?options=-csynchronous_commit%3Don, fsync per commit) keeps its own setting.
SYNCHRONOUS_COMMIT = "SET synchronous_commit = off"
STATEMENT_CACHE = 4096  # translated statement texts kept per handle
# The pool of each handle: its own connection, the Journal's writer thread and short-lived readers (the console) take
# from it; connections above POOL_MIN are closed after ten idle minutes. A caller waits at most POOL_TIMEOUT seconds
# for one (then fails with a one-line store error); a handle whose connection was lost waits RECONNECT_WAIT seconds for
# a fresh one, blocking its thread (the event loop, for the serving handle), so that an exchange during an outage
# fails soon, in the platform's envelope, while one after a restart or a dropped connection gets through.
POOL_MIN, POOL_MAX = 1, 4
POOL_TIMEOUT = 30.0
RECONNECT_WAIT = 2.0
# Once a reconnect found the database unreachable, the handle's later reconnects fail at once for this long, and then
# one caller waits again: during an outage the event loop is blocked RECONNECT_WAIT seconds in every
# RECONNECT_WAIT + UNREACHABLE_HOLD, not that long for every request in the queue (a hundred heartbeats in flight took
# 200 s to be refused), and devices hear the platform's system error soon enough to fall back to offline mode.
UNREACHABLE_HOLD = 3.0


def is_url(target: object) -> bool:
    """Whether ``target`` names a PostgreSQL database (a ``postgresql://`` URL) rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def redact(url: str) -> str:
    """The URL without its password, for messages and banners."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# -- rows ----------------------------------------------------------------------------------------------------------------
class Row:
    """A result row that behaves like ``sqlite3.Row``: by position, by (case-insensitive) name, ``dict(row)``."""

    __slots__ = ("_keys", "_values")

    def __init__(self, values: Sequence[Any], keys: dict[str, int]) -> None:
        self._values = values
        self._keys = keys

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._keys[key]]
            except KeyError:
                lowered = key.lower()
                for name, i in self._keys.items():
                    if name.lower() == lowered:
                        return self._values[i]
                raise IndexError(f"No item with that key: {key!r}") from None
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._keys)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return tuple(self._values) == tuple(other._values) and self.keys() == other.keys()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._values))

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._keys, self._values, strict=False))!r})"


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    description = cursor.description or ()
    keys = {column.name: i for i, column in enumerate(description)}
    return lambda values: Row(values, keys)


# -- the dialect layer ---------------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[A-Za-z_][A-Za-z0-9_]*|\?|%|\s+|.", re.S)
_INSERT = re.compile(r"^\s*INSERT\s+(?:OR\s+(IGNORE|REPLACE)\s+)?INTO\s+([A-Za-z_][A-Za-z0-9_]*)\s*(\(([^)]*)\))?", re.I)
_PK_INTEGER = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?\b", re.I)


@dataclass(frozen=True)
class Statement:
    """One statement text, translated: ``kind`` is read/write/journal/ddl/begin/snapshot/commit/rollback/pragma."""

    sql: str
    kind: str
    returning: bool = False  # the translation ends with RETURNING <identity column>: its value is lastrowid
    plain: str = ""  # the same without RETURNING (for executemany)


def _words(sql: str) -> list[str]:
    return [t for t in _TOKEN.findall(sql) if not t.isspace()]


def _rewrite_tokens(sql: str, *, ddl: bool) -> str:
    """Placeholders, ``%``, the reserved ``user``, ``MAX(a, b)``, ``last_insert_rowid()``, and (DDL) the types."""
    tokens = _TOKEN.findall(sql)
    out: list[str] = []
    previous = ""
    for i, token in enumerate(tokens):
        upper = token.upper()
        if token[0] in "'\"":  # a literal or quoted name: kept, but the driver reads % everywhere
            out.append(token.replace("%", "%%"))
        elif token == "?":
            out.append("%s")
        elif token == "%":
            out.append("%%")
        elif upper == "USER" and previous != ".":
            out.append('"user"')
        elif upper == "MAX" and _two_arguments(tokens, i + 1):
            out.append("GREATEST")
        elif upper == "LAST_INSERT_ROWID":
            out.append("lastval")
        elif ddl and upper == "INTEGER":
            out.append("BIGINT")
        elif ddl and upper == "REAL":
            out.append("DOUBLE PRECISION")
        elif ddl and upper == "BLOB":
            out.append("BYTEA")
        else:
            out.append(token)
        if not token.isspace():
            previous = token
    return "".join(out)


def _two_arguments(tokens: list[str], start: int) -> bool:
    """Whether the call whose name ends before ``tokens[start]`` has two or more top-level arguments (scalar MAX)."""
    i = start
    while i < len(tokens) and tokens[i].isspace():
        i += 1
    if i >= len(tokens) or tokens[i] != "(":
        return False
    depth = 0
    for token in tokens[i:]:
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth == 0:
                return False
        elif token == "," and depth == 1:
            return True
    return False


def translate(sql: str, catalog: Catalog) -> Statement:
    """The PostgreSQL form of one SQLite-dialect statement (see the module's docstring for what changes)."""
    words = _words(sql)
    first = words[0].upper() if words else ""
    second = words[1].upper() if len(words) > 1 else ""
    if first == "PRAGMA":
        return Statement("", "pragma")
    if first == "BEGIN":
        if second in ("IMMEDIATE", "EXCLUSIVE"):
            return Statement(f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})", "begin")
        return Statement("BEGIN ISOLATION LEVEL REPEATABLE READ", "snapshot")
    if first in ("COMMIT", "END"):
        return Statement("COMMIT", "commit")
    if first == "ROLLBACK" and second != "TO":
        return Statement("ROLLBACK", "rollback")
    if first in ("CREATE", "ALTER", "DROP"):
        text = _PK_INTEGER.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
        text = re.sub(r"\)\s*WITHOUT\s+ROWID\s*$", ")", text, flags=re.I)
        return Statement(_rewrite_tokens(text, ddl=True), "ddl")
    if first not in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
        return Statement(_rewrite_tokens(sql, ddl=False), "read")
    text = sql
    insert = _INSERT.match(sql)
    table = insert.group(2).lower() if insert else ""
    if insert and insert.group(1):
        text = re.sub(r"^(\s*INSERT)\s+OR\s+(?:IGNORE|REPLACE)\b", r"\1", sql, count=1, flags=re.I)
        if insert.group(1).upper() == "IGNORE":
            text += " ON CONFLICT DO NOTHING"
        else:
            columns = [c.strip() for c in (insert.group(4) or "").split(",") if c.strip()]
            key = catalog.primary_key(table)
            if not columns or not key:
                raise StoreError(f"INSERT OR REPLACE INTO {table} needs its column list and a primary key on PostgreSQL")
            others = [c for c in columns if c.lower() not in key]
            action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others) if others else "DO NOTHING"
            text += f" ON CONFLICT ({', '.join(key)}) {action}"
    kind = "journal" if table == "journal" else "write"
    plain = _rewrite_tokens(text, ddl=False)
    identity = catalog.identity(table) if insert else None
    if identity and not re.search(r"\bRETURNING\b", sql, re.I):
        return Statement(f"{plain} RETURNING {identity}", kind, returning=True, plain=plain)
    return Statement(plain, kind, plain=plain)


class Catalog:
    """What translation needs to know of the tables: identity columns and primary keys (read after migrations)."""

    def __init__(self, identity: dict[str, str] | None = None, primary_keys: dict[str, list[str]] | None = None) -> None:
        self._identity = identity or {}
        self._primary_keys = primary_keys or {}

    def identity(self, table: str) -> str | None:
        return self._identity.get(table)

    def primary_key(self, table: str) -> list[str]:
        return self._primary_keys.get(table, [])

    @classmethod
    def read(cls, raw: Any) -> Catalog:
        identity = {
            r[0]: r[1]
            for r in raw.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND is_identity = 'YES'"
            ).fetchall()
        }
        keys: dict[str, list[str]] = {}
        for table, column in raw.execute(
            "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name"
            " AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name"
            " WHERE tc.table_schema = current_schema() AND tc.constraint_type = 'PRIMARY KEY' ORDER BY kcu.ordinal_position"
        ).fetchall():
            keys.setdefault(table, []).append(column)
        return cls(identity, keys)


# -- the driver seam -----------------------------------------------------------------------------------------------------
def _errors() -> list[tuple[type[BaseException], type[BaseException]]]:
    return [
        (psycopg.IntegrityError, sqlite3.IntegrityError),
        (psycopg.OperationalError, sqlite3.OperationalError),
        (psycopg.DataError, sqlite3.DataError),
        (psycopg.Error, sqlite3.OperationalError),
    ]


def _as_sqlite_error(exc: BaseException) -> BaseException:
    for theirs, ours in _errors():
        if isinstance(exc, theirs):
            return ours(" ".join(str(exc).split()))
    return exc


if psycopg is not None:

    class _UntypedInt(Dumper):
        """``int``/``bool`` as text of unknown type: the server types it from its context (SQLite-like)."""

        oid = 0

        def dump(self, obj: Any) -> bytes:
            return b"%d" % int(obj)

    class _UntypedFloat(Dumper):
        oid = 0

        def dump(self, obj: Any) -> bytes:
            return repr(float(obj)).encode()

    class _NumberLoader(Loader):
        """NUMERIC (SUM or AVG of integers) as ``int`` when whole, else ``float``: what SQLite returns."""

        def load(self, data: Any) -> int | float:
            value = Decimal(bytes(data).decode())
            return int(value) if value == value.to_integral_value() else float(value)


class Result:
    """What ``conn.execute`` returns: ``fetchone``/``fetchall``/iteration, ``rowcount`` and ``lastrowid``."""

    __slots__ = ("_cursor", "_first", "lastrowid", "rowcount")

    def __init__(self, cursor: Any, statement: Statement) -> None:
        self._cursor = cursor
        self._first: Any = None
        self.rowcount = cursor.rowcount if cursor is not None else -1
        self.lastrowid: int | None = None
        if statement.returning and cursor is not None:
            row = cursor.fetchone()
            self.lastrowid = row[0] if row is not None else None

    def fetchone(self) -> Any:
        if self._cursor is None or self._cursor.description is None:
            return None
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        if self._cursor is None or self._cursor.description is None:
            return []
        return self._cursor.fetchall()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


_NOTHING = Statement("", "pragma")


class PgConnection:
    """A DB-API-like connection speaking the callers' SQLite dialect (``execute``/``executemany``/``in_transaction``,
    ``BEGIN IMMEDIATE``/``COMMIT``/``ROLLBACK`` as statements): what :meth:`Store.transaction` yields and
    :meth:`Store.new_connection` returns.

    It holds one raw connection of its store's pool (no checkout per statement or per group commit) and gives it back
    on :meth:`close`. When that connection turns out to be lost (the server restarted, a proxy or
    ``pg_terminate_backend`` dropped it), it goes back to the pool (which discards it) and the next statement takes
    a fresh one; what is retried on the fresh one, and what is not, is :meth:`_send`'s rule (docs/scale-out.md)."""

    def __init__(self, store: PostgresStore, raw: Any) -> None:
        self._store = store
        self.raw: Any = raw  # None once lost (or closed): the next statement takes a fresh one from the pool
        self._closed = False
        self._dirty = False  # this transaction wrote something other than journal rows: bump harness_changes
        self._pending: list[tuple[str, Sequence[Any]]] = []  # writes handed to execute_writes, not yet sent
        self._begin_pending = False  # BEGIN IMMEDIATE seen, not yet sent: it goes with the first statement after it

    @property
    def in_transaction(self) -> bool:
        raw = self.raw
        return self._begin_pending or (raw is not None and raw.info.transaction_status != pq.TransactionStatus.IDLE)

    # -- the connection and its loss ----------------------------------------------------------------------------
    def _live(self) -> Any:
        raw = self.raw
        if raw is None:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            raw = self.raw = self._store._reconnect()
        return raw

    def _lost(self) -> bool:
        """After a driver error: whether it lost the connection. If so the connection goes back to the pool (which
        replaces it) and this transaction's state is forgotten: the server ended the transaction with the session."""
        raw = self.raw
        if raw is not None and not raw.closed:
            return False  # the statement failed; the connection is fine
        self.raw = None
        self._pending, self._begin_pending, self._dirty = [], False, False
        if raw is not None:
            log.warning("store %s: connection lost; the next statement takes a new one", self._store.path)
            self._store._give_back(raw)
        return True

    def _send(self, send: Callable[[Any], Any], *, again: bool) -> Any:
        """``send(raw)`` on the live connection. When the connection turns out to be lost, ``send`` runs once more on
        a fresh one only if ``again``: a read outside any transaction, or the first round trip of a transaction (its
        BEGIN travels with it, so nothing of it can have committed). Anything else (a statement inside a transaction
        already under way, a COMMIT, a write outside a transaction) fails: its transaction is gone, or its outcome
        unknown, and the caller answers an error rather than risk a double write."""
        begin = self._begin_pending
        try:
            return send(self._live())
        except psycopg.Error as exc:
            if not self._lost() or not again:
                raise _as_sqlite_error(exc) from exc
        self._begin_pending = begin  # the transaction starts again on the fresh connection
        try:
            return send(self._live())
        except psycopg.Error as exc:
            self._lost()
            raise _as_sqlite_error(exc) from exc

    def _begin_in(self, cursor: Any) -> None:
        """Inside a pipeline: the deferred BEGIN and the write lock, ahead of the statement that follows them (one
        round trip for the three instead of two)."""
        if self._begin_pending:
            self._begin_pending = False
            cursor.execute("BEGIN")
            cursor.execute(TAKE_LOCK)

    # -- statements ---------------------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        statement = self._store.statement(sql)
        kind = statement.kind
        if self._pending and kind not in ("commit", "rollback"):  # commit() sends them itself
            self._send_pending()  # what was written before is seen by this statement, in order
        if kind == "pragma":
            return Result(None, _NOTHING)
        if kind == "begin":  # sent with the next statement (see _begin_in)
            if self.in_transaction:  # as before: PostgreSQL warns, the lock is taken
                self._send(lambda raw: raw.execute(statement.sql), again=False)
            else:
                self._begin_pending = True
            self._dirty = False
            return Result(None, _NOTHING)
        if kind == "commit":
            self.commit()
            return Result(None, _NOTHING)
        if kind == "rollback":
            self.rollback()
            return Result(None, _NOTHING)
        if kind == "snapshot":
            self._send(lambda raw: raw.execute(statement.sql), again=not self.in_transaction)
            self._dirty = False
            return Result(None, _NOTHING)
        args = tuple(params)

        def send(raw: Any) -> Result:
            cursor = raw.cursor()
            if self._begin_pending:
                with raw.pipeline():
                    self._begin_in(raw.cursor())
                    cursor.execute(statement.sql, args)
            else:
                cursor.execute(statement.sql, args)
            return Result(cursor, statement)

        result = self._send(send, again=self._begin_pending or (kind == "read" and not self.in_transaction))
        if kind in ("write", "ddl"):
            self._wrote()
            if kind == "ddl" and not self._store._migrating:  # a table made at run time (the test CA's): learn its keys
                self._store._read_catalog(self.raw)
        return result

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Result:
        statement = self._store.statement(sql)
        args = [tuple(r) for r in rows]

        def send(raw: Any) -> Any:
            if self._begin_pending:
                self._begin_pending = False
                raw.execute(f"BEGIN; {TAKE_LOCK}")
            cursor = raw.cursor()
            cursor.executemany(statement.plain or statement.sql, args)
            return cursor

        cursor = self._send(send, again=self._begin_pending)
        if statement.kind in ("write", "ddl"):
            self._wrote()
        return Result(cursor, _NOTHING)

    def insert_ids(self, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        """Insert every row (pipelined) and return their identity values, in order."""
        statement = self._store.statement(sql)
        if not statement.returning:
            raise StoreError(f"no identity column to return for: {sql[:60]}")
        args = [tuple(r) for r in rows]

        def send(raw: Any) -> list[int]:
            ids: list[int] = []
            cursor = raw.cursor()
            with raw.pipeline():
                self._begin_in(raw.cursor())
                cursor.executemany(statement.sql, args, returning=True)
            while True:
                ids.append(cursor.fetchone()[0])
                if not cursor.nextset():
                    break
            return ids

        ids = self._send(send, again=self._begin_pending)
        if statement.kind == "write":
            self._wrote()
        return ids

    def execute_writes(self, writes: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Statements whose results nobody reads (a unit of work's writes, harness/unit_of_work.py): kept until the
        next statement or the commit, then sent in one pipeline, so that a group commit of N exchanges costs one round
        trip for all their writes instead of one each. A failing one fails that next statement or the commit, which
        rolls the whole transaction back (the group commit's contract: nothing of the batch is committed)."""
        if not self.in_transaction:
            for sql, params in writes:
                self.execute(sql, params)
            return
        self._pending.extend(writes)

    def _send_pending(self) -> None:
        pending, self._pending = self._pending, []

        def send(raw: Any) -> None:
            with raw.pipeline():
                cursor = raw.cursor()
                self._begin_in(cursor)
                for sql, params in pending:
                    statement = self._store.statement(sql)
                    cursor.execute(statement.plain or statement.sql, tuple(params))

        self._send(send, again=self._begin_pending)
        if any(self._store.statement(sql).kind in ("write", "ddl") for sql, _ in pending):
            self._wrote()

    def _wrote(self) -> None:
        if self.in_transaction:
            self._dirty = True
        else:  # autocommit statement: count it on its own
            self._send(lambda raw: raw.execute(BUMP), again=False)
            self._store._own_changes += 1

    def commit(self) -> None:
        if self._begin_pending and not self._pending:  # nothing was sent: nothing to commit
            self._begin_pending = self._dirty = False
            return
        if self._pending:
            try:
                self._send_pending()
            except sqlite3.Error:  # the transaction is aborted: end it, so the handle stays usable
                self.rollback()
                raise
        raw = self.raw
        try:
            if raw is None:  # lost, and with it the transaction (nothing was committed)
                return
            # A COMMIT whose connection is lost may or may not have committed: never sent again (again=False).
            if self._dirty:
                self._send(lambda raw: raw.execute(BUMP + "; COMMIT"), again=False)
                self._store._own_changes += 1
            elif raw.info.transaction_status != pq.TransactionStatus.IDLE:
                self._send(lambda raw: raw.execute("COMMIT"), again=False)
        finally:
            self._dirty = False

    def rollback(self) -> None:
        self._dirty = False
        self._pending = []
        self._begin_pending = False
        raw = self.raw
        if raw is None or raw.closed:  # lost: the server rolled the transaction back when the session ended
            self._lost()
            return
        if raw.info.transaction_status != pq.TransactionStatus.IDLE:
            try:
                raw.execute("ROLLBACK")
            except psycopg.Error as exc:
                if not self._lost():
                    raise _as_sqlite_error(exc) from exc

    def close(self) -> None:
        """Give the connection back to the pool (rolled back there if a transaction is still open)."""
        raw, self.raw, self._closed = self.raw, None, True
        self._pending, self._begin_pending, self._dirty = [], False, False
        if raw is not None:
            self._store._give_back(raw)


class PostgresStore(Store):
    """A handle on a PostgreSQL store (``postgresql://user@host:port/db``). Thread-safe: one connection and a lock,
    as :class:`Store`; :meth:`new_connection` gives a background writer its own. Every raw connection comes from one
    :class:`psycopg_pool.ConnectionPool` per handle (:data:`POOL_MIN` to :data:`POOL_MAX` connections)."""

    dialect = "postgresql"

    def __init__(self, url: str, *, schemas: Sequence[Schema]) -> None:
        if psycopg is None or ConnectionPool is None:
            raise StoreError("a postgresql:// store needs psycopg and psycopg-pool: pip install 'harness[postgres]'")
        self.url = url
        self.path = redact(url)  # type: ignore[assignment]  # what messages name (never the password)
        self.schemas = tuple(schemas)
        self._lock = threading.RLock()
        self._on_state_change: list[Callable[[], None]] = []
        self._statements: dict[str, Statement] = {}
        self._catalog = Catalog()
        self._migrating = True  # DDL of migrations: the catalog is read once, after them
        self._own_changes = 0  # committed changes counted in harness_changes by this handle's connections
        self._unreachable_until = 0.0  # monotonic time until which a reconnect fails at once (UNREACHABLE_HOLD)
        self._pool = self._open_pool()
        try:
            self._conn = self.new_connection()
            if not self._table_exists("harness_changes"):  # once per database (a reopen writes nothing)
                with self.transaction(changes_state=False) as conn:
                    conn.execute(CHANGES_DDL)
                    conn.execute("INSERT INTO harness_changes (id, n) VALUES (1, 0) ON CONFLICT DO NOTHING")
            self._read_catalog()
            self.migrate()
        except BaseException:
            if getattr(self, "_conn", None) is not None:
                self._conn.close()
            self._pool.close()
            raise

    def _open_pool(self) -> Any:
        """The handle's pool. One direct connection first, so that a wrong URL or an unreachable server is told at once
        in one line (the pool would retry in the background until its timeout)."""
        try:
            psycopg.connect(self.url).close()
        except psycopg.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {' '.join(str(exc).split())}") from None
        return ConnectionPool(
            self.url,
            kwargs={"autocommit": True, "row_factory": _row_factory},
            configure=self._configure,
            check=ConnectionPool.check_connection,  # an idle connection found dead when taken is replaced
            min_size=POOL_MIN,
            max_size=POOL_MAX,
            num_workers=1,
            name=f"harness-store-{id(self):x}",
            open=True,
        )

    def _configure(self, raw: Any) -> None:
        """Every new connection of the pool: durability, and the adapters of the dialect layer."""
        if "synchronous_commit" not in self.url:  # SQLite's durability (WAL, synchronous=NORMAL): see SYNCHRONOUS_COMMIT
            raw.execute(SYNCHRONOUS_COMMIT)
        raw.adapters.register_dumper(int, _UntypedInt)
        raw.adapters.register_dumper(bool, _UntypedInt)
        raw.adapters.register_dumper(float, _UntypedFloat)
        raw.adapters.register_loader("numeric", _NumberLoader)

    def _take(self, timeout: float) -> Any:
        """A raw connection from the pool (checked alive), waiting at most ``timeout`` seconds."""
        try:
            return self._pool.getconn(timeout=timeout)
        except psycopg.Error as exc:  # PoolTimeout, PoolClosed: the database is unreachable (or the handle closed)
            raise StoreUnreachable(f"store {self.path} unreachable: {' '.join(str(exc).split())}") from None

    def _reconnect(self) -> Any:
        """A fresh connection for a handle whose connection was lost: :meth:`_take` with RECONNECT_WAIT, failing at once
        while an earlier attempt found the database unreachable less than UNREACHABLE_HOLD seconds ago."""
        wait = self._unreachable_until - time.monotonic()
        if wait > 0:
            raise StoreUnreachable(f"store {self.path} unreachable (the next attempt to reconnect in {wait:.1f} s)")
        try:
            raw = self._take(RECONNECT_WAIT)
        except sqlite3.OperationalError:
            self._unreachable_until = time.monotonic() + UNREACHABLE_HOLD
            raise
        self._unreachable_until = 0.0
        return raw

    def _give_back(self, raw: Any) -> None:
        """Back to the pool: kept when healthy and idle, rolled back when in a transaction, replaced when lost."""
        try:
            self._pool.putconn(raw)
        except Exception:  # noqa: BLE001 - a connection the pool no longer knows (closed pool): just close it
            raw.close()

    def new_connection(self) -> PgConnection:  # type: ignore[override]
        """A connection of the handle's pool for a background writer; :meth:`PgConnection.close` gives it back."""
        return PgConnection(self, self._take(POOL_TIMEOUT))

    def statement(self, sql: str) -> Statement:
        """The translation of ``sql`` (made once per statement text)."""
        statement = self._statements.get(sql)
        if statement is None:
            if len(self._statements) >= STATEMENT_CACHE:  # texts built per call (IN lists) must not grow it for ever
                self._statements.clear()
            statement = self._statements[sql] = translate(sql, self._catalog)
        return statement

    def _read_catalog(self, raw: Any = None) -> None:
        with self._lock:
            self._catalog = Catalog.read(raw if raw is not None else self._conn._live())
            self._statements.clear()

    def migrate(self) -> dict[str, int]:
        self._migrating = True
        try:
            stored = super().migrate()
        finally:
            self._migrating = False
        self._read_catalog()
        return stored

    def _table_exists(self, name: str) -> bool:
        return self._conn.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0]

    def _add_column(self, conn: Any, column: AddColumn) -> None:
        conn.execute(f"ALTER TABLE {column.table} ADD COLUMN IF NOT EXISTS {column.column} {column.declaration}")

    def insert_many(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]]) -> list[int]:
        return conn.insert_ids(sql, rows)

    def data_version(self) -> int:
        """Committed changes by other handles and processes (see the module docstring): moves when they commit."""
        with self._lock:
            n = self._conn.execute("SELECT n FROM harness_changes WHERE id = 1").fetchone()[0]
            return int(n) - self._own_changes

    def execute_pragma(self, pragma: str) -> None:
        """SQLite connection settings mean nothing here."""

    def tables(self) -> list[str]:
        """The tables of the store's schema (for ``harness store copy``)."""
        rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        return [r[0] for r in rows]

    def reset_identities(self) -> None:
        """After rows were copied in with their ids: move every identity past the largest id (``store copy``)."""
        with self.transaction() as conn:
            for table, column in self._catalog._identity.items():
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
                )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._pool.close()
