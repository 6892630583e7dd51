"""Managing the DUDU reference data: enterprises, lines, devices, card lists, key groups (CLI and control use these).

Every change to a card list bumps its version counter in the same transaction, so a version a device holds always
names one exact state (D-DUDU-VERSIONS).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
import secrets
import sqlite3
import time
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from harness import masking
from harness.dudu import qr
from harness.errors import HarnessError
from harness.store import Store

ENTERPRISE_SETTINGS = (
    "check_mode",
    "check_card_mode",
    "qrcode_mode",
    "card_mode",
    "white_mode",
    "is_line_white",
    "check_start",
    "check_end",
    "heartbeat_interval",
)


class DuduError(HarnessError):
    """A DUDU reference-data operation cannot be done (unknown enterprise, line or device)."""


# The longest id a device can send for each (specs/dudu/platform.yaml: enterprise_id, device_id, card_no maxLength);
# a line id is never sent by a device, so it is held to the device id's bound.
ID_LIMITS = {"enterprise id": 32, "line id": 64, "device id": 64, "card number": 32}
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]")


def check_id(kind: str, value: str) -> str:
    """An id the platform can match against what a device sends: not empty, no surrounding spaces or control
    characters, within the spec's length. Refused before anything is written (one line, exit 2 on the CLI)."""
    limit = ID_LIMITS[kind]
    if not value or value.strip() != value or len(value) > limit or any(unicodedata.category(c)[0] == "C" for c in value):
        raise DuduError(f"a DUDU {kind} is 1–{limit} characters without spaces around it or control characters, not {value[:40]!r}")
    return value


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Enterprise:
    id: str
    name: str
    secret: str


# The get_token secret of enterprises made by `harness dudu fleet` unless --secret says otherwise, and the fleet
# simulator's default: a load-test fixture on a mock platform, so that `harness dudu fleet 398` followed by the plain
# `locust -f loadtests/dudu_fleet.py …` works. Enterprises made with enterprise-add get a random secret.
FLEET_SECRET = "fleet-secret"


def add_enterprise(store: Store, enterprise_id: str, name: str = "", secret: str | None = None, **settings: Any) -> Enterprise:
    """Create an enterprise with its first key group and settings, in one transaction; returns it with its access
    secret in clear (the one time it is shown: the store keeps only its keyed hash, D-DUDU-TOKEN)."""
    check_id("enterprise id", enterprise_id)
    changes = _settings(settings)
    secret = secret or secrets.token_hex(16)
    kept = masking.hide(store, secret)
    with _creating(enterprise_id), store.transaction() as conn:
        _insert_enterprise(conn, enterprise_id, name, kept, changes)
    return Enterprise(enterprise_id, name or enterprise_id, secret)


def add_fleet(
    store: Store, enterprise_id: str, device_ids: Iterable[str], line_id: str, cards: list[str], secret: str = FLEET_SECRET
) -> Enterprise:
    """An enterprise, one line, its devices and a whitelist (enterprise and line) in one transaction: a failure (the
    enterprise or line exists) leaves nothing behind."""
    check_id("enterprise id", enterprise_id)
    check_id("line id", line_id)
    device_ids = [check_id("device id", d) for d in device_ids]
    cards = [check_id("card number", c) for c in cards]
    kept = masking.hide(store, secret)
    with _creating(enterprise_id), store.transaction() as conn:
        _insert_enterprise(conn, enterprise_id, "", kept, {})
        conn.execute("INSERT INTO dudu_lines (id, enterprise_id, name) VALUES (?, ?, ?)", (line_id, enterprise_id, line_id))
        conn.executemany(
            "INSERT INTO dudu_devices (id, enterprise_id, line_id, created) VALUES (?, ?, ?, ?)",
            [(d, enterprise_id, line_id, _now()) for d in device_ids],
        )
        if cards:
            conn.executemany(
                "INSERT INTO dudu_cards (enterprise_id, card_no, flag, blacklisted, version) VALUES (?, ?, 1, 0, 1)",
                [(enterprise_id, c) for c in cards],
            )
            conn.execute("UPDATE dudu_enterprises SET card_version = 1 WHERE id = ?", (enterprise_id,))
            conn.executemany("INSERT INTO dudu_line_cards (line_id, card_no, flag) VALUES (?, ?, 1)", [(line_id, c) for c in cards])
            conn.execute("UPDATE dudu_lines SET version = 1 WHERE id = ?", (line_id,))
    return Enterprise(enterprise_id, enterprise_id, secret)


