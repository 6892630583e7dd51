"""Certify role ``dudu-device-backend --enterprise ID``: a vendor's device backend, graded from the journal.

The harness served the vendor's fleet (``harness serve``, /dudu); every exchange is in the journal with its request
and reply. This role reads the exchanges of one enterprise's devices and grades what only the whole history shows:

* DUDU-CERT-HEARTBEAT  heartbeat cadence per device (003 一、3, §3.1; D-DUDU-INTERVAL);
* DUDU-CERT-OFFLINE    every offline swipe and scan logged (003 §4.3, §5.4; D-DUDU-OFFLINE-SEQ);
* DUDU-CERT-LISTS      lists refreshed after a version change (003 §3.1 → §4.1, §4.4; D-DUDU-VERSIONS);
* DUDU-CERT-KEYS       key group refreshed after a rotation, and tickets accepted offline valid under the key group
                       current at the scan (003 §5.2, §5.3; D-DUDU-QR, D-DUDU-KEY-ROTATION).

``run(seed)`` yields the engine's events (harness.conformance.model); the CLI and reporters consume them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.conformance.engine import CheckSet, failed, passed, run, skipped
from harness.conformance.model import Event, Evidence, Requirement
from harness.conformance.roles import SINCE_OPTION, CommonOptions, RoleOption
from harness.conformance.sessions import Window
from harness.dudu import qr
from harness.dudu.rules import parse_time
from harness.errors import ConfigError
from harness.journal import Journal
from harness.schema import open_store
from harness.specs import spec_sha256
from harness.store import Store

CADENCE_SLACK = 1.0  # seconds on top of the interval (network and scheduling jitter)
CADENCE_FACTOR = 2.0  # a gap above 2 × interval + slack is a missed heartbeat
REFRESH_HEARTBEATS = 2  # a device must fetch a changed list before its second heartbeat after the change

CHECKS = CheckSet()
REQUIREMENTS = (
    Requirement(
        "DUDU-CERT-HEARTBEAT", "dudu", "003 一、3; §3.1", "each device heartbeats at the interval the platform returns", "D-DUDU-INTERVAL"
    ),
    Requirement(
        "DUDU-CERT-OFFLINE", "dudu", "003 §4.3; §5.4", "every offline swipe and scan is logged, success or not", "D-DUDU-OFFLINE-SEQ"
    ),
    Requirement("DUDU-CERT-LISTS", "dudu", "003 §3.1 → §4.1, §4.4", "a device fetches a list whose version changed", "D-DUDU-VERSIONS"),
    Requirement("DUDU-CERT-KEYS", "dudu", "003 §5.2, §5.3", "tickets are checked against the current key group", "D-DUDU-KEY-ROTATION"),
)


@dataclass
class Call:
    id: int
    at: float  # epoch seconds of the exchange
    operation: str
    body: dict[str, Any]
    reply: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.reply.get("ret_code") == 0

    def evidence(self) -> Evidence:
        return Evidence(
            note=f"journal #{self.id} {self.operation}",
            request={"method": "POST", "url": f"/dudu/{self.operation}", "body": self.body},
            reply={"status": 200, "body": self.reply},
        )


@dataclass
class Fleet:
    """The journal of one enterprise's devices, per device, oldest first."""

    store: Store
    enterprise_id: str
    calls: dict[str, list[Call]] = field(default_factory=lambda: defaultdict(list))
    key_groups: list[tuple[float, int, dict[int, str]]] = field(default_factory=list)  # (created, version, keys)

    @classmethod
    def load(cls, store: Store, enterprise_id: str, window: Window | None = None) -> Fleet:
        fleet = cls(store, enterprise_id)
        devices = {r["id"] for r in store.query("SELECT id FROM dudu_devices WHERE enterprise_id = ?", (enterprise_id,))}
        for entry in Journal(store).query(platform="dudu", where=(window or Window()).sql(), limit=None, ascending=True):
            try:
                body = json.loads(entry["request_body"] or "null")
            except ValueError:
                continue
            if not isinstance(body, dict) or body.get("device_id") not in devices or not isinstance(entry["reply"], dict):
                continue
            at = dt.datetime.fromisoformat(entry["at"]).timestamp()
            fleet.calls[body["device_id"]].append(Call(entry["id"], at, entry["operation"] or "", body, entry["reply"]))
        for row in store.query(
            "SELECT version_code, keys, created FROM dudu_key_groups WHERE enterprise_id = ? ORDER BY created", (enterprise_id,)
        ):
            keys = {int(k["key_id"]): k["key"] for k in json.loads(row["keys"])}
            fleet.key_groups.append((row["created"], int(row["version_code"]), keys))
        return fleet

    def group_at(self, epoch: float) -> tuple[int, dict[int, str]] | None:
        current = None
        for created, version, keys in self.key_groups:
            if created <= epoch:
                current = (version, keys)
        return current


