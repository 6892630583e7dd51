"""Certification sessions: the window of journal traffic a journal-graded role grades.

A vendor acting as a client is certified from what it sent to ``harness serve``. ``harness certify start ROLE …``
opens a session: a row in ``cert_sessions`` holding the role, its options and ``after_id``, the newest journal id at
that moment. The vendor then either points its client at the session's base path ``/_session/<id>/<platform>/…``
(served exactly like ``/<platform>/…``, every exchange journaled with ``session = <id>``) or simply runs its scenario
against the usual base path. ``harness certify finish <id>`` sets ``until_id`` (the newest journal id then) and grades
the :class:`Window`:

- the exchanges tagged with the session (up to ``until_id`` once finished), and
- the untagged exchanges with an id in ``(after_id, until_id]``;
- a role that grades one vendor's calls (the ``vendor`` column the gate fills) also takes the session's tagged
  exchanges the gate refused before it could name a vendor (``vendor`` empty: no token, a wrong credential): they used
  the session's base path, so they are that vendor's traffic and are graded (:meth:`Window.attributed`);
- never an exchange whose origin is ``fuzz`` (the ``X-Harness-Origin: fuzz`` header harness.fuzz sends): generated
  traffic is never certification evidence, inside a window or not.

``harness certify ROLE --since N`` grades the window of untagged, non-fuzz traffic after ``N``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import string
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError
from harness.journal import now_iso
from harness.store import Schema, Step, Store

SCHEMA = Schema(
    "cert_sessions",
    [
        Step(
            1,
            [
                """CREATE TABLE IF NOT EXISTS cert_sessions (
                id TEXT PRIMARY KEY, role TEXT NOT NULL, options TEXT NOT NULL, created_at TEXT NOT NULL,
                after_id INTEGER NOT NULL, until_id INTEGER, finished_at TEXT,
                status TEXT NOT NULL CHECK (status IN ('open', 'finished')))""",
            ],
        ),
        # Where `harness serve` listens on this store, so that `certify start` prints a base URL the vendor can use
        Step(
            2,
            [
                """CREATE TABLE IF NOT EXISTS serve_addresses (
                url TEXT PRIMARY KEY, hostname TEXT NOT NULL, pid INTEGER NOT NULL, started_at TEXT NOT NULL)""",
            ],
        ),
    ],
)

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Ids are drawn from lower-case letters and digits only: url-safe, never mistaken for an option (a leading "-"), and
# the same whatever case a shell or a browser bar shows them in.
ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 10
FUZZ = "fuzz"


@dataclass(frozen=True)
class Window:
    """Which journal rows a grading reads (see the module docstring). All ``None``: every untagged, non-fuzz row."""

    after_id: int | None = None
    until_id: int | None = None
    session: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        """The SQL condition over the ``journal`` table and its parameters."""
        untagged, params = ["session IS NULL"], []
        if self.after_id is not None:
            untagged.append("id > ?")
            params.append(self.after_id)
        if self.until_id is not None:
            untagged.append("id <= ?")
            params.append(self.until_id)
        condition = " AND ".join(untagged)
        if self.session is not None:
            tagged, tagged_params = "session = ?", [self.session]
            if self.until_id is not None:
                tagged += " AND id <= ?"
                tagged_params.append(self.until_id)
            condition = f"({tagged}) OR ({condition})"
            params = tagged_params + params
        return f"(origin IS NULL OR origin <> '{FUZZ}') AND ({condition})", params

    def attributed(self, vendor: str) -> tuple[str, list[Any]]:
        """The SQL condition of :meth:`sql` narrowed to one vendor's exchanges: those the gate attributed to ``vendor``,
        plus, with a session, the session's tagged exchanges the gate refused before it could name any vendor (they
        used the session's base path, so they are this vendor's; a refusal must be graded, not read as "never called")."""
        condition, params = self.sql()
        if self.session is None:
            return f"vendor = ? AND ({condition})", [vendor, *params]
        return f"(vendor = ? OR (vendor IS NULL AND session = ?)) AND ({condition})", [vendor, self.session, *params]

    def includes(self, entry: dict[str, Any]) -> bool:
        """The same condition over one journal entry (a dict of :meth:`Journal.query`)."""
        if entry.get("origin") == FUZZ:
            return False
        within_until = self.until_id is None or entry["id"] <= self.until_id
        tag = entry.get("session")
        if tag is not None:
            return self.session is not None and tag == self.session and within_until
        return (self.after_id is None or entry["id"] > self.after_id) and within_until

    def describe(self) -> str:
        """One line for reports: which traffic was graded."""
        span = "journal " + (f"after #{self.after_id}" if self.after_id is not None else "from the start")
        if self.until_id is not None:
            span += f" up to #{self.until_id}"
        if self.session is not None:
            return f"certification session {self.session}: its tagged exchanges and untagged ones {span}; fuzz traffic excluded"
        return f"{span}, untagged exchanges only; fuzz traffic excluded"

    def options(self) -> dict[str, Any]:
        """The window as report options."""
        return {"session": self.session, "after_id": self.after_id, "until_id": self.until_id, "graded": self.describe()}


def since(after_id: int | None) -> Window:
    """The window of ``harness certify ROLE --since N`` (everything untagged when ``N`` is None)."""
    return Window(after_id=after_id)


@dataclass(frozen=True)
class Session:
    id: str
    role: str
    options: dict[str, Any]
    created_at: str
    after_id: int
    until_id: int | None
    finished_at: str | None
    status: str

    @property
    def window(self) -> Window:
        return Window(after_id=self.after_id, until_id=self.until_id, session=self.id)

    @property
    def is_open(self) -> bool:
        return self.status == "open"


def _session(row: Any) -> Session:
    return Session(
        id=row["id"],
        role=row["role"],
        options=json.loads(row["options"]),
        created_at=row["created_at"],
        after_id=row["after_id"],
        until_id=row["until_id"],
        finished_at=row["finished_at"],
        status=row["status"],
    )


def start(store: Store, role: str, options: dict[str, Any]) -> Session:
    """Open a session for ``role`` with the role's own ``options`` (JSON-able); it starts after the newest exchange."""
    with store.transaction(changes_state=False) as conn:
        after_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0]
        while True:
            session_id = "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))
            if conn.execute("SELECT 1 FROM cert_sessions WHERE id = ?", (session_id,)).fetchone() is None:
                break
        conn.execute(
            "INSERT INTO cert_sessions (id, role, options, created_at, after_id, status) VALUES (?, ?, ?, ?, ?, 'open')",
            (session_id, role, json.dumps(options, ensure_ascii=False, sort_keys=True), now_iso(), after_id),
        )
    found = get(store, session_id)
    assert found is not None
    return found


