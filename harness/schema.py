"""The store's composition root: which owners have tables, and the one way to open a complete store.

:mod:`harness.store` knows nothing of its users; each owner exports its tables as a :class:`~harness.store.Schema`
value and this module collects them: the journal, the test CA and vendors, the certification sessions, the ledger, the drill faults
and every platform of the registry (:func:`harness.platforms.state_schemas`).
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import StoreError
from harness.store import Schema, Store


def schemas() -> list[Schema]:
    """Every owner's schema, in the order their tables are created."""
    from harness import faults, journal, ledger, pki
    from harness.conformance import sessions
    from harness.platforms import state_schemas

    return [journal.SCHEMA, pki.SCHEMA, sessions.SCHEMA, ledger.SCHEMA, faults.SCHEMA, *state_schemas()]


def open_existing_store(path: Path | str) -> Store:
    """:func:`open_store` for commands that only read or close what is there (the journal, sessions, finishing one):
    a SQLite file that does not exist is a StoreError naming it, not a fresh empty store left behind at a mistyped
    path."""
    from harness.store_pg import is_url

    if not is_url(path) and str(path) != ":memory:" and not Path(path).is_file():
        raise StoreError(f"no store at {path} (give --db, or HARNESS_DB, the store harness serve uses)")
    return open_store(path)


def open_store(path: Path | str) -> Store:
    """Open the store at ``path`` with every owner's tables, migrated to their current versions: a
    ``postgresql://`` URL opens :class:`harness.store_pg.PostgresStore`, anything else a SQLite file."""
    from harness.store_pg import PostgresStore, is_url

    if is_url(path):
        return PostgresStore(str(path), schemas=schemas())
    return Store(path, schemas=schemas())
