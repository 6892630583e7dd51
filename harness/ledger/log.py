"""The ledger in the harness store: entries, the tree's node hashes, signed checkpoints and the openings of commitments.

One sequencer: an append reads the tree size inside the caller's write transaction (``BEGIN IMMEDIATE`` holds SQLite's
write lock), so indexes never repeat or skip. :meth:`Ledger.append` runs inside a transaction the caller owns (the
platform's unit of work); :class:`BatchAppender` batches bulk appends (256 entries or 250 ms, as Tessera does) into one
transaction with one new checkpoint each. The tree keeps every perfect subtree's hash (``ledger_nodes``), so an
inclusion or consistency proof is O(log n) look-ups and the right edge (the frontier) is a handful of rows.
"""

from __future__ import annotations

import json
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import orjson

from harness import sealing
from harness.journal import now_iso
from harness.ledger.entry import PERSONAL_FIELDS, Opening, canonical, commit, entry_bytes
from harness.ledger.merkle import Frontier, NodeSource, consistency_proof, inclusion_proof, leaf_hash, root
from harness.ledger.note import Checkpoint, NoteError, Signer, Verifier, open_checkpoint, sign
from harness.ledger.receipt import format_proof
from harness.store import Migrate, Schema, Step, Store

DEFAULT_ORIGIN = "harness.example/dym-ledger"
BATCH_SIZE = 256
BATCH_DELAY = 0.25

SCHEMA = Schema(
    "ledger",
    [
        Step(
            1,
            [
                """CREATE TABLE IF NOT EXISTS ledger_entries (
                idx INTEGER PRIMARY KEY, attestation_id TEXT NOT NULL UNIQUE, at TEXT NOT NULL, entry BLOB NOT NULL)""",
                # Hash of the perfect subtree of 2**level leaves starting at leaf idx * 2**level (level 0: leaf hashes).
                """CREATE TABLE IF NOT EXISTS ledger_nodes (
                level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID""",
                """CREATE TABLE IF NOT EXISTS ledger_checkpoints (
                size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, at TEXT NOT NULL)""",
                # Salts and values of the commitments: kept apart so that erasing a person's data leaves the log intact.
                """CREATE TABLE IF NOT EXISTS ledger_openings (
                idx INTEGER NOT NULL, path TEXT NOT NULL, salt BLOB NOT NULL, value TEXT NOT NULL, PRIMARY KEY (idx, path))""",
                "CREATE TABLE IF NOT EXISTS ledger_keys (origin TEXT PRIMARY KEY, signer TEXT NOT NULL)",
            ],
        ),
        # The openings' values are personal data: those stored in clear are sealed (Ledger.store).
        Step(2, [Migrate(lambda conn, store: _seal_openings(store, conn))]),
    ],
)
OPENING_PURPOSE = "ledger-opening"  # the associated data a sealed opening value is bound to


def _seal_openings(store: Store, conn: Any) -> None:
    for idx, path, value in conn.execute("SELECT idx, path, value FROM ledger_openings").fetchall():
        if not sealing.is_sealed(value):
            conn.execute(
                "UPDATE ledger_openings SET value = ? WHERE idx = ? AND path = ?", (sealing.seal(store, value, OPENING_PURPOSE), idx, path)
            )


@dataclass(frozen=True)
class Sequenced:
    """An appended entry: its attestation id, index, time and leaf hash (a receipt once a checkpoint covers it)."""

    attestation_id: str
    index: int
    at: str
    leaf_hash: bytes


def node_source(conn: sqlite3.Connection) -> NodeSource:
    """The stored tree as a :data:`~harness.ledger.merkle.NodeSource` (one indexed look-up per perfect subtree)."""

    def get(level: int, index: int) -> bytes:
        row = conn.execute("SELECT hash FROM ledger_nodes WHERE level = ? AND idx = ?", (level, index)).fetchone()
        if row is None:
            raise LookupError(f"the store lacks tree node ({level}, {index})")
        return row[0]

    return get


