"""The state changes of one exchange, committed in the same transaction as its journal row.

A platform handler does not write the store itself on the hot path; it records what the exchange changes on
``ctx.exchange.work`` and the exchange layer's group commit applies it together with the journal row, so a change is
durable exactly when the reply is acknowledged, and a refused or unjournaled exchange changes nothing::

    work.write("UPDATE dudu_devices SET heartbeats = heartbeats + 1 WHERE id = ?", (device_id,), cached=True)
    work.on_commit(lambda conn: ledger_append(conn, entry))      # inside the transaction: may read the previous head
    work.on_rollback(cache.clear)                                # a write-through cache is now ahead of the store

A row two racing exchanges must not both add (a signed request seen once) is a *claim*: an ``INSERT … ON CONFLICT
DO NOTHING`` the store's unique key decides at commit. When it adds no row, another exchange claimed it first: the unit
is not applied, and the exchange is answered with the refusal the claim carries instead (:class:`ClaimConflict`)::

    work.claim("INSERT INTO seen (key) VALUES (?) ON CONFLICT DO NOTHING", (key,), refusal)  # refusal() -> PlatformError

``cached=True`` says the platform has already applied the write to its own caches (write-through): committing it then
need not make other caches forget what they hold. A write without it (or an ``on_commit`` callback) is a state
change every cache keyed on the store must see.

This is the seam a second store implements: the SQL here is portable (``?`` parameters, no SQLite-only syntax in the
unit itself); ``conn`` is a DB-API connection inside an open transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("harness.unit_of_work")

Write = tuple[str, tuple[Any, ...]]


class ClaimConflict(Exception):
    """A claim of the unit added no row at commit: the exchange is refused with ``refusal()`` (a PlatformError)."""

    def __init__(self, refusal: Any) -> None:
        super().__init__("a claim of the unit of work was taken by another exchange")
        self.refusal = refusal


class UnitOfWork:
    """One per exchange (cheap: nothing is allocated until something is recorded)."""

    __slots__ = ("_commit_hooks", "_rollback_hooks", "_uncached", "claims", "writes")

    def __init__(self) -> None:
        self.writes: list[Write] = []
        self.claims: list[tuple[str, tuple[Any, ...], Any]] | None = None
        self._commit_hooks: list[Callable[[Any], None]] | None = None
        self._rollback_hooks: list[Callable[[], None]] | None = None
        self._uncached = False

    def write(self, sql: str, params: tuple[Any, ...] = (), *, cached: bool = False) -> None:
        """One statement to run in the commit; ``cached``: the platform's caches already reflect it."""
        self.writes.append((sql, params))
        self._uncached = self._uncached or not cached

    def claim(self, sql: str, params: tuple[Any, ...], refusal: Any, *, cached: bool = True) -> None:
        """An ``INSERT … ON CONFLICT DO NOTHING`` that must add its row, run before the unit's other writes; when it adds
        none at commit the unit is not applied and the exchange is refused with ``refusal()``, a PlatformError (made
        only then: a claim is nearly always won).
        ``cached`` (default): no cache holds the claimed table."""
        if self.claims is None:
            self.claims = []
        self.claims.append((sql, params, refusal))
        self._uncached = self._uncached or not cached

    def claim_rows(self, conn: Any) -> Any | None:
        """Run the claims on ``conn``; the refusal of the first that added no row (nothing of the unit then remains
        written), else None."""
        claims = self.claims or ()
        several = len(claims) > 1
        if several:
            conn.execute("SAVEPOINT harness_claims")
        for sql, params, refusal in claims:
            if conn.execute(sql, params).rowcount == 0:
                if several:
                    conn.execute("ROLLBACK TO harness_claims")
                    conn.execute("RELEASE harness_claims")
                return refusal
        if several:
            conn.execute("RELEASE harness_claims")
        return None

    def on_commit(self, fn: Callable[[Any], None]) -> None:
        """``fn(conn)`` runs inside the transaction, after the writes (e.g. an append that reads the previous head)."""
        if self._commit_hooks is None:
            self._commit_hooks = []
        self._commit_hooks.append(fn)
        self._uncached = True

    def on_rollback(self, fn: Callable[[], None]) -> None:
        """``fn()`` runs when the unit does not commit (refused exchange, failed journal write)."""
        if self._rollback_hooks is None:
            self._rollback_hooks = []
        self._rollback_hooks.append(fn)

    @property
    def empty(self) -> bool:
        return not self.writes and not self._commit_hooks and not self.claims

    @property
    def changes_state(self) -> bool:
        """Whether committing it changes state some cache has not seen."""
        return self._uncached

    def apply(self, conn: Any, *, claimed: bool = False) -> None:
        """Run the claims (unless ``claimed``: the caller ran :meth:`claim_rows`), the writes and the commit callbacks on
        ``conn`` (inside the caller's transaction); raises :class:`ClaimConflict` when a claim adds no row."""
        if self.claims and not claimed:
            refusal = self.claim_rows(conn)
            if refusal is not None:
                raise ClaimConflict(refusal)
        # PostgreSQL: the writes of the whole batch go in one round trip (its callbacks see them sent first).
        batched = None if self._commit_hooks else getattr(conn, "execute_writes", None)
        if batched is not None:
            batched(self.writes)
        else:
            for sql, params in self.writes:
                conn.execute(sql, params)
        for fn in self._commit_hooks or ():
            fn(conn)

    def rolled_back(self) -> None:
        """Nothing of the unit committed: tell whoever registered, then forget it all."""
        hooks = self._rollback_hooks or ()
        self.discard()
        for fn in hooks:
            try:
                fn()
            except Exception:  # a cache that cannot invalidate itself must not hide the original failure
                log.exception("rollback callback failed")

    def discard(self) -> None:
        self.writes = []
        self.claims = None
        self._commit_hooks = None
        self._rollback_hooks = None
        self._uncached = False