def secret_matches(store: Store, stored: str | None, given: str) -> bool:
    """get_token's secret check in constant time: the given secret is hashed whether or not the enterprise exists
    (``stored`` None), and compared with ``hmac.compare_digest``. A secret stored in clear (a store made before
    secrets were hashed) is hashed first, so it compares the same way."""
    offered = masking.hide(store, given).encode()
    expected = masking.hide(store, stored).encode() if stored is not None else _UNKNOWN
    return hmac.compare_digest(offered, expected) and stored is not None


_UNKNOWN = (masking.SECRET_PREFIX + "0" * 32 + ":…").encode()


@contextmanager
def _creating(enterprise_id: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise DuduError(f"cannot create DUDU enterprise {enterprise_id}: it (or its line or a device) already exists ({exc})") from None


def _settings(settings: dict[str, Any]) -> dict[str, Any]:
    changes = {k: v for k, v in settings.items() if v is not None}
    unknown = set(changes) - set(ENTERPRISE_SETTINGS)
    if unknown:
        raise DuduError(f"unknown enterprise setting(s): {', '.join(sorted(unknown))}")
    for key in ("check_start", "check_end"):  # the heartbeat reply sends "<today> HH:MM:SS" (D-DUDU-CHECK-WINDOW)
        if key in changes and not _CLOCK.fullmatch(str(changes[key])):
            raise DuduError(f"--{key.replace('_', '-')} is a time of day HH:MM:SS (00:00:00–23:59:59), not {str(changes[key])[:40]!r}")
    return changes


def _insert_enterprise(conn: Any, enterprise_id: str, name: str, kept_secret: str, changes: dict[str, Any]) -> None:
    version = int(time.time())
    conn.execute(
        "INSERT INTO dudu_enterprises (id, name, secret, key_version, created) VALUES (?, ?, ?, ?, ?)",
        (enterprise_id, name or enterprise_id, kept_secret, version, _now()),
    )
    conn.execute(
        "INSERT INTO dudu_key_groups (enterprise_id, version_code, keys, created) VALUES (?, ?, ?, ?)",
        (enterprise_id, version, json.dumps(qr.new_key_group()), time.time()),
    )
    if changes:
        conn.execute(
            f"UPDATE dudu_enterprises SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?", (*changes.values(), enterprise_id)
        )


def configure(store: Store, enterprise_id: str, **settings: Any) -> None:
    """Change an enterprise's switches, check window or heartbeat interval (the heartbeat reply carries them)."""
    changes = _settings(settings)
    if not changes:
        return
    _enterprise(store, enterprise_id)
    assignments = ", ".join(f"{k} = ?" for k in changes)
    store.execute(f"UPDATE dudu_enterprises SET {assignments} WHERE id = ?", (*changes.values(), enterprise_id))


def _enterprise(store: Store, enterprise_id: str) -> Any:
    row = store.query_one("SELECT * FROM dudu_enterprises WHERE id = ?", (enterprise_id,))
    if row is None:
        raise DuduError(f"no DUDU enterprise {enterprise_id}")
    return row


def add_line(store: Store, enterprise_id: str, line_id: str, name: str = "") -> None:
    check_id("line id", line_id)
    _enterprise(store, enterprise_id)
    store.execute("INSERT INTO dudu_lines (id, enterprise_id, name) VALUES (?, ?, ?)", (line_id, enterprise_id, name or line_id))


def add_device(store: Store, enterprise_id: str, device_id: str, line_id: str | None = None) -> None:
    check_id("device id", device_id)
    _enterprise(store, enterprise_id)
    _check_line(store, enterprise_id, line_id)
    store.execute(
        "INSERT INTO dudu_devices (id, enterprise_id, line_id, created) VALUES (?, ?, ?, ?)", (device_id, enterprise_id, line_id, _now())
    )


def add_devices(store: Store, enterprise_id: str, device_ids: Iterable[str], line_id: str | None = None) -> int:
    """Register many devices in one transaction (fleets for load tests); a device already registered is kept as it is."""
    device_ids = [check_id("device id", d) for d in device_ids]
    _enterprise(store, enterprise_id)
    _check_line(store, enterprise_id, line_id)
    rows = [(d, enterprise_id, line_id, _now()) for d in device_ids]
    store.executemany("INSERT INTO dudu_devices (id, enterprise_id, line_id, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", rows)
    return len(rows)


def _check_line(store: Store, enterprise_id: str, line_id: str | None) -> None:
    if line_id is not None:
        line = store.query_one("SELECT enterprise_id FROM dudu_lines WHERE id = ?", (line_id,))
        if line is None or line["enterprise_id"] != enterprise_id:
            raise DuduError(f"no line {line_id} in enterprise {enterprise_id}")


def set_cards(store: Store, enterprise_id: str, cards: Iterable[str], *, flag: int = 1, blacklisted: bool = False) -> int:
    """Add or change whitelist entries (a blacklisted card is delivered with flag 0: D-DUDU-BLACKLIST); returns the new version."""
    cards = [check_id("card number", c) for c in cards]
    with store.transaction() as conn:
        row = conn.execute("SELECT card_version FROM dudu_enterprises WHERE id = ?", (enterprise_id,)).fetchone()
        if row is None:
            raise DuduError(f"no DUDU enterprise {enterprise_id}")
        version = row["card_version"] + 1
        conn.executemany(
            "INSERT INTO dudu_cards (enterprise_id, card_no, flag, blacklisted, version) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (enterprise_id, card_no) DO UPDATE SET flag = excluded.flag, blacklisted = excluded.blacklisted,"
            " version = excluded.version",
            [(enterprise_id, c, 0 if blacklisted else flag, int(blacklisted), version) for c in cards],
        )
        conn.execute("UPDATE dudu_enterprises SET card_version = ? WHERE id = ?", (version, enterprise_id))
    return version


def reset_cards(store: Store, enterprise_id: str) -> int:
    """A full rebuild: version_code_all moves to the current counter, so every device must fetch type 1 (D-DUDU-VERSIONS)."""
    with store.transaction() as conn:
        row = conn.execute("SELECT card_version FROM dudu_enterprises WHERE id = ?", (enterprise_id,)).fetchone()
        if row is None:
            raise DuduError(f"no DUDU enterprise {enterprise_id}")
        version = row["card_version"] + 1
        conn.execute("UPDATE dudu_cards SET version = ? WHERE enterprise_id = ?", (version, enterprise_id))
        conn.execute("UPDATE dudu_enterprises SET card_version = ?, card_full_version = ? WHERE id = ?", (version, version, enterprise_id))
    return version


def set_line_cards(store: Store, line_id: str, cards: Iterable[str], *, flag: int = 1) -> int:
    cards = [check_id("card number", c) for c in cards]
    with store.transaction() as conn:
        row = conn.execute("SELECT version FROM dudu_lines WHERE id = ?", (line_id,)).fetchone()
        if row is None:
            raise DuduError(f"no DUDU line {line_id}")
        conn.executemany(
            "INSERT INTO dudu_line_cards (line_id, card_no, flag) VALUES (?, ?, ?)"
            " ON CONFLICT (line_id, card_no) DO UPDATE SET flag = excluded.flag",
            [(line_id, c, flag) for c in cards],
        )
        conn.execute("UPDATE dudu_lines SET version = ? WHERE id = ?", (row["version"] + 1, line_id))
    return row["version"] + 1


def rotate_keys(store: Store, enterprise_id: str) -> int:
    """A new key group; its version_code is epoch seconds, bumped to stay increasing (D-DUDU-KEY-ROTATION)."""
    with store.transaction() as conn:
        row = conn.execute("SELECT key_version FROM dudu_enterprises WHERE id = ?", (enterprise_id,)).fetchone()
        if row is None:
            raise DuduError(f"no DUDU enterprise {enterprise_id}")
        version = max(int(time.time()), row["key_version"] + 1)
        conn.execute(
            "INSERT INTO dudu_key_groups (enterprise_id, version_code, keys, created) VALUES (?, ?, ?, ?)",
            (enterprise_id, version, json.dumps(qr.new_key_group()), time.time()),
        )
        conn.execute(
            "UPDATE dudu_enterprises SET previous_key_version = key_version, key_version = ?, rotated_at = ? WHERE id = ?",
            (version, time.time(), enterprise_id),
        )
    return version


def key_group(store: Store, enterprise_id: str, version: int | None = None) -> tuple[int, list[dict[str, Any]]]:
    """(version_code, keys) of the current group, or of ``version``."""
    if version is None:
        version = _enterprise(store, enterprise_id)["key_version"]
    row = store.query_one("SELECT keys FROM dudu_key_groups WHERE enterprise_id = ? AND version_code = ?", (enterprise_id, version))
    if row is None:
        raise DuduError(f"enterprise {enterprise_id} has no key group {version}")
    return int(version), json.loads(row["keys"])


def make_ticket(
    store: Store, enterprise_id: str, *, uid: str = "rider", key_id: int = 1, iat: int | None = None, lifetime: int = qr.DEFAULT_LIFETIME
) -> str:
    """Issue a QR ticket signed with the enterprise's current key group (`harness qr dudu make`)."""
    _, keys = key_group(store, enterprise_id)
    key = next((k["key"] for k in keys if k["key_id"] == key_id), None)
    if key is None:
        raise DuduError(f"key_id {key_id} is not in the key group (1–{len(keys)})")
    return qr.make(key_id, key, eid=enterprise_id, uid=uid, iat=int(time.time()) if iat is None else iat, lifetime=lifetime)


MISSING_LISTED = 1000  # harness missing lists at most this many numbers (offline_seq may be up to 2^63 − 1)


def missing_offline(store: Store, device_id: str, limit: int = MISSING_LISTED) -> list[int]:
    """Offline events the device numbered (heartbeat offline_seq) but never logged (D-DUDU-OFFLINE-SEQ), lowest
    first, at most ``limit`` of them: the walk visits only the logged numbers and the ones it lists, so a device
    that reports offline_seq 2^63 − 1 costs no more than one that reports 5. :func:`missing_offline_count` counts them."""
    device = store.query_one("SELECT offline_seq FROM dudu_devices WHERE id = ?", (device_id,))
    if device is None:
        raise DuduError(f"no DUDU device {device_id}")
    highest = device["offline_seq"]
    logged = {
        r["seq"] for r in store.query("SELECT seq FROM dudu_offline_logs WHERE device_id = ? AND seq BETWEEN 1 AND ?", (device_id, highest))
    }
    found: list[int] = []
    seq = 1
    while seq <= highest and len(found) < limit:
        if seq not in logged:
            found.append(seq)
        seq += 1
    return found


def missing_offline_count(store: Store, device_id: str) -> int:
    """How many offline events the device numbered but never logged (the full count :func:`missing_offline` cuts)."""
    device = store.query_one("SELECT offline_seq FROM dudu_devices WHERE id = ?", (device_id,))
    if device is None:
        raise DuduError(f"no DUDU device {device_id}")
    row = store.query_one(
        "SELECT COUNT(DISTINCT seq) AS n FROM dudu_offline_logs WHERE device_id = ? AND seq BETWEEN 1 AND ?",
        (device_id, device["offline_seq"]),
    )
    return int(device["offline_seq"]) - int(row["n"])


def devices(store: Store, enterprise_id: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM dudu_devices" + (" WHERE enterprise_id = ?" if enterprise_id else "") + " ORDER BY id"
    return [dict(r) for r in store.query(sql, (enterprise_id,) if enterprise_id else ())]
