"""Platform pages: what a person wants to see of a platform's state (DUDU devices, the DYM ledger).

Each section is ``{"title", "note", "columns", "rows", "link"}`` for the one platform template; only what the store
holds and the platform would show anyway (no secret, no key material: DUDU key groups are named by version only).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any

from harness.platform import Platform
from harness.store import Store

log = logging.getLogger("harness.console")

DEVICES_LISTED = 500
ONLINE_INTERVALS = 3  # a device is shown online when its last heartbeat is this many heartbeat intervals old at most
HEARTBEATS_READ = 5000
DEVICE_ID = re.compile(rb'"device_id"\s*:\s*"([^"]{1,64})"')


def _when(epoch: float | None) -> str:
    if epoch is None:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def dudu(store: Store, platform: Platform | None) -> list[dict[str, Any]]:
    from harness.dudu import admin

    now = dt.datetime.now(dt.UTC).timestamp()
    enterprises = {
        r["id"]: dict(r) for r in store.query("SELECT id, name, heartbeat_interval, card_version, key_version FROM dudu_enterprises")
    }
    # The device row's last_heartbeat counts state changes only; the journal holds every heartbeat: the newest
    # HEARTBEATS_READ of them say when each device was last heard from.
    last_seen: dict[str, str] = {}
    for row in store.query(
        "SELECT at, request_body FROM journal WHERE platform = 'dudu' AND operation = 'location_report' ORDER BY id DESC LIMIT ?",
        (HEARTBEATS_READ,),
    ):
        found = DEVICE_ID.search(bytes(row["request_body"] or b""))
        if found is not None:
            last_seen.setdefault(found.group(1).decode("utf-8", "replace"), row["at"])
    rows = []
    for device in admin.devices(store)[:DEVICES_LISTED]:
        interval = int((enterprises.get(device["enterprise_id"]) or {}).get("heartbeat_interval") or 5)
        heard = last_seen.get(device["id"])
        last = dt.datetime.fromisoformat(heard).timestamp() if heard else device["last_heartbeat"]
        online = last is not None and now - float(last) <= ONLINE_INTERVALS * interval
        pending = admin.missing_offline_count(store, device["id"])
        rows.append(
            {
                "device": device["id"],
                "enterprise": device["enterprise_id"],
                "line": device["line_id"] or "",
                "online": "online" if online else "offline",
                "last heartbeat": _when(last),
                "card list (all / add)": f"{device['version_all'] or '-'} / {device['version_add'] or '-'}",
                "line list": device["line_version"] or "-",
                "key version": device["key_version"] or "-",
                "offline_seq": device["offline_seq"],
                "offline logs pending": pending,
            }
        )
    columns = list(rows[0]) if rows else ["device"]
    ent_rows = [
        {
            "enterprise": e["id"],
            "name": e["name"],
            "heartbeat interval (s)": e["heartbeat_interval"],
            "card version": e["card_version"],
            "key version": e["key_version"],
        }
        for e in enterprises.values()
    ]
    return [
        {
            "title": "Enterprises",
            "note": "",
            "columns": ["enterprise", "name", "heartbeat interval (s)", "card version", "key version"],
            "rows": ent_rows,
            "link": None,
        },
        {
            "title": "Devices",
            "note": (
                f"Online: a heartbeat within {ONLINE_INTERVALS} heartbeat intervals (003 §3.1). Offline logs "
                "pending: events the device numbered (offline_seq, D-DUDU-OFFLINE-SEQ) but never logged (003 §4.3, §5.4)."
                + (f" First {DEVICES_LISTED} devices." if len(rows) >= DEVICES_LISTED else "")
            ),
            "columns": columns,
            "rows": rows,
            "link": None,
        },
    ]


def dym(store: Store, platform: Platform | None) -> list[dict[str, Any]]:
    ledger = getattr(platform, "ledger", None)
    if ledger is None:
        return []
    from harness.ledger.log import tree_size

    conn = store.new_connection()
    try:
        size = tree_size(conn)
        latest = ledger.latest(conn)
    finally:
        conn.close()
    rows = [
        {"what": "entries", "value": size},
        {"what": "origin", "value": ledger.origin},
        {"what": "verifier key", "value": str(ledger.verifier)},
    ]
    if latest is not None:
        rows.append({"what": "latest checkpoint", "value": f"size {latest[0].size}, root {latest[0].root.hex()}"})
    link = ("Download the receipt of the newest checkpointed entry", "/console/platform/dym/receipt") if latest and latest[0].size else None
    note = "" if latest else "No checkpoint yet: `harness ledger checkpoint` signs one."
    return [{"title": "Ledger (D-DYM-LEDGER)", "note": note, "columns": ["what", "value"], "rows": rows, "link": link}]


PAGES: dict[str, Callable[[Store, Platform | None], list[dict[str, Any]]]] = {"dudu": dudu, "dym": dym}


def details(store: Store, name: str, platform: Platform | None = None) -> dict[str, Any]:
    page = PAGES.get(name)
    if page is None:
        return {"sections": []}
    try:
        return {"sections": page(store, platform)}
    except Exception as exc:  # a page that cannot be read says so; the console itself stays up
        log.warning("platform page %s: %s", name, exc)
        return {"sections": [{"title": "Unavailable", "note": f"{type(exc).__name__}: {exc}", "columns": [], "rows": [], "link": None}]}


def dym_receipt(store: Store, platform: Platform | None) -> dict[str, Any] | None:
    """The receipt (harness ledger receipt) of the newest entry the latest checkpoint covers, or None."""
    ledger = getattr(platform, "ledger", None)
    if ledger is None:
        return None
    conn = store.new_connection()
    try:
        latest = ledger.latest(conn)
        if latest is None or latest[0].size == 0:
            return None
        return dict(ledger.receipt(conn, latest[0].size - 1))
    finally:
        conn.close()
