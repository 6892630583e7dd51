"""``harness store copy SQLITE POSTGRES``: every table of a SQLite store into a PostgreSQL store, ids included.

Both stores are opened (and so migrated) first, so the target has every owner's tables at the current version; then,
in one transaction on the target, each table the source holds is emptied and refilled in batches, and the identity
columns move past the largest copied id. The masking key (``harness_keys``) travels with the journal, so the keyed
hashes in copied rows still match what the target hashes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from harness.errors import StoreError

BATCH = 1000
SKIP = ("schema_versions", "harness_changes")  # each store keeps its own


def copy_store(source: Path, target: str, *, force: bool = False) -> list[tuple[str, int]]:
    """Copy ``source`` (SQLite) into ``target`` (a postgresql:// URL); returns (table, rows copied) per table."""
    from harness.schema import open_store
    from harness.store_pg import PostgresStore, is_url

    if not is_url(target):
        raise StoreError(f"the target must be a postgresql:// URL, not {target!r}")
    src = open_store(source)
    dst = open_store(target)
    try:
        assert isinstance(dst, PostgresStore)
        if not force and dst.query_one("SELECT 1 FROM journal LIMIT 1") is not None:
            raise StoreError(f"{dst.path} already holds journal rows: copy into an empty store, or pass --force")
        tables = [
            r[0]
            for r in src.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            if r[0] not in SKIP
        ]
        known = set(dst.tables())
        for table in [t for t in tables if t not in known]:  # made at run time, not by a schema (the test CA's pki_ca)
            ddl = src.query_one("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
            try:
                dst.execute(ddl[0].replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1) if "IF NOT EXISTS" not in ddl[0] else ddl[0])
            except sqlite3.Error as exc:
                raise StoreError(f"the target has no table {table} and it cannot be made there: {exc}") from None
        copied: list[tuple[str, int]] = []
        with dst.transaction() as conn:
            for table in reversed(_parents_first(tables)):  # children first: foreign keys hold
                conn.execute(f"DELETE FROM {table}")
            for table in _parents_first(tables):
                columns = [r[1] for r in src.query(f"PRAGMA table_info({table})")]
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
                count = 0
                for batch in _batches(src, f"SELECT {', '.join(columns)} FROM {table}"):
                    conn.executemany(sql, batch)
                    count += len(batch)
                copied.append((table, count))
        dst.reset_identities()
        return copied
    finally:
        src.close()
        dst.close()


def _parents_first(tables: list[str]) -> list[str]:
    """Tables that others reference first (DUDU's enterprises, lines, devices), so foreign keys hold row by row."""
    order = {"dudu_enterprises": 0, "dudu_lines": 1, "dudu_devices": 2}
    return sorted(tables, key=lambda t: (order.get(t, 3), t))


def _batches(store: object, sql: str) -> Iterator[list[tuple[object, ...]]]:
    conn = store.new_connection()  # type: ignore[attr-defined]
    try:
        rows = (tuple(r) for r in conn.execute(sql))
        while batch := list(islice(rows, BATCH)):
            yield batch
    finally:
        conn.close()