def get(store: Store, session_id: str) -> Session | None:
    if not SESSION_ID.match(session_id):
        return None
    row = store.query_one("SELECT * FROM cert_sessions WHERE id = ?", (session_id,))
    return _session(row) if row is not None else None


def is_open(store: Store, session_id: str) -> bool:
    """Whether ``session_id`` names an open session (the server asks this for every session-scoped request)."""
    if not SESSION_ID.match(session_id):
        return False
    row = store.query_one("SELECT status FROM cert_sessions WHERE id = ?", (session_id,))
    return row is not None and row["status"] == "open"


def finish(store: Store, session_id: str) -> Session:
    """Close the session: its window ends at the newest exchange now. Finishing a finished session changes nothing."""
    if get(store, session_id) is None:
        raise ConfigError(f"no certification session {session_id!r} in {store.path} (harness certify sessions)")
    with store.transaction(changes_state=False) as conn:
        until_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0]
        conn.execute(
            "UPDATE cert_sessions SET until_id = ?, finished_at = ?, status = 'finished' WHERE id = ? AND status = 'open'",
            (until_id, now_iso(), session_id),
        )
    found = get(store, session_id)
    assert found is not None
    return found


def list_sessions(store: Store) -> list[Session]:
    """Every session, newest first."""
    return [_session(r) for r in store.query("SELECT * FROM cert_sessions ORDER BY created_at DESC, after_id DESC, id DESC")]


def count(store: Store, window: Window) -> int:
    """How many journal exchanges the window holds."""
    condition, params = window.sql()
    row = store.query_one(f"SELECT COUNT(*) FROM journal WHERE {condition}", params)
    return int(row[0]) if row is not None else 0


__all__ = ["SCHEMA", "Session", "Window", "count", "finish", "get", "is_open", "list_sessions", "since", "start"]


# --- where harness serve listens ----------------------------------------------------------------------------------------
def record_serve(store: Store, host: str, port: int) -> str:
    """Note that ``harness serve`` listens on ``host:port`` over this store (its URL as a vendor on this host reaches it:
    a wildcard address is shown as loopback); returns that URL."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    with store.transaction(changes_state=False) as conn:
        conn.execute("DELETE FROM serve_addresses WHERE url = ?", (url,))
        conn.execute(
            "INSERT INTO serve_addresses (url, hostname, pid, started_at) VALUES (?, ?, ?, ?)",
            (url, socket.gethostname(), os.getpid(), now_iso()),
        )
    return url


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def served_urls(store: Store) -> list[str]:
    """The URLs of the ``harness serve`` processes over this store that may still run, newest first (one on this host
    whose process has ended is left out; one on another host is kept: it cannot be checked from here)."""
    here = socket.gethostname()
    rows = store.query("SELECT url, hostname, pid FROM serve_addresses ORDER BY started_at DESC, url")
    return [r["url"] for r in rows if r["hostname"] != here or _alive(int(r["pid"]))]


def overlapping(store: Store, session: Session) -> list[Session]:
    """The other open sessions of the same role and options: the untagged traffic of one is in the window of each."""
    rows = store.query(
        "SELECT * FROM cert_sessions WHERE status = 'open' AND role = ? AND id <> ? ORDER BY created_at", (session.role, session.id)
    )
    same = json.dumps(session.options, ensure_ascii=False, sort_keys=True)
    return [_session(r) for r in rows if json.dumps(json.loads(r["options"]), ensure_ascii=False, sort_keys=True) == same]