def _device_list(devices: list[str], limit: int = 5) -> str:
    return ", ".join(devices[:limit]) + (f" (+{len(devices) - limit} more)" if len(devices) > limit else "")


@CHECKS.check(
    "DUDU-CERT-HEARTBEAT",
    title="each device heartbeats at the interval the platform returns",
    clause="003 一、3 (间隔5s(可动态修改)); §3.1; D-DUDU-INTERVAL",
    requirements=("DUDU-CERT-HEARTBEAT",),
)
def heartbeat_cadence(fleet: Fleet) -> Any:
    if not fleet.calls:
        return failed(f"no exchange of enterprise {fleet.enterprise_id}'s devices in the journal")
    late: list[str] = []
    evidence: list[Evidence] = []
    for device, calls in sorted(fleet.calls.items()):
        beats = [c for c in calls if c.operation == "location_report" and c.ok]
        if not beats:
            late.append(f"{device} (no heartbeat)")
            continue
        for prev, cur in zip(beats, beats[1:], strict=False):
            allowed = CADENCE_FACTOR * float(prev.reply.get("heartbeat_interval") or 5) + CADENCE_SLACK
            gap = cur.at - prev.at
            # A gap is excused when the device then catches up on offline logs: it was offline (003 §4.3).
            offline = any(c.operation in ("card_check_log", "offline_qrcode_log") and prev.at < c.at <= cur.at for c in calls)
            if gap > allowed and not offline:
                late.append(f"{device} ({gap:.1f} s > {allowed:.1f} s after journal #{prev.id})")
                evidence.append(cur.evidence())
                break
    if late:
        return failed(f"{len(late)} device(s) missed heartbeats: {_device_list(late)}", *evidence[:3])
    return passed(f"{len(fleet.calls)} device(s) heartbeat on time")


@CHECKS.check(
    "DUDU-CERT-OFFLINE",
    title="every offline swipe and scan is logged (离线刷卡/扫码成功与否均要调用)",
    clause="003 §4.3 刷卡日志接口; §5.4 二维码扫码验票日志接口; D-DUDU-OFFLINE-SEQ",
    requirements=("DUDU-CERT-OFFLINE",),
)
def offline_logged(fleet: Fleet) -> Any:
    missing: list[str] = []
    unaccountable: list[str] = []
    evidence: list[Evidence] = []
    counted = 0
    for device, calls in sorted(fleet.calls.items()):
        beats = [c for c in calls if c.operation == "location_report" and c.ok]
        reported = max((int(c.body.get("offline_seq") or 0) for c in beats), default=0)
        logs = [c for c in calls if c.operation in ("card_check_log", "offline_qrcode_log") and c.ok]
        seqs = {int(c.body["seq"]) for c in logs if c.body.get("seq") is not None}
        if logs and any(c.body.get("seq") is None for c in logs) and not reported:
            unaccountable.append(device)
            continue
        top = max([reported, *seqs], default=0)
        counted += top
        gaps = [s for s in range(1, top + 1) if s not in seqs]
        if gaps:
            missing.append(f"{device} seq {', '.join(map(str, gaps[:10]))}{' …' if len(gaps) > 10 else ''}")
            last = max(beats, key=lambda c: int(c.body.get("offline_seq") or 0), default=None)
            if last is not None:
                evidence.append(last.evidence())
    if missing:
        return failed(f"offline events never logged (003 §4.3): {_device_list(missing)}", *evidence[:3])
    if unaccountable:
        return failed(
            f"offline logs without seq and no offline_seq in heartbeats: cannot prove every swipe was logged: {_device_list(unaccountable)}"
        )
    if counted == 0:
        return skipped("no device reported an offline event")
    return passed(f"{counted} offline event(s), every one logged")


def _refresh_failures(calls: list[Call]) -> list[tuple[str, Call]]:
    out: list[tuple[str, Call]] = []
    beats = [i for i, c in enumerate(calls) if c.operation == "location_report" and c.ok]
    for n, i in enumerate(beats):
        hb = calls[i]
        deadline_index = beats[n + REFRESH_HEARTBEATS] if n + REFRESH_HEARTBEATS < len(beats) else None
        if deadline_index is None:
            continue  # the run ended before the deadline: not graded
        window = calls[i + 1 : deadline_index]
        wants = []
        if hb.reply.get("version_code_all") != str(hb.body.get("version_code_all")) or hb.reply.get("version_code_add") != str(
            hb.body.get("version_code_add")
        ):
            wants.append(("card list", "get_card_list"))
        if hb.reply.get("line_version_code_all") != str(hb.body.get("line_version_code_all")):
            wants.append(("line list", "get_line_card_list"))
        if hb.body.get("key_version_code") is not None and hb.reply.get("version_code") != str(hb.body.get("key_version_code")):
            wants.append(("key group", "get_qrcode_keys"))
        for label, operation in wants:
            if not any(c.operation == operation and c.ok for c in window):
                out.append((label, hb))
    return out