def tree_size(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(idx) FROM ledger_entries").fetchone()
    return 0 if row[0] is None else row[0] + 1


SIGNER_PURPOSE = "ledger-signer"  # harness.sealing: ledger_keys.signer is sealed at rest


def signer_of(store: Store, stored: Any) -> Signer:
    """The log's signer from its ledger_keys row (sealed; one an older version kept in clear is read as it is)."""
    return Signer.parse(sealing.unseal(store, stored, SIGNER_PURPOSE).decode("utf-8"))


class Ledger:
    """One log: its origin and signer. Every method takes the connection of a transaction the caller holds."""

    def __init__(
        self, signer: Signer, origin: str | None = None, *, personal: frozenset[str] = PERSONAL_FIELDS, store: Store | None = None
    ) -> None:
        """``personal``: the field names whose values become commitments (:data:`harness.ledger.entry.PERSONAL_FIELDS`
        by default; a platform adds its own, e.g. a plate number where it identifies a person). ``store``: the values
        of the openings are sealed at rest under its sealing key (harness/sealing.py); without it they are kept clear."""
        self.signer = signer
        self.store = store
        self.origin = origin or signer.name
        self.personal = personal

    @property
    def verifier(self) -> Verifier:
        return self.signer.verifier

    @classmethod
    def open(
        cls, store: Store, origin: str = DEFAULT_ORIGIN, signer: Signer | None = None, *, personal: frozenset[str] = PERSONAL_FIELDS
    ) -> Ledger:
        """The log of ``origin`` in ``store``, its signing key made on first use (or the ``signer`` given)."""
        if signer is not None:
            return cls(signer, origin, personal=personal, store=store)
        with store.transaction(changes_state=False) as conn:
            row = conn.execute("SELECT signer FROM ledger_keys WHERE origin = ?", (origin,)).fetchone()
            if row is None:
                made = Signer.generate(origin)
                sealed = sealing.seal(store, made.secret(), SIGNER_PURPOSE)  # the log's private key, never in clear
                conn.execute("INSERT INTO ledger_keys (origin, signer) VALUES (?, ?)", (origin, sealed))
                return cls(made, origin, personal=personal, store=store)
        return cls(signer_of(store, row[0]), origin, personal=personal, store=store)

    # -- appending -------------------------------------------------------------------------------------------------

    def append(self, conn: sqlite3.Connection, event: Any, *, at: str | None = None) -> Sequenced:
        """Append one event inside the caller's write transaction (e.g. a unit of work's ``on_commit(conn)``)."""
        return self.append_many(conn, [event], at=at)[0]

    def append_many(self, conn: sqlite3.Connection, events: Iterable[Any], *, at: str | None = None) -> list[Sequenced]:
        frontier = Frontier.load(node_source(conn), tree_size(conn))
        entries: list[tuple[int, str, str, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        openings: list[tuple[int, str, bytes, str]] = []
        out: list[Sequenced] = []
        for event in events:
            public, opens = commit(event, personal=self.personal)
            index, when, att = frontier.size, at or now_iso(), secrets.token_hex(16)
            raw = entry_bytes(attestation_id=att, index=index, at=when, event=public)
            leaf = leaf_hash(raw)
            nodes.extend(frontier.push(leaf))
            entries.append((index, att, when, raw))
            openings.extend((index, o.path, o.salt, self._seal(canonical(o.value).decode())) for o in opens)
            out.append(Sequenced(att, index, when, leaf))
        self._write(conn, entries, nodes, openings)
        return out

    def append_raw(self, conn: sqlite3.Connection, entries: Sequence[tuple[str, str, bytes]], frontier: Frontier) -> Frontier:
        """Bulk path for already committed, canonical events ``(attestation_id, at, public_event_json)``: no
        commitments are made here (the events hold none), and the frontier is carried between calls."""
        rows, nodes = [], []
        for att, when, public in entries:
            index = frontier.size
            raw = b'{"at":"%s","event":%s,"id":"%s","index":%d,"v":1}' % (when.encode(), public, att.encode(), index)
            nodes.extend(frontier.push(leaf_hash(raw)))
            rows.append((index, att, when, raw))
        self._write(conn, rows, nodes, [])
        return frontier

    @staticmethod
    def _write(conn: sqlite3.Connection, entries: list, nodes: list, openings: list) -> None:
        conn.executemany("INSERT INTO ledger_entries (idx, attestation_id, at, entry) VALUES (?, ?, ?, ?)", entries)
        conn.executemany("INSERT INTO ledger_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)
        if openings:
            conn.executemany("INSERT INTO ledger_openings (idx, path, salt, value) VALUES (?, ?, ?, ?)", openings)

    # -- checkpoints, proofs, receipts -----------------------------------------------------------------------------

    def checkpoint(self, conn: sqlite3.Connection) -> str:
        """The signed checkpoint of the current tree, signing (and storing) a new one when the tree has grown."""
        size = tree_size(conn)
        last = conn.execute("SELECT size, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        if last is not None and last[0] == size:
            return last[1]
        r = root(node_source(conn), size)
        note = sign(Checkpoint(self.origin, size, r).text(), self.signer)
        conn.execute("INSERT INTO ledger_checkpoints (size, root, note, at) VALUES (?, ?, ?, ?)", (size, r, note, now_iso()))
        return note

    def latest(self, conn: sqlite3.Connection) -> tuple[Checkpoint, str] | None:
        row = conn.execute("SELECT note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return open_checkpoint(row[0], self.origin, [self.verifier]), row[0]

    def receipt(self, conn: sqlite3.Connection, index: int) -> dict[str, Any]:
        """The receipt of entry ``index`` against the latest checkpoint (which must cover it)."""
        latest = self.latest(conn)
        if latest is None or latest[0].size <= index:
            raise LookupError(f"no checkpoint covers entry {index} yet")
        cp, note = latest
        row = conn.execute("SELECT attestation_id, at, entry FROM ledger_entries WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise LookupError(f"no entry {index}")
        proof = inclusion_proof(node_source(conn), index, cp.size)
        return {
            "attestation_id": row[0],
            "leaf_hash": leaf_hash(row[2]).hex(),
            "index": index,
            "time": row[1],
            "tree_size": cp.size,
            "origin": self.origin,
            "proof": format_proof(index, proof, note),
        }

    def entry(self, conn: sqlite3.Connection, index: int) -> bytes:
        row = conn.execute("SELECT entry FROM ledger_entries WHERE idx = ?", (index,)).fetchone()
        if row is None:
            raise LookupError(f"no entry {index}")
        return row[0]

    def consistency(self, conn: sqlite3.Connection, size1: int, size2: int) -> list[bytes]:
        return consistency_proof(node_source(conn), size1, size2)

    def root_at(self, conn: sqlite3.Connection, size: int) -> bytes:
        return root(node_source(conn), size)

    def openings(self, conn: sqlite3.Connection, index: int) -> list[Opening]:
        rows = conn.execute("SELECT path, salt, value FROM ledger_openings WHERE idx = ? ORDER BY path", (index,)).fetchall()
        return [Opening(r[0], r[1], json.loads(self._open(r[2]))) for r in rows]

    def _seal(self, value: str) -> str:
        return value if self.store is None else sealing.seal(self.store, value, OPENING_PURPOSE)

    def _open(self, stored: str) -> str:
        if not sealing.is_sealed(stored):
            return stored
        if self.store is None:
            raise LookupError("the openings are sealed: open the ledger with its store (Ledger.open)")
        return sealing.unseal(self.store, stored, OPENING_PURPOSE).decode("utf-8")

    def erase(self, conn: sqlite3.Connection, index: int) -> int:
        """Erase the personal data of entry ``index`` (its openings); the log and its proofs are unchanged."""
        return conn.execute("DELETE FROM ledger_openings WHERE idx = ?", (index,)).rowcount


# -- the batching appender --------------------------------------------------------------------------------------------


@dataclass
class _Item:
    event: Any
    future: Future = field(default_factory=Future)


class BatchAppender:
    """Bulk appends through one background sequencer thread: up to ``batch`` events or ``delay`` seconds per
    transaction, each with one new signed checkpoint. :meth:`append` returns once its batch is committed (durable)."""

    def __init__(self, store: Store, ledger: Ledger, *, batch: int = BATCH_SIZE, delay: float = BATCH_DELAY) -> None:
        self.store, self.ledger, self.batch, self.delay = store, ledger, batch, delay
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ledger-sequencer", daemon=True)
        self._thread.start()

    def submit(self, event: Any) -> Future:
        item = _Item(event)
        self._queue.put(item)
        return item.future

    def append(self, event: Any) -> Sequenced:
        return self.submit(event).result()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            items, deadline = [first], time.monotonic() + self.delay
            while len(items) < self.batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                items.append(item)
            try:
                with self.store.transaction() as conn:
                    done = self.ledger.append_many(conn, [i.event for i in items])
                    self.ledger.checkpoint(conn)
            except Exception as exc:  # each caller learns why its append failed; the sequencer goes on
                for i in items:
                    i.future.set_exception(exc)
            else:
                for i, s in zip(items, done, strict=True):
                    i.future.set_result(s)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


# -- audit -------------------------------------------------------------------------------------------------------------


@dataclass
class Audit:
    size: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(problem)


def audit(conn: sqlite3.Connection, origin: str, verifiers: Sequence[Verifier]) -> Audit:
    """Recompute the tree from the stored entries and compare it with the stored nodes and every signed checkpoint.

    Problems are listed in log order, record problems first: a deleted record (a gap in the indexes), a reordered
    one (its entry names another index), an altered one (its hash differs from the tree's leaf), then tree nodes that
    do not follow from the leaves, then checkpoints that do not match the recomputed tree or are not validly signed."""
    result = Audit()
    cps: list[tuple[int, bytes]] = []
    for size, note in conn.execute("SELECT size, note FROM ledger_checkpoints ORDER BY size"):
        try:
            cp = open_checkpoint(note, origin, list(verifiers))
        except NoteError as exc:
            result.add(f"checkpoint of size {size}: {exc}")
            continue
        if cp.size != size:
            result.add(f"checkpoint stored as size {size} says size {cp.size}")
        cps.append((cp.size, cp.root))
    result.checkpoints = len(cps)
    leaves = conn.execute("SELECT idx, hash FROM ledger_nodes WHERE level = 0 ORDER BY idx")
    levels: dict[int, Any] = {}
    frontier = Frontier()
    node_problem: str | None = None
    expected, cp_at = 0, 0
    for idx, att, at, raw in conn.execute("SELECT idx, attestation_id, at, entry FROM ledger_entries ORDER BY idx"):
        if idx != expected:
            result.add(f"record {expected} deleted (the next stored record is {idx})" if idx > expected else f"record {idx} repeated")
            break
        try:
            body = orjson.loads(raw)
            claimed = (body["index"], body["id"], body["at"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            result.add(f"record {idx} altered: its entry is not a ledger entry")
            break
        if claimed[0] != idx:
            result.add(f"record {idx} reordered: its entry is record {claimed[0]}")
            break
        if claimed[1:] != (att, at):
            result.add(f"record {idx} altered: its attestation id or time differ from its entry")
            break
        leaf = leaf_hash(raw)
        stored = leaves.fetchone()
        if stored is None or stored[0] != idx:
            result.add(f"tree leaf {idx} is missing from the store (its record is intact)")
            break
        if stored[1] != leaf:
            result.add(f"record {idx} altered: its hash differs from the tree's leaf {idx}")
            break
        for level, index, h in frontier.push(leaf)[1:]:
            cursor = levels.get(level)
            if cursor is None:
                cursor = levels[level] = conn.execute("SELECT idx, hash FROM ledger_nodes WHERE level = ? ORDER BY idx", (level,))
            row = cursor.fetchone()
            if node_problem is None and (row is None or tuple(row) != (index, h)):
                node_problem = f"tree node ({level}, {index}) does not follow from records {index << level}..{((index + 1) << level) - 1}"
        expected += 1
        while cp_at < len(cps) and cps[cp_at][0] == frontier.size:
            if cps[cp_at][1] != frontier.root():
                result.add(f"checkpoint of size {frontier.size} does not match the records below it")
            cp_at += 1
        while cp_at < len(cps) and cps[cp_at][0] < frontier.size:
            cp_at += 1
    result.size = expected
    if node_problem and result.ok:
        result.add(node_problem)
    if result.ok and cps and cps[-1][0] > expected:
        result.add(f"truncated: a checkpoint of size {cps[-1][0]} is signed but the store holds {expected} records")
    if result.ok and cps and cps[0][0] == 0 and cps[0][1] != root(lambda level, i: b"", 0):
        result.add("the checkpoint of size 0 does not carry the empty tree's root")
    return result
