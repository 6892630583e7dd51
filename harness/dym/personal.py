"""DYM personal data at rest: what the platform keeps about people and enterprises is sealed (harness/sealing.py).

Sealed, each under its own associated data (``dym-personal:<table>.<column>``): a driver's ID number, name, mobile and
plate; every bound plate and trailer plate; an enterprise's unified social credit code, name and mobile; an enterprise
application's unified code. A copy of the database (a backup, ``harness store copy``, a file sent with a bug report)
holds none of them in clear.

Where the platform looks rows up or enforces uniqueness by such a value (a claimed ID number, a mobile or plate in
driver/lookup, a claimed USCC) the row carries a keyed blind index beside the sealed value: HMAC-SHA256 of the
normalised value under a key derived from the sealing key (so a copy of the store cannot be searched by guessing
values either), with the kind of value bound in, so the same text as a plate and as a mobile indexes differently.
Normalised as the platform compares: an ID number upper-cased (``x`` → ``X``, D-DYM-ID-CHECK), the others as sent.
"""

from __future__ import annotations

import hashlib
import hmac
import weakref
from typing import Any

from harness import sealing

PURPOSE = "dym-personal"
_INDEX_KEYS: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()

# (table, column) sealed at rest, and the blind index column beside those looked up by value.
SEALED = {
    "dym_drivers": ("id_no", "name", "mobile", "plate"),
    "dym_vehicles": ("plate", "trailer_plate"),
    "dym_enterprises": ("uscc", "name", "mobile"),
    "dym_apps": ("uscc",),
}
INDEXED = {
    ("dym_drivers", "id_no"): "id_no",
    ("dym_drivers", "mobile"): "mobile",
    ("dym_vehicles", "plate"): "plate",
    ("dym_enterprises", "uscc"): "uscc",
}


def normalise(kind: str, value: str) -> str:
    return value.upper() if kind == "id_no" else value


def index_key(store: Any) -> bytes:
    """The blind-index key: HMAC-SHA256(seal key, a fixed label), so it changes with the sealing key and nothing else."""
    key = _INDEX_KEYS.get(store)
    if key is None:
        key = _INDEX_KEYS[store] = hmac.new(sealing.seal_key(store), b"harness dym blind index v1", hashlib.sha256).digest()
    return key


def blind(store: Any, kind: str, value: str) -> str:
    """The blind index of ``value`` as a ``kind`` (``id_no``, ``mobile``, ``plate``, ``uscc``): 64 hex digits."""
    text = f"{kind}\0{normalise(kind, value)}".encode("utf-8", "surrogatepass")
    return hmac.new(index_key(store), text, hashlib.sha256).hexdigest()


def seal(store: Any, table: str, column: str, value: str | None) -> str | None:
    """``value`` sealed for ``table.column`` (None stays None)."""
    return None if value is None else sealing.seal(store, value, f"{PURPOSE}:{table}.{column}")


def open_(store: Any, table: str, column: str, stored: Any) -> str | None:
    """The value :func:`seal` sealed (a value stored in clear before sealing existed comes back as it is)."""
    return None if stored is None else sealing.unseal(store, stored, f"{PURPOSE}:{table}.{column}").decode("utf-8")


def open_row(store: Any, table: str, row: Any) -> dict[str, Any]:
    """A row of ``table`` as a dict with its sealed columns opened."""
    out = dict(row)
    for column in SEALED[table]:
        if column in out:
            out[column] = open_(store, table, column, out[column])
    return out


def migrate_rows(store: Any, conn: Any) -> None:
    """Schema step: seal the personal data of rows stored in clear and fill their blind indexes (idempotent).

    On SQLite the old clear values must not linger in the file's free space: ``secure_delete`` zeroes what the updates
    replace and the pages of the dropped indexes on clear values (PostgreSQL keeps dead row versions until VACUUM:
    docs/dym.md says to run ``VACUUM FULL`` on the DYM tables after upgrading a store that held clear data)."""
    sqlite = getattr(store, "dialect", "sqlite") == "sqlite"
    if sqlite:
        conn.execute("PRAGMA secure_delete = ON")
    for index in ("dym_drivers_mobile", "dym_vehicles_plate"):
        conn.execute(f"DROP INDEX IF EXISTS {index}")
    for table, columns in SEALED.items():
        keys = {"dym_drivers": ("driver_code",), "dym_vehicles": ("driver_code", "plate"), "dym_enterprises": ("enterprise_code",)}.get(
            table, ("app_id",)
        )
        for found in conn.execute(f"SELECT * FROM {table}").fetchall():
            row = dict(found)
            sets: dict[str, Any] = {}
            for column in columns:
                value = row[column]
                if value is not None and not sealing.is_sealed(value):
                    sets[column] = seal(store, table, column, value)
                index = INDEXED.get((table, column))
                if index is not None and value is not None:
                    sets[f"{index}_bi"] = blind(store, index, open_(store, table, column, value))
            if sets:
                assignments = ", ".join(f"{c} = ?" for c in sets)
                where = " AND ".join(f"{k} = ?" for k in keys)
                conn.execute(f"UPDATE {table} SET {assignments} WHERE {where}", (*sets.values(), *(row[k] for k in keys)))
    if sqlite:
        conn.execute("PRAGMA secure_delete = OFF")