@CHECKS.check(
    "DUDU-CERT-LISTS",
    title="a device fetches a card or line list whose version changed",
    clause="003 §3.1 version_code_all/version_code_add/line_version_code_all → §4.1, §4.4; D-DUDU-VERSIONS",
    requirements=("DUDU-CERT-LISTS",),
)
def lists_refreshed(fleet: Fleet) -> Any:
    stale: list[str] = []
    evidence: list[Evidence] = []
    for device, calls in sorted(fleet.calls.items()):
        for label, hb in _refresh_failures(calls):
            if label != "key group":
                stale.append(f"{device} {label} after journal #{hb.id}")
                evidence.append(hb.evidence())
    if stale:
        return failed(f"lists not fetched within {REFRESH_HEARTBEATS} heartbeats of a version change: {_device_list(stale)}", *evidence[:3])
    return passed("every version change was followed by a fetch")


@CHECKS.check(
    "DUDU-CERT-KEYS",
    title="tickets are checked against the current key group",
    clause="003 §5.2 version_code; §5.3; D-DUDU-QR, D-DUDU-KEY-ROTATION",
    requirements=("DUDU-CERT-KEYS",),
)
def keys_current(fleet: Fleet) -> Any:
    problems: list[str] = []
    evidence: list[Evidence] = []
    graded = 0
    for device, calls in sorted(fleet.calls.items()):
        for label, hb in _refresh_failures(calls):
            if label == "key group":
                problems.append(
                    f"{device} kept key group {hb.body.get('key_version_code')} after rotation to {hb.reply.get('version_code')}"
                )
                evidence.append(hb.evidence())
        for c in calls:
            if c.operation != "offline_qrcode_log" or not c.ok or str(c.body.get("status", "0")) != "0":
                continue
            graded += 1
            scanned = parse_time(c.body.get("time"))
            group = fleet.group_at(scanned.timestamp() if scanned else c.at)
            try:
                ticket = qr.parse(str(c.body["qr_code"]))
            except qr.TicketError:
                problems.append(f"{device} accepted offline a qr_code that is not a ticket (journal #{c.id})")
                evidence.append(c.evidence())
                continue
            key = group[1].get(ticket.key_id) if group else None
            if key is None or not qr.verify(ticket, key):
                problems.append(
                    f"{device} accepted offline a ticket not signed by key group {group[0] if group else '?'} (journal #{c.id})"
                )
                evidence.append(c.evidence())
    if problems:
        return failed(_device_list(problems, 3), *evidence[:3])
    return passed(f"key groups current; {graded} offline-accepted ticket(s) valid under the group of their time")


class DuduDeviceBackendRole:
    """``harness certify dudu-device-backend --enterprise ID``: the checks, as conformance-engine events."""

    name = "dudu-device-backend"
    platform = "dudu"
    description = "A vendor's device backend, graded from the journal of its enterprise's devices"

    def __init__(self, store: Store, enterprise_id: str, *, after_id: int | None = None, window: Window | None = None) -> None:
        self.store = store
        self.enterprise_id = enterprise_id
        self.window = window or Window(after_id=after_id)  # a certification session's, or --since's

    def run(self, seed: int) -> Iterator[Event]:
        fleet = Fleet.load(self.store, self.enterprise_id, self.window)
        yield from run(
            role=self.name,
            platform=self.platform,
            target=f"journal: enterprise {self.enterprise_id}",
            checks=CHECKS,
            context=fleet,
            seed=seed,
            options={"enterprise": self.enterprise_id, **self.window.options()},
            spec_hashes={"dudu/platform.yaml": spec_sha256("dudu/platform.yaml")},
            requirements=REQUIREMENTS,
        )


class DeviceBackendRoleCommand(DuduDeviceBackendRole):
    """The role as ``harness certify dudu-device-backend`` builds it (harness/conformance/roles.py)."""

    summary = "Grade a device vendor's backend (vendor as client of /dudu) from the journal of its enterprise's devices."
    description = (
        "Grade what an enterprise's devices sent to `harness serve` under /dudu: heartbeat cadence per device (003 §3.1), "
        "every offline swipe and scan logged (§4.3, §5.4), card and line lists refreshed after a version change (§4.1, "
        "§4.4), tickets checked against the current key group (§5.2, §5.3)."
    )
    options = (
        RoleOption("enterprise", "The enterprise id (printed by harness dudu enterprise-add).", required=True),
        SINCE_OPTION,
    )

    def __init__(self, common: CommonOptions, enterprise: str, since: int | None = None, window: Window | None = None) -> None:
        store = open_store(common.db)
        if store.query_one("SELECT id FROM dudu_enterprises WHERE id = ?", (enterprise,)) is None:
            raise ConfigError(f"no DUDU enterprise {enterprise!r} in {common.db} (harness dudu enterprise-add)")
        super().__init__(store, enterprise, after_id=since, window=window)
