"""The journal: every request and reply with its verdicts, stored durably as evidence.

Writes go through one background thread that commits in batches (group commit); :meth:`Journal.record` returns
only after the batch holding its exchange is committed, so an acknowledged exchange survives a crash.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from harness import masking
from harness.rules import Verdict
from harness.store import AddColumn, Schema, Step, Store
from harness.unit_of_work import ClaimConflict, UnitOfWork

SCHEMA = Schema(
    "journal",
    [
        Step(
            1,
            [
                # Plain INTEGER PRIMARY KEY: journal rows are never deleted, so ids never repeat without AUTOINCREMENT,
                # whose sqlite_sequence update cost a page in every commit (older stores keep AUTOINCREMENT; both behave
                # the same). Only failed exchanges are indexed by outcome: an index over every row's "held" was another
                # page per commit, and together the two were a fifth of the WAL written per heartbeat.
                """CREATE TABLE IF NOT EXISTS journal (
                id INTEGER PRIMARY KEY,
                at TEXT NOT NULL, platform TEXT NOT NULL, operation TEXT, vendor TEXT,
                method TEXT NOT NULL, path TEXT NOT NULL, query TEXT NOT NULL,
                request_headers TEXT NOT NULL, request_body BLOB, request_size INTEGER NOT NULL, request_sha256 TEXT NOT NULL,
                status INTEGER NOT NULL, reply_body TEXT, code TEXT, outcome TEXT NOT NULL,
                verdicts TEXT NOT NULL, duration_ms REAL NOT NULL)""",
                "CREATE INDEX IF NOT EXISTS journal_vendor ON journal (platform, vendor, operation)",
                "DROP INDEX IF EXISTS journal_outcome",
                "CREATE INDEX IF NOT EXISTS journal_failed ON journal (id) WHERE outcome = 'failed'",
            ],
        ),
        # The certification session an exchange was sent in (its /_session/<id>/ base path) and where it came from
        # ('fuzz': the X-Harness-Origin header harness.fuzz sends; never certification evidence). Only tagged rows are
        # indexed, so untagged traffic pays nothing per commit.
        Step(
            2,
            [
                AddColumn("journal", "session", "TEXT"),
                AddColumn("journal", "origin", "TEXT"),
                "CREATE INDEX IF NOT EXISTS journal_session ON journal (session) WHERE session IS NOT NULL",
            ],
        ),
        # What was meant and what was sent: ``reply_body`` is the reply document (plaintext JSON text, in the form the
        # platform keeps, harness.platform.Platform.journal_form); ``reply_sha256`` is the digest of the bytes that went
        # on the wire when they are not reply_body's UTF-8 (NULL: they are; entry_from_row then computes it, so the
        # hot path neither hashes nor stores it twice), and ``reply_wire`` those bytes (within BODY_KEEP_BYTES) when
        # they cannot be rebuilt from the document (an encrypted or binary reply; a DUDU list snapshot can).
        Step(
            3,
            [
                AddColumn("journal", "reply_sha256", "TEXT"),
                AddColumn("journal", "reply_wire", "BLOB"),
            ],
        ),
        # The resilience-drill fault that answered (or delayed) the exchange, named kind#rule (harness/faults.py), NULL
        # for every ordinary exchange. Not a verdict: a fault is the harness's doing, never the vendor's failure.
        Step(4, [AddColumn("journal", "fault", "TEXT")]),
    ],
)

# The request header that names an exchange's origin, and the values the exchange layers keep (anything else: NULL).
ORIGIN_HEADER = "x-harness-origin"
ORIGINS = ("fuzz",)
# Schemathesis marks its own requests: every generated case carries a test-case id, and the capability probes it sends
# before a run (a GET of the base URL and of ".../schemathesis-probe%5C%1B%01") carry a probe header. The probes pass
# no hook, so harness.fuzz cannot tag them: these headers make such traffic fuzz traffic too.
SCHEMATHESIS_HEADERS = ("x-schemathesis-probe", "x-schemathesis-testcaseid")


def origin_of(headers: dict[str, str]) -> str | None:
    """The journaled origin of a request: ``fuzz`` for X-Harness-Origin: fuzz or a Schemathesis request, else None."""
    value = headers.get(ORIGIN_HEADER)
    if value is not None and (value := value.strip().lower()) in ORIGINS:
        return value
    for name in SCHEMATHESIS_HEADERS:  # a loop, not any(genexpr): this runs for every exchange
        if name in headers:
            return "fuzz"
    return None


# Bodies are kept whole up to this size; larger ones (uploads) keep their head and their SHA-256.
BODY_KEEP_BYTES = 256 * 1024
OUTCOMES = ("held", "failed", "warning")  # warning: only SHOULD verdicts failed (see harness.rules.Verdict)


_second: tuple[int, str] = (0, "")


def now_iso() -> str:
    """UTC now with milliseconds: the one timestamp format of the journal and of stored records. The date and time
    of day are formatted once per second (this runs for every exchange)."""
    global _second
    now = time.time()
    second = int(now)
    if _second[0] != second:
        _second = (second, dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return _second[1] + _MILLIS[int((now - second) * 1000)]


_MILLIS = tuple(f".{ms:03d}+00:00" for ms in range(1000))  # the tail of every timestamp, formatted once


@dataclass(slots=True)  # slots: built and read on every exchange
class Exchange:
    platform: str
    method: str
    path: str
    query: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int = 0
    reply_body: bytes = b""  # the reply document as JSON (UTF-8), in the form the journal keeps
    reply_wire: bytes | None = None  # the bytes sent, when they are not reply_body (see SCHEMA step 3)
    reply_sha256: str | None = None  # of the bytes sent, when they are not reply_body
    operation: str | None = None
    vendor: str | None = None
    code: str | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    at: str = field(default_factory=now_iso)
    duration_ms: float = 0.0
    session: str | None = None  # the certification session of its /_session/<id>/ base path
    origin: str | None = None  # 'fuzz' for harness.fuzz traffic (origin_of)
    # State changes that commit in the same transaction as this row (e.g. a heartbeat's device state): they ride the
    # group commit instead of taking the write lock on the event loop, and are durable exactly when the reply is.
    work: UnitOfWork = field(default_factory=UnitOfWork)
    masker: Any = None  # the platform's harness.masking.SecretMasker (set by the exchange layer or its ExchangeContext)
    request_sha256: str | None = None  # of the bytes received, when the stored body differs (secrets masked)
    headers_lowercase: bool = False  # request_headers came from ASGI, whose header names are lower case
    reply_secret_free: bool = False  # the reply's schema names no secret field (harness.server.fastpath.FastOperation)
    fault: str | None = None  # the drill fault applied to it, kind#rule (harness/faults.py; SCHEMA step 4)

    @property
    def outcome(self) -> str:
        outcome = "held"
        for v in self.verdicts:  # a loop: this runs for every exchange, nearly always over held verdicts only
            if not v.held:
                if v.level == "MUST":
                    return "failed"
                outcome = "warning"
        return outcome

    def row(self) -> tuple[Any, ...]:
        masking.mask_exchange(self)  # secrets become keyed hashes before anything is stored (harness/masking.py)
        return (
            self.at,
            self.platform,
            self.operation,
            self.vendor,
            self.method,
            self.path,
            self.query,
            orjson.dumps(self.request_headers).decode(),  # orjson: a tenth of json.dumps' cost on the hot path
            self.request_body[:BODY_KEEP_BYTES],
            len(self.request_body),
            self.request_sha256 or hashlib.sha256(self.request_body).hexdigest(),
            self.status,
            self.reply_body.decode("utf-8", "replace"),
            self.code,
            self.outcome,
            (b"[%s]" % b",".join(v.json for v in self.verdicts)).decode(),  # held verdicts: JSON made once per rule
            round(self.duration_ms, 3),
            self.session,
            self.origin,
            self.reply_sha256,
            self.reply_wire[:BODY_KEEP_BYTES] if self.reply_wire is not None else None,
            self.fault,
        )

    def sent(self, wire: bytes, document: bytes | None = None, *, keep_wire: bool = False) -> None:
        """Record the reply: ``wire`` went on the wire; ``document`` is the JSON document the journal keeps when it is
        not ``wire`` itself. ``keep_wire``: the wire bytes cannot be rebuilt from the document (an encrypted or binary
        reply), so the journal keeps them too; a journal form (a list kept once, by digest) needs only the digest."""
        self.reply_sha256 = None if document is None or document == wire else hashlib.sha256(wire).hexdigest()
        self.reply_body = wire if document is None else document
        self.reply_wire = wire if keep_wire and document is not None and document != wire else None


INSERT = (
    "INSERT INTO journal (at, platform, operation, vendor, method, path, query, request_headers, request_body,"
    " request_size, request_sha256, status, reply_body, code, outcome, verdicts, duration_ms, session, origin,"
    " reply_sha256, reply_wire, fault)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_STOP = object()


class JournalFeed:
    """Who wants to hear of committed exchanges (the console's live journal, ``harness journal --follow`` in-process).

    The writers (:class:`Journal`'s thread and :class:`LoopGroupCommit`) call :meth:`publish` after a commit only when
    :attr:`subscribers` is non-empty: with nobody listening the hot path pays one attribute test per batch. Each
    subscriber is an asyncio queue on its own loop; it receives one list of summaries per committed batch (dropped,
    never blocking the writer, when the subscriber has fallen :attr:`BACKLOG` batches behind)."""

    BACKLOG = 256

    def __init__(self) -> None:
        self.subscribers: dict[asyncio.Queue[list[dict[str, Any]]], asyncio.AbstractEventLoop] = {}

    def subscribe(self) -> asyncio.Queue[list[dict[str, Any]]]:
        """A queue of committed batches for the running loop; :meth:`unsubscribe` it when done."""
        q: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue(self.BACKLOG)
        self.subscribers[q] = asyncio.get_running_loop()
        return q

    def unsubscribe(self, q: asyncio.Queue[list[dict[str, Any]]]) -> None:
        self.subscribers.pop(q, None)

    def publish(self, ids: Sequence[int], rows: Sequence[tuple[Any, ...]]) -> None:
        """Hand a committed batch (ids and the INSERT rows) to every subscriber, from any thread."""
        batch = [summary(rowid, row) for rowid, row in zip(ids, rows, strict=True)]
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for q, loop in list(self.subscribers.items()):
            if loop is here:
                _offer(q, batch)
            else:
                with contextlib.suppress(RuntimeError):  # that loop is closed
                    loop.call_soon_threadsafe(_offer, q, batch)


def _offer(q: asyncio.Queue[list[dict[str, Any]]], batch: list[dict[str, Any]]) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        q.put_nowait(batch)


def summary(rowid: int, row: Sequence[Any]) -> dict[str, Any]:
    """What a list of exchanges shows of one committed row (an INSERT tuple): the masked fields only, as journaled."""
    verdicts = row[15]
    failed = [v for v in orjson.loads(verdicts) if not v.get("held")] if verdicts and b'"held":false' in _bytes(verdicts) else []
    return {
        "id": rowid,
        "at": row[0],
        "platform": row[1],
        "operation": row[2],
        "vendor": row[3],
        "method": row[4],
        "path": row[5],
        "status": row[11],
        "code": row[13],
        "outcome": row[14],
        "duration_ms": row[16],
        "session": row[17],
        "origin": row[18],
        "fault": row[21],
        "failed": failed,
    }


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


_feeds: weakref.WeakKeyDictionary[Any, JournalFeed] = weakref.WeakKeyDictionary()
_feeds_lock = threading.Lock()


def feed_for(store: Store) -> JournalFeed:
    """The one feed of a store's journal in this process (every writer and reader of that store shares it)."""
    with _feeds_lock:
        found = _feeds.get(store)
        if found is None:
            found = _feeds[store] = JournalFeed()
        return found


class Journal:
    def __init__(self, store: Store, batch_size: int = 256) -> None:
        self.store = store
        self.batch_size = batch_size
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.feed = feed_for(store)

    # -- writing -------------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._writer, name="harness-journal", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None

    async def record(self, exchange: Exchange) -> int:
        """Store one exchange; returns its id once it is committed."""
        if self._thread is None:
            return self.record_now(exchange)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        # The row is built here, not in the writer: Python work in the writer thread holds the GIL while the event loop
        # waits to get it back from a store read, which costs every request up to the 5 ms switch interval.
        self._queue.put((exchange.row(), exchange.work, loop, future))
        return await future

    def record_now(self, exchange: Exchange) -> int:
        try:
            with self.store.transaction(changes_state=exchange.work.changes_state) as conn:
                row = exchange.row()
                rowid = conn.execute(INSERT, row).lastrowid or 0
                exchange.work.apply(conn)
        except Exception:
            exchange.work.rolled_back()
            raise
        if self.feed.subscribers:
            self.feed.publish([rowid], [row])
        return rowid

    def _writer(self) -> None:
        conn = self.store.new_connection()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                batch = [item]
                while len(batch) < self.batch_size:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        self._queue.put(_STOP)
                        break
                    batch.append(nxt)
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    ids = []
                    for row, work, _, _ in batch:
                        ids.append(conn.execute(INSERT, row).lastrowid)
                        work.apply(conn)
                    conn.execute("COMMIT")
                except Exception as exc:  # report to every waiter; never lose the thread
                    conn.execute("ROLLBACK") if conn.in_transaction else None
                    for _, work, loop, fut in batch:
                        loop.call_soon_threadsafe(work.rolled_back)
                        loop.call_soon_threadsafe(_set_exception, fut, exc)
                    continue
                # One wake-up per event loop and batch, not one per exchange.
                by_loop: dict[Any, list[tuple[asyncio.Future[int], int]]] = {}
                for (_, _, loop, fut), rowid in zip(batch, ids, strict=True):
                    by_loop.setdefault(loop, []).append((fut, rowid))
                for loop, done in by_loop.items():
                    loop.call_soon_threadsafe(_set_results, done)
                if self.feed.subscribers:
                    self.feed.publish(ids, [row for row, _, _, _ in batch])
        finally:
            conn.close()

    # -- reading -------------------------------------------------------------------------------------------------
    def max_id(self) -> int:
        """The id of the newest committed exchange (0 for an empty journal)."""
        row = self.store.query_one("SELECT COALESCE(MAX(id), 0) FROM journal")
        return int(row[0]) if row is not None else 0

    def query(
        self,
        *,
        vendor: str | None = None,
        platform: str | None = None,
        operation: str | None = None,
        verdict: str | None = None,
        rule: str | None = None,
        after_id: int | None = None,
        session: str | None = None,
        origin: str | None = None,
        where: tuple[str, Sequence[Any]] | None = None,
        limit: int | None = 100,
        ascending: bool = False,
    ) -> list[dict[str, Any]]:
        """Journal entries, newest first (``ascending``: oldest first). ``origin="none"`` selects untagged traffic;
        ``where`` is an extra SQL condition with its parameters (e.g. a certification window's)."""
        conditions: list[str] = []
        params: list[Any] = []
        if origin == "none":
            conditions.append("origin IS NULL")
        elif origin is not None:
            conditions.append("origin = ?")
            params.append(origin)
        for column, value in (("vendor", vendor), ("platform", platform), ("operation", operation), ("session", session)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if verdict is not None:
            if verdict not in OUTCOMES:
                raise ValueError(f"verdict must be one of {OUTCOMES}, not {verdict!r}")
            conditions.append(f"outcome = '{verdict}'")  # a literal (from OUTCOMES), so that SQLite can use journal_failed
        if rule is not None:  # compact (orjson) and spaced (older rows) JSON
            rule = rule.upper()  # rule ids are upper case; SQLite's LIKE ignores ASCII case, PostgreSQL's does not
            conditions.append("(verdicts LIKE ? OR verdicts LIKE ?)")
            params.extend([f'%"rule":"{rule}"%', f'%"rule": "{rule}"%'])
        if after_id is not None:
            conditions.append("id > ?")
            params.append(after_id)
        sql = "SELECT * FROM journal"
        if where is not None:
            conditions.append(f"({where[0]})")
            params.extend(where[1])
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        sql += " ORDER BY id " + ("ASC" if ascending else "DESC")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [entry_from_row(r) for r in self.store.query(sql, params)]


class LoopGroupCommit:
    """Group commit on the event loop, for the fast path (harness.server.fastpath).

    The background writer of :class:`Journal` costs a request path that also reads the store about twice its CPU: the
    two threads hand the GIL back and forth around every SQLite call, and each commit from the writer's own connection
    invalidates the page cache of the connection that serves reads. Here every exchange that reaches :meth:`record`
    within one loop iteration is written by one transaction on the store's own connection, scheduled with
    ``call_soon``; each caller resumes only after that transaction commits, so an acknowledged exchange is as durable
    as with :class:`Journal`. The loop is blocked for the transaction (tens of µs per row; SQLite's busy timeout if
    another writer holds the lock).

    WAL checkpoints, which fsync, are taken off the loop: the store's connection stops auto-checkpointing and a
    short-lived background thread checkpoints (PASSIVE) once a second while commits flow. Under unbroken commits a
    passive checkpoint never finds the moment at which the WAL could start over, so the WAL grows without bound, and
    the TRUNCATE checkpoint that used to rein it in stopped the loop for 100–130 ms (the p99 of a 2,000 req/s fleet went
    from 4 to 88 ms). Instead, once the WAL passes :attr:`RESET_FRAMES`, the checkpointer catches up, then *holds* the
    loop's commits (requests are still read, validated and answered up to the commit) for one last short checkpoint,
    a few ms, after which the next commit restarts the WAL from its beginning.
    """

    FLUSH_DELAY = 0.0  # seconds; > 0 gathers larger batches at the price of that much latency
    CHECKPOINT_EVERY = 1.0  # seconds
    CHECKPOINTER_IDLE = 10.0  # the thread ends after this long without a commit, and restarts with the next one
    RESET_FRAMES = 8192  # WAL pages (32 MiB at 4 KiB) above which commits are held for a checkpoint that lets it restart
    HOLD_AT_MOST = 0.5  # seconds: a hold ends then even if the checkpoint could not complete (another process reading)
    TRUNCATE_FRAMES = 65536  # last resort (256 MiB): holds did not work, e.g. a long reader elsewhere; TRUNCATE blocks

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[tuple[tuple[Any, ...], UnitOfWork, asyncio.Future[int]]] = []
        self._uncached_writes = False
        self._scheduled = False
        self._held = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_commit = 0.0
        self._checkpointer: threading.Thread | None = None
        self.resets = 0  # WAL restarts achieved by holds (for tests and benchmarks)
        self.feed = feed_for(store)  # subscribers hear of each committed batch (JournalFeed)
        self.store.execute_pragma("wal_autocheckpoint=0")
        self.store.execute_pragma(f"journal_size_limit={self.RESET_FRAMES * 4096}")  # a restarted WAL is cut back to this

    def _checkpoints(self) -> None:
        conn = self.store.new_connection()
        try:
            while time.monotonic() - self._last_commit < self.CHECKPOINTER_IDLE:
                time.sleep(self.CHECKPOINT_EVERY)
                _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # never blocks the loop's writer
                if frames > self.TRUNCATE_FRAMES:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                elif frames > self.RESET_FRAMES and self._loop is not None:
                    self._checkpoint_held(conn, self._loop)
        finally:
            conn.close()
            self._checkpointer = None

    def _checkpoint_held(self, conn: sqlite3.Connection, loop: asyncio.AbstractEventLoop) -> None:
        """Hold the loop's commits, checkpoint what the last passive pass left (about one pass's worth of frames), let go."""
        holding = threading.Event()

        def hold() -> None:  # runs on the loop, between two flushes: no transaction of the loop is open
            self._held = True
            holding.set()

        try:
            loop.call_soon_threadsafe(hold)
        except RuntimeError:  # the loop is closed
            return
        try:
            if holding.wait(self.HOLD_AT_MOST):
                _, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames == done:
                    self.resets += 1  # complete: the next commit starts the WAL over
        finally:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        self._held = False
        if self._pending and not self._scheduled:
            self._scheduled = True
            self._flush()

    async def record(self, exchange: Exchange) -> int:
        loop = asyncio.get_running_loop()
        self._loop = loop
        future: asyncio.Future[int] = loop.create_future()
        self._pending.append((exchange.row(), exchange.work, future))
        self._uncached_writes = self._uncached_writes or exchange.work.changes_state
        if not self._scheduled:
            self._scheduled = True
            if self.FLUSH_DELAY:
                loop.call_later(self.FLUSH_DELAY, self._flush)
            else:
                loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        if self._held:  # a checkpoint is finishing; _release flushes what gathered meanwhile
            self._scheduled = False
            return
        batch, self._pending, self._scheduled = self._pending, [], False
        changes_state, self._uncached_writes = self._uncached_writes, False
        lost: list[tuple[UnitOfWork, asyncio.Future[int], Any]] = []
        try:
            with self.store.transaction(changes_state=changes_state) as conn:
                for item in batch:  # claims first: an exchange whose claim another took is refused, not journaled here
                    if item[1].claims:
                        refusal = item[1].claim_rows(conn)
                        if refusal is not None:
                            lost.append((item[1], item[2], refusal))
                if lost:
                    batch = [item for item in batch if all(item[2] is not fut for _, fut, _ in lost)]
                ids = self.store.insert_many(conn, INSERT, [row for row, _, _ in batch]) if batch else []
                for _, work, _ in batch:
                    if not work.empty:
                        work.apply(conn, claimed=True)
        except Exception as exc:  # every waiter learns of it; nothing of the batch was committed
            for _, work, fut in batch:
                work.rolled_back()  # write-through caches ahead of the store empty themselves
                _set_exception(fut, exc)
            for work, fut, _ in lost:
                work.rolled_back()
                _set_exception(fut, exc)
            return
        for work, fut, refusal in lost:  # the exchange layer answers and journals these as refused (ClaimConflict)
            work.rolled_back()
            _set_exception(fut, ClaimConflict(refusal))
        for (_, _, fut), rowid in zip(batch, ids, strict=True):
            _set_result(fut, rowid)
        if self.feed.subscribers:
            self.feed.publish(ids, [row for row, _, _ in batch])
        self._last_commit = time.monotonic()
        if self._checkpointer is None and self.store.dialect == "sqlite":  # WAL checkpoints are SQLite's
            self._checkpointer = threading.Thread(target=self._checkpoints, name="harness-checkpoint", daemon=True)
            self._checkpointer.start()


def entry_from_row(row: Any) -> dict[str, Any]:
    entry = dict(row)
    if entry.get("reply_sha256") is None and entry.get("reply_body") is not None:  # the wire bytes were reply_body
        entry["reply_sha256"] = hashlib.sha256(entry["reply_body"].encode("utf-8")).hexdigest()
    body = entry.pop("request_body") or b""
    entry["request_headers"] = json.loads(entry["request_headers"])
    entry["verdicts"] = json.loads(entry["verdicts"])
    try:
        entry["request_body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        entry["request_body"] = None  # binary (an upload): size and SHA-256 stand for it
    entry["request_truncated"] = entry["request_size"] > len(body)
    try:
        entry["reply"] = json.loads(entry.pop("reply_body") or "null")
    except ValueError:
        entry["reply"] = None
    wire = entry.pop("reply_wire", None)
    # The wire bytes, when the journal kept them apart from the document (base64: entries travel as JSON).
    entry["reply_wire"] = base64.b64encode(wire).decode() if wire is not None else None
    return entry


def failed_rules(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for e in entries for v in e["verdicts"] if not v["held"]]


def _set_result(fut: asyncio.Future[int], value: int) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_results(done: list[tuple[asyncio.Future[int], int]]) -> None:
    for fut, value in done:
        _set_result(fut, value)


def _set_exception(fut: asyncio.Future[int], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
