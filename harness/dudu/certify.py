"""Certify role ``dudu-device-backend --enterprise ID``: a vendor's device backend, graded from the journal.

The harness served the vendor's fleet (``harness serve``, /dudu); every exchange is in the journal with its request,
its reply and the verdict of every rule the reference evaluated. This role reads the exchanges of one enterprise's
devices (:func:`load_fleet`, the one place it reads the journal) and grades what only the whole history shows:

* DUDU-CERT-HEARTBEAT        heartbeat cadence per device (003 一、3, §3.1; D-DUDU-INTERVAL);
* DUDU-CERT-OFFLINE          every offline swipe and scan logged, and no two records under one seq (003 §4.3, §5.4;
                             D-DUDU-OFFLINE-SEQ, D-DUDU-DUP-LOG);
* DUDU-CERT-OUTAGE           every swipe and scan made while a drill fault kept the platform from answering (harness
                             faults, docs/faults.md) logged after it returned (SHOULD: D-DUDU-OUTAGE-FALLBACK);
* DUDU-CERT-LISTS            lists refreshed after a version change (003 §3.1 → §4.1, §4.4; D-DUDU-VERSIONS);
* DUDU-CERT-KEYS             key group refreshed after a rotation (003 §5.2; D-DUDU-KEY-ROTATION);
* DUDU-CERT-OFFLINE-CARDS    each offline card decision replayed against the whitelist the device held at the swipe;
* DUDU-CERT-OFFLINE-STATUS   a refused card logged with the seed's reason (status 1 / 2), SHOULD;
* DUDU-CERT-OFFLINE-TICKETS  each offline ticket decision replayed against the key group the device held at the scan;
* DUDU-CERT-CALLS            every failed verdict of the enterprise's calls, refused or not: a failed MUST verdict fails
                             naming its clause, a failed SHOULD verdict is a WARNING naming its decision;
* DUDU-CERT-ONLINE-OUTCOMES  online checks the reference refused because of the rider's card or ticket (REVIEW).

A key fetch (get_qrcode_keys: ``req_id`` and ``token`` only, 003 §5.2) carries no device_id. It is credited to the
device its ``req_id`` names, else to the devices that used its token (tokens are issued per enterprise, D-DUDU-TOKEN,
and a backend may share one), else, when the token served no device call, to every device of the enterprise: the
backend fetched the group for all of them (003 一、4/5: the device backend talks to 嘟嘟 for its devices).

Exchanges a drill fault denied (the journal's ``fault`` column: down, status, reset, malformed, truncated) are the
harness's doing: they carry no verdict and DUDU-CERT-CALLS skips them; a heartbeat attempt they denied still counts for
cadence; DUDU-CERT-OUTAGE grades what the device did about them.

``run(seed)`` yields the engine's events (harness.conformance.model); the CLI and reporters consume them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness import limits
from harness.conformance.engine import CheckSet, failed, passed, review, skipped
from harness.conformance.findings import Finding, call_evidence, capped, journal_url
from harness.conformance.model import Event, Evidence
from harness.conformance.roles import SINCE_OPTION, CommonOptions, RoleOption, grade_journal, open_subject_store
from harness.conformance.sessions import Window
from harness.dudu import qr
from harness.dudu.rules import parse_time
from harness.journal import Journal
from harness.store import Store

CADENCE_SLACK = 1.0  # seconds on top of the interval (network and scheduling jitter)
CADENCE_FACTOR = 2.0  # a gap above 2 × interval + slack is a missed heartbeat
SLOW_MIN_GAPS = 3  # the fewest unexcused heartbeat gaps a steady cadence is judged on
REFRESH_HEARTBEATS = 2  # a device must fetch a changed list before its second heartbeat after the change
LOG_OPS = ("card_check_log", "offline_qrcode_log")
ONLINE_OPS = ("card_check", "ticket_check")
# Rules whose refusal is the platform's answer about the rider's card or ticket (003 §4.2/§5.3 sound_no): the device
# asked correctly and must play the prompt; nothing the device did is wrong. DUDU-CERT-ONLINE-OUTCOMES lists them.
OUTCOME_RULES = frozenset(
    {
        "DUDU-CARD-BLACKLIST",
        "DUDU-CARD-WHITELIST",
        "DUDU-CARD-FLAG",
        "DUDU-CARD-LINE",
        "DUDU-CHECK-WINDOW",
        "DUDU-QR-FORMAT",
        "DUDU-QR-ENTERPRISE",
        "DUDU-QR-KEY",
        "DUDU-QR-KEY-GROUP",
        "DUDU-QR-EXPIRY",
        "DUDU-QR-REUSE",
    }
)
SECRET_FIELDS = frozenset({"secret", "token", "key"})  # never in clear in a report
SPEC_FILES = ("dudu/platform.yaml", "dudu/requirements.yaml", "decisions.yaml")

CHECKS = CheckSet()


@dataclass
class Call:
    id: int
    at: float  # epoch seconds of the exchange (journal)
    operation: str
    body: dict[str, Any]
    reply: dict[str, Any]
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""  # as sent, session prefix included (journal_url)
    fault: str | None = None  # the drill fault applied to it (kind#rule, harness/faults.py)

    @property
    def denied(self) -> bool:
        """A drill fault kept the device from getting its answer (a delay fault does not)."""
        return self.fault is not None and not self.fault.startswith("delay#")

    @property
    def ok(self) -> bool:
        return self.reply.get("ret_code") == 0

    @property
    def sent(self) -> bool:
        """Accepted, or refused only for SHOULD verdicts (a form the seed shows that another reading refuses): the
        device did what the step asks; DUDU-CERT-CALLS reports the form as a WARNING."""
        if self.ok:
            return True
        failing = [v for v in self.verdicts if not v.get("held")]
        return bool(failing) and all(v.get("level") == "SHOULD" for v in failing)

    @property
    def device_time(self) -> float | None:
        """The device's own clock (``time``, D-DUDU-TIME) in epoch seconds, or None."""
        parsed = parse_time(self.body.get("time"))
        return parsed.timestamp() if parsed is not None else None

    def evidence(self, note: str = "") -> Evidence:
        return call_evidence(
            self.id, self.operation, self.url or f"/dudu/{self.operation}", self.body, self.reply, note, hidden=SECRET_FIELDS
        )


@dataclass
class Fleet:
    """The journal of one enterprise's devices, per device, oldest first (key fetches credited as described above)."""

    store: Store
    enterprise_id: str
    after_id: int | None = None
    session: str | None = None  # the certification session graded (None: --since or the whole journal)
    devices: list[str] = field(default_factory=list)
    calls: dict[str, list[Call]] = field(default_factory=lambda: defaultdict(list))
    # get_token and get_qrcode_keys of the enterprise, and the calls sent under the session's base path naming none of
    # its devices or tokens
    enterprise_calls: list[Call] = field(default_factory=list)
    key_fetches: dict[int, set[str]] = field(default_factory=dict)  # journal id of a get_qrcode_keys → devices credited
    key_groups: dict[int, dict[int, str]] = field(default_factory=dict)  # version_code → {key_id: key}
    _snapshots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lists: dict[Any, dict[str, int]] = field(default_factory=dict)  # held lists by how they were built, shared
    _histories: dict[str, History] = field(default_factory=dict)

    def all_calls(self) -> list[Call]:
        """Every call of the enterprise once (a key fetch credited to several devices counts once)."""
        seen: dict[int, Call] = {c.id: c for c in self.enterprise_calls}
        for calls in self.calls.values():
            for c in calls:
                seen.setdefault(c.id, c)
        return [seen[i] for i in sorted(seen)]

    def delivered_list(self, reply: dict[str, Any]) -> list[dict[str, Any]]:
        """A card or line list as delivered: inline, or the snapshot the journal row names (dudu_list_snapshots)."""
        listed = reply.get("list")
        if isinstance(listed, list):
            return listed
        if not isinstance(listed, dict) or not listed.get("snapshot_sha256"):
            return []
        digest = str(listed["snapshot_sha256"])
        if digest not in self._snapshots:
            row = self.store.query_one("SELECT body FROM dudu_list_snapshots WHERE sha256 = ?", (digest,))
            self._snapshots[digest] = json.loads(row["body"]) if row is not None else []
        return self._snapshots[digest]

    def held_list(self, base: tuple[Any, dict[str, int] | None], reply: dict[str, Any], replace: bool) -> tuple[Any, dict[str, int]]:
        """(key, card → flag) after a fetch: the delivered list, or ``base`` updated with it. Devices that built the same
        list the same way share one dict (read-only): 10,000 devices need not each copy a 1,000-card list."""
        listed = reply.get("list")
        digest = listed.get("snapshot_sha256") if isinstance(listed, dict) else None
        delivered = {str(e.get("card_no")): int(e.get("flag", 0)) for e in self.delivered_list(reply)} if digest is None else None
        shareable = digest is not None and (replace or base[0] is not None)
        key = (None if replace else base[0], digest) if shareable else None
        if key is not None and key in self._lists:
            return key, self._lists[key]
        if delivered is None:
            delivered = {str(e.get("card_no")): int(e.get("flag", 0)) for e in self.delivered_list(reply)}
        held = delivered if replace or base[1] is None else {**base[1], **delivered}
        if key is not None:
            self._lists[key] = held
        return key, held


def _device_named(req_id: Any, devices: set[str]) -> str | None:
    """The device a req_id names: the device id itself, or the device id followed by a separator (``DEV1-keys``)."""
    if not isinstance(req_id, str) or not req_id:
        return None
    if req_id in devices:
        return req_id
    head = re.split(r"[^0-9A-Za-z]", req_id, maxsplit=1)[0]
    return head if head in devices and head != req_id else None


def load_fleet(store: Store, enterprise_id: str, window: Window | int | None = None) -> Fleet:
    """Read the journal once: every call of the enterprise's devices and of its tokens in ``window`` (a certification
    session's, or everything after a journal id; fuzz traffic never)."""
    if not isinstance(window, Window):
        window = Window(after_id=window)
    fleet = Fleet(store, enterprise_id, window.after_id, window.session)
    devices = {r["id"] for r in store.query("SELECT id FROM dudu_devices WHERE enterprise_id = ?", (enterprise_id,))}
    fleet.devices = sorted(devices)
    tokens = {r["token"] for r in store.query("SELECT token FROM dudu_tokens WHERE enterprise_id = ?", (enterprise_id,))}
    token_users: dict[str, set[str]] = defaultdict(set)
    key_calls: list[Call] = []
    for entry in Journal(store).query(platform="dudu", where=window.sql(), limit=None, ascending=True):
        # Sent under this session's base path: the vendor's, even when it names no device or token of the enterprise
        # (device_id missing or unknown, a token never issued, a body that is no JSON object): graded as its refused
        # calls (docs/certify.md), never dropped as "not the enterprise's".
        tagged = window.session is not None and entry.get("session") == window.session
        try:
            body = limits.loads(entry["request_body"] or "null")
        except ValueError:
            if not tagged:
                continue  # not JSON: no device or token to attribute it to
            body = {}
        reply = entry["reply"] if isinstance(entry["reply"], dict) else {} if entry.get("fault") else None
        if not isinstance(body, dict) and tagged:
            body = {}
        if not isinstance(body, dict) or reply is None:
            continue
        at = dt.datetime.fromisoformat(entry["at"]).timestamp()
        call = Call(entry["id"], at, entry["operation"] or "", body, reply, entry["verdicts"], journal_url(entry), entry.get("fault"))
        device = body.get("device_id")
        if isinstance(device, str) and device in devices:
            fleet.calls[device].append(call)
            if isinstance(body.get("token"), str):
                token_users[body["token"]].add(device)
        elif call.operation == "get_token" and str(body.get("enterprise_id")) == enterprise_id:
            fleet.enterprise_calls.append(call)
            if call.ok and isinstance(call.reply.get("token"), str):
                tokens.add(call.reply["token"])
        elif call.operation == "get_qrcode_keys" and body.get("token") in tokens:
            fleet.enterprise_calls.append(call)
            key_calls.append(call)
        elif tagged:
            fleet.enterprise_calls.append(call)
    for call in key_calls:
        named = _device_named(call.body.get("req_id"), devices)
        credited = {named} if named else set(token_users.get(str(call.body.get("token")), ())) or set(devices)
        fleet.key_fetches[call.id] = credited
        for device in credited:
            fleet.calls[device].append(call)
    for calls in fleet.calls.values():
        calls.sort(key=lambda c: c.id)
    for row in store.query("SELECT version_code, keys FROM dudu_key_groups WHERE enterprise_id = ?", (enterprise_id,)):
        fleet.key_groups[int(row["version_code"])] = {int(k["key_id"]): k["key"] for k in json.loads(row["keys"])}
    return fleet


def _device_list(items: list[str], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _beats(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.operation == "location_report" and c.sent]


# --- cadence ---------------------------------------------------------------------------------------------------------
@CHECKS.check(
    "DUDU-CERT-HEARTBEAT",
    title="each device heartbeats at the interval the platform returns",
    clause="003 一、3 (间隔5s(可动态修改)); §3.1; D-DUDU-INTERVAL",
    requirements=("DUDU-CERT-HEARTBEAT",),
    level="MUST",
)
def heartbeat_cadence(fleet: Fleet) -> Any:
    if not any(fleet.calls.values()):
        return failed(f"no exchange of enterprise {fleet.enterprise_id}'s devices in the journal: no device heartbeat (003 一、3)")
    late: list[str] = []
    evidence: list[Evidence] = []
    slow: list[str] = []
    slow_evidence: list[Evidence] = []
    for device in fleet.devices:
        calls = fleet.calls.get(device, [])
        if not calls:
            continue  # a registered device that never called is not part of the graded fleet
        if not _beats(calls):
            late.append(f"{device} (no accepted heartbeat)")
            continue
        # A heartbeat a drill fault denied was still sent on time: it counts, at the interval last returned.
        beats = [c for c in calls if c.operation == "location_report" and (c.sent or c.denied)]
        interval = 5.0
        steady: list[tuple[float, float, Call]] = []  # (gap, interval asked, heartbeat) of the gaps within the tolerance
        for prev, cur in zip(beats, beats[1:], strict=False):
            if prev.sent:
                interval = float(prev.reply.get("heartbeat_interval") or 5)
            allowed = CADENCE_FACTOR * interval + CADENCE_SLACK
            gap = cur.at - prev.at
            # A gap is excused while the device was offline, which its catching up on offline logs shows (003 §4.3);
            # once it has sent them it is reachable again and heartbeats on time: from its last log on, the gap counts.
            logs = [c.at for c in calls if c.operation in LOG_OPS and prev.at < c.at <= cur.at]
            if gap > allowed and (not logs or cur.at - max(logs) > allowed):
                late.append(f"{device} ({gap:.1f} s > {allowed:.1f} s after journal #{prev.id})")
                evidence.append(cur.evidence())
                break
            if gap <= allowed:  # an offline spell's longer gap, excused above, says nothing of the cadence
                steady.append((gap, interval, cur))
        else:
            # Within the tolerance every gap, but steadily slower than asked: a device heartbeating every 10 s where the
            # platform returned 5 passes each gap (2 × 5 + 1 s) yet never keeps the interval 003 一、3 names.
            if len(steady) >= SLOW_MIN_GAPS:
                median = statistics.median(g for g, _, _ in steady)
                asked = statistics.median(i for _, i, _ in steady)
                if median > asked + CADENCE_SLACK:
                    slow.append(f"{device} (every {median:.1f} s, median of {len(steady)} gaps, where {asked:g} s was asked)")
                    slow_evidence.append(steady[len(steady) // 2][2].evidence("a heartbeat of the slow cadence"))
    if late:
        return failed(f"{len(late)} device(s) missed heartbeats: {_device_list(late)}", *evidence[:3])
    graded = sum(1 for d in fleet.devices if fleet.calls.get(d))
    if slow:
        return CHECKS.get("DUDU-CERT-HEARTBEAT").result(
            "warning",
            f"{len(slow)} device(s) heartbeat steadily slower than the interval the platform returned, each gap within the "
            f"tolerance of {CADENCE_FACTOR:g} × interval + {CADENCE_SLACK:g} s (003 一、3 间隔5s(可动态修改); D-DUDU-INTERVAL): "
            f"{_device_list(slow)}",
            *slow_evidence[:3],
            decision="D-DUDU-INTERVAL",
        )
    return passed(f"{graded} device(s) heartbeat on time")


# --- offline accounting ------------------------------------------------------------------------------------------------
def _log_record(c: Call) -> tuple[str, str, str, str]:
    """What an offline log says happened: operation, card or ticket, time, status (absent = 0, the seed's default)."""
    subject = c.body.get("card_id") if c.operation == "card_check_log" else c.body.get("qr_code")
    return c.operation, str(subject), str(c.body.get("time")), str(c.body.get("status", "0"))


def _baseline(fleet: Fleet, calls: list[Call]) -> int:
    """The highest seq a device had numbered before the graded window began: 0 for a whole journal; else the offline_seq
    of its first heartbeat in the window (lowered by any log the window holds before that heartbeat). A vendor is graded
    on the traffic of one session: seqs numbered before it are not its to account for, nor can logs stored before it
    stand in for the session's own (a device whose counter restarted numbers anew)."""
    if fleet.after_id is None and fleet.session is None:
        return 0
    first = next((c for c in calls if c.operation == "location_report" and c.sent), None)
    if first is None:
        return 0
    base = int(first.body.get("offline_seq") or 0)
    early = [int(c.body["seq"]) for c in calls if c.id < first.id and c.operation in LOG_OPS and str(c.body.get("seq", "")).isdigit()]
    return min([base, *(s - 1 for s in early)])


def _reused(c: Call) -> dict[str, Any] | None:
    """The failed DUDU-LOG-ONCE verdict of a log refused because its seq already holds a different record (1007)."""
    return next((v for v in c.verdicts if v.get("rule") == "DUDU-LOG-ONCE" and not v.get("held")), None)


def _first_gaps(top: int, seen: set[int], limit: int) -> list[int]:
    """The lowest numbers in 1..top not in ``seen``, at most ``limit``: the walk visits only seen numbers and gaps."""
    out: list[int] = []
    seq = 1
    while seq <= top and len(out) < limit:
        if seq not in seen:
            out.append(seq)
        seq += 1
    return out


@CHECKS.check(
    "DUDU-CERT-OFFLINE",
    title="every offline swipe and scan is logged (离线刷卡/扫码成功与否均要调用), one record per seq",
    clause="003 §4.3 刷卡日志接口; §5.4 二维码扫码验票日志接口; D-DUDU-OFFLINE-SEQ; D-DUDU-DUP-LOG",
    requirements=("DUDU-CERT-OFFLINE", "DUDU-LOG-ONCE"),
    level="MUST",
)
def offline_logged(fleet: Fleet) -> Any:
    missing: list[str] = []
    reused: list[str] = []
    unaccountable: list[str] = []
    evidence: list[Evidence] = []
    renumber: list[str] = []
    renumber_evidence: list[Evidence] = []
    counted = 0
    for device in fleet.devices:
        calls = fleet.calls.get(device, [])
        beats = _beats(calls)
        reported = max((int(c.body.get("offline_seq") or 0) for c in beats), default=0)
        logs = [c for c in calls if c.operation in LOG_OPS and c.sent]
        by_seq: dict[int, list[Call]] = defaultdict(list)
        for c in logs:
            if c.body.get("seq") is not None:
                by_seq[int(c.body["seq"])].append(c)
        if logs and any(c.body.get("seq") is None for c in logs) and not reported:
            unaccountable.append(device)
            continue
        # Two different records under one seq: the platform keeps the first (D-DUDU-DUP-LOG), the other is lost.
        for seq, same in sorted(by_seq.items()):
            records = {_log_record(c) for c in same}
            if len(records) > 1:
                first = same[0]
                other = next(c for c in same if _log_record(c) != _log_record(first))
                reused.append(f"{device} seq {seq} (journal #{first.id} and #{other.id})")
                evidence.extend([first.evidence("first record, stored"), other.evidence("different record under the same seq, lost")])
        # ... or under a seq already stored, perhaps in an earlier session: the platform refused it (1007, DUDU-LOG-ONCE).
        clashes: dict[int, Call] = {}
        for c in calls:
            if c.operation in LOG_OPS and not c.sent and not c.denied and _reused(c) and str(c.body.get("seq", "")).isdigit():
                clashes.setdefault(int(c.body["seq"]), c)
        for seq, c in sorted(clashes.items()):
            if any(later.id > c.id and _log_record(later) == _log_record(c) for later in logs):
                continue  # the device renumbered it and it was logged after all: not lost
            # The device did call the log interface for the event (all 003 §4.3 asks); seq is the harness's design
            # (D-DUDU-OFFLINE-SEQ), and a counter that restarted (a new process, an earlier session's numbers) is
            # refused 1007 so that the device learns it: advice, a WARNING, never the run's failure.
            renumber.append(f"{device} seq {seq} (journal #{c.id}, refused {c.reply.get('ret_code')}: {_reused(c).get('message', '')})")
            renumber_evidence.append(c.evidence("a different record under a seq already stored: refused 1007, not stored"))
        base = _baseline(fleet, calls)
        top = max([reported, *by_seq], default=0)
        if top <= base:
            continue  # nothing numbered in the window
        counted += top - base
        # Counted, never enumerated: a device may report offline_seq up to 2^63 − 1 (harness.limits store range).
        seen = {s for s in [*by_seq, *clashes] if base < s <= top}
        gap_count = top - base - len(seen)
        if gap_count:
            gaps = [base + g for g in _first_gaps(top - base, {s - base for s in seen}, 10)]
            missing.append(f"{device} seq {', '.join(map(str, gaps))}{' …' if gap_count > 10 else ''}")
            last = max(beats, key=lambda c: int(c.body.get("offline_seq") or 0), default=None)
            if last is not None:
                evidence.append(last.evidence())
    problems = []
    if missing:
        problems.append(f"offline events never logged (003 §4.3): {_device_list(missing)}")
    if reused:
        problems.append(f"two different records under one seq, the second lost (003 §4.3 成功与否均要调用): {_device_list(reused)}")
    check = CHECKS.get("DUDU-CERT-OFFLINE")
    results = []
    if problems:
        results.append(check.result("failed", "; ".join(problems), *evidence[:4]))
    elif counted:
        results.append(check.result("passed", f"{counted} offline event(s), every one logged once"))
    if renumber:
        results.append(
            check.result(
                "warning",
                f"logged under a seq that already held a different record, so the platform refused them (1007) and did not "
                f"store them: {_device_list(renumber)}; the device's numbering restarted (a new process, or the numbers of an "
                "earlier session): keep numbering after the last seq logged and send them again under new numbers",
                *renumber_evidence[:4],
                clause="003 §4.3; D-DUDU-DUP-LOG",
                decision="D-DUDU-DUP-LOG",
            )
        )
    if unaccountable:
        # seq and offline_seq are the harness's design, optional in the schema: a device built from the seed alone
        # (003 §4.3's table has no seq, §3.1's none of offline_seq) is served, and only its completeness goes uncounted.
        results.append(
            check.result(
                "warning",
                f"{_device_list(unaccountable)}: offline logs without seq and heartbeats without offline_seq (both optional, "
                "003 §4.3 / §3.1 name neither): how many offline events there were cannot be counted, so a lost one would "
                "go unseen; number them (seq, offline_seq) to have completeness proven (a drill outage is still judged by "
                "DUDU-CERT-OUTAGE)",
                clause="003 §4.3; D-DUDU-OFFLINE-SEQ",
                decision="D-DUDU-OFFLINE-SEQ",
            )
        )
    return results or skipped("no device reported an offline event")


# --- outages (resilience drills) -----------------------------------------------------------------------------------------
LOG_OF = {"card_check": ("card_check_log", "card_id"), "ticket_check": ("offline_qrcode_log", "qr_code")}
SWIPE_TIME_SLACK = 2.0  # seconds: a log's 刷卡时间 and the online check's time of the same swipe, written to the second


@CHECKS.check(
    "DUDU-CERT-OUTAGE",
    title="every swipe and scan made while the platform was unavailable is logged after it returns",
    clause="003 一、2 (设备需支持在线/离线模式); §4.3 刷卡日志接口 (用于离线模式); §5.4; D-DUDU-OUTAGE-FALLBACK",
    requirements=("DUDU-CERT-OUTAGE",),
    level="SHOULD",
)
def outage_recovered(fleet: Fleet) -> Any:
    """Graded from the exchanges a drill fault denied (harness faults): an online card or ticket check the platform
    did not answer is a swipe or scan the device had to decide offline, so a later log of the same card or ticket
    must reach the platform (or the device asked again online and was answered); and every offline event a denied
    heartbeat numbered (offline_seq above the last one the platform had accepted) must be logged."""
    outages = sorted({c.fault for calls in fleet.calls.values() for c in calls if c.denied and c.fault})
    if not outages:
        return skipped("no exchange of the enterprise's devices was denied by a drill fault (harness faults): no outage to grade")
    lost: list[str] = []
    evidence: list[Evidence] = []
    recovered: list[Call] = []
    graded = 0
    for device in fleet.devices:
        calls = fleet.calls.get(device, [])
        denied = [c for c in calls if c.denied]
        if not denied:
            continue
        logs = [c for c in calls if c.operation in LOG_OPS and c.sent]
        used: set[int] = set()
        attempts: set[tuple[str, str, str]] = set()
        matched: list[Call] = []
        for attempt in (c for c in denied if c.operation in LOG_OF):
            log_op, subject_field = LOG_OF[attempt.operation]
            subject, when = str(attempt.body.get(subject_field)), str(attempt.body.get("time"))
            if (attempt.operation, subject, when) in attempts:
                continue  # the device asked again for the same swipe: one swipe
            attempts.add((attempt.operation, subject, when))
            graded += 1
            # The same swipe: the same card or ticket at the same 刷卡时间 (the log's time, 003 §4.3), never merely the same
            # card, which a commuter swipes again every day.
            log = next(
                (
                    c
                    for c in logs
                    if c.id > attempt.id
                    and c.id not in used
                    and c.operation == log_op
                    and str(c.body.get(subject_field)) == subject
                    and _same_moment(c.body.get("time"), when)
                ),
                None,
            )
            if log is not None:
                used.add(log.id)
                matched.append(log)
                continue
            if any(
                c.id > attempt.id
                and c.operation == attempt.operation
                and not c.denied
                and str(c.body.get(subject_field)) == subject
                and _same_moment(c.body.get("time"), when)
                for c in calls
            ):
                continue  # asked again online once the platform was back, and answered
            shown = subject if attempt.operation == "card_check" else f"ticket {subject[:12]}…"
            lost.append(f"{device} {shown} at {when} ({attempt.fault}, journal #{attempt.id})")
            evidence.append(attempt.evidence(f"denied by drill fault {attempt.fault}; no log of it followed"))
        recovered.extend(matched)
        first = denied[0].id
        accepted = max((int(c.body.get("offline_seq") or 0) for c in _beats(calls) if c.id < first), default=0)
        numbered = max((int(c.body.get("offline_seq") or 0) for c in denied if c.operation == "location_report"), default=0)
        if numbered > accepted:
            graded += numbered - accepted
            logged = {int(c.body["seq"]) for c in logs if str(c.body.get("seq", "")).isdigit()}
            gaps = [s for s in range(accepted + 1, numbered + 1) if s not in logged]
            if gaps:
                lost.append(f"{device} seq {', '.join(map(str, gaps[:10]))} numbered during the outage")
                evidence.append(
                    next(c for c in denied if c.operation == "location_report").evidence("offline_seq reported during the outage")
                )
    names = ", ".join(outages[:5]) + (f" (+{len(outages) - 5} more)" if len(outages) > 5 else "")
    if lost:
        # Advice: the seed has the platform choose the mode (check_card_mode / check_mode, §3.1) and logs offline decisions
        # (§4.3 用于离线模式); it does not require a device in online mode to fall back to offline when the platform is
        # unreachable. A seq the device numbered and never logged is DUDU-CERT-OFFLINE's failure (MUST).
        return CHECKS.get("DUDU-CERT-OUTAGE").result(
            "failed",
            f"swipes or scans made while the platform was unavailable ({names}) never logged: {_device_list(lost)}. The seed "
            "does not require a device in online mode to decide offline when the platform does not answer (003 一、2; §4.3 "
            "用于离线模式), so this is advice: decide such a swipe offline against the lists held and log it once the "
            "platform is back, or riders are turned away (or let on unrecorded) for the whole outage",
            *evidence[:4],
            decision="D-DUDU-OUTAGE-FALLBACK",
        )
    if not graded:
        return skipped(f"outage ({names}) seen, but no device swiped or scanned during it")
    return passed(
        f"{graded} swipe(s)/scan(s) made during the outage ({names}), each logged after the platform returned",
        *(c.evidence("the log of a swipe made during the outage") for c in recovered[:3]),
    )


def _same_moment(sent: Any, when: str, slack: float = SWIPE_TIME_SLACK) -> bool:
    """Whether a log's time names the swipe made at ``when`` (the two may be written in different D-DUDU-TIME forms)."""
    if str(sent) == when:
        return True
    a, b = parse_time(sent), parse_time(when)
    return a is not None and b is not None and abs((a - b).total_seconds()) <= slack


# --- refreshes ---------------------------------------------------------------------------------------------------------
def _refreshes(calls: list[Call]) -> Iterator[tuple[str, Call, bool | None, Call | None]]:
    """(what, heartbeat, refreshed in time, the fetch that came) for every heartbeat whose reply named a version the
    device did not hold, graded only when the run went on for REFRESH_HEARTBEATS more heartbeats. In time: before the
    REFRESH_HEARTBEATS-th heartbeat after it (advice, D-DUDU-VERSIONS); the fetch: the first one after it at all. A
    change in the run's last REFRESH_HEARTBEATS heartbeats is yielded with ``None`` for "in time": not graded, and
    the report says so (a run that ended right after a rotation must not read as a rotation followed by a fetch)."""
    beats = [i for i, c in enumerate(calls) if c.operation == "location_report" and c.ok]
    # The key group a device holds: what it reports (key_version_code, designed), else what it last fetched (the
    # fetches credited to it), else the group the first heartbeat announced (held from before, given the benefit of the
    # doubt): a seed-only device (§3.1's request has no key_version_code) that saw a new version_code and never fetched
    # is graded too.
    fetched: dict[int, str] = {}
    latest: str | None = None
    for i, c in enumerate(calls):
        if c.operation == "get_qrcode_keys" and c.ok and c.reply.get("version_code") is not None:
            latest = str(c.reply["version_code"])
        fetched[i] = latest  # type: ignore[assignment]
    first_announced = next((str(calls[i].reply.get("version_code")) for i in beats), None)
    for n, i in enumerate(beats):
        hb = calls[i]
        tail = n + REFRESH_HEARTBEATS >= len(beats)  # the run ended before the deadline: not graded
        window = calls[i + 1 : beats[n + REFRESH_HEARTBEATS]] if not tail else []
        wants = []
        if hb.reply.get("version_code_all") != str(hb.body.get("version_code_all")) or hb.reply.get("version_code_add") != str(
            hb.body.get("version_code_add")
        ):
            wants.append(("card list", "get_card_list"))
        if hb.reply.get("line_version_code_all") != str(hb.body.get("line_version_code_all")):
            wants.append(("line list", "get_line_card_list"))
        held_keys = hb.body.get("key_version_code")
        held_keys = str(held_keys) if held_keys is not None else fetched[i] or first_announced
        if hb.reply.get("version_code") is not None and held_keys is not None and str(hb.reply["version_code"]) != held_keys:
            wants.append(("key group", "get_qrcode_keys"))
        for label, operation in wants:
            came = next((c for c in calls[i + 1 :] if c.operation == operation and c.sent), None)
            yield label, hb, None if tail else any(c.operation == operation and c.sent for c in window), came


@CHECKS.check(
    "DUDU-CERT-LISTS",
    title="a device fetches a card or line list whose version changed",
    clause="003 §3.1 version_code_all/version_code_add/line_version_code_all → §4.1, §4.4; D-DUDU-VERSIONS",
    requirements=("DUDU-CERT-LISTS",),
    level="MUST",
)
def lists_refreshed(fleet: Fleet) -> Any:
    return _refresh_results(fleet, "DUDU-CERT-LISTS", lambda label: label != "key group", "list version change", "003 一、5 下载白名单信息")


def _refresh_results(fleet: Fleet, check_id: str, wanted: Any, what: str, seed_words: str) -> Any:
    """A change never followed by a fetch fails (the seed has the device download what changed: 003 一、5, §4.1, §5.2);
    a fetch that came only after REFRESH_HEARTBEATS heartbeats is a WARNING (how soon is the harness's advice,
    D-DUDU-VERSIONS: the seed sets no deadline), saying when it came."""
    never: list[str] = []
    late: list[str] = []
    evidence: list[Evidence] = []
    late_evidence: list[Evidence] = []
    graded = 0
    first = 0  # of them, a device's first fetch of what it never held (it reported version "0")
    ungraded: list[str] = []
    for device in fleet.devices:
        for label, hb, in_time, came in _refreshes(fleet.calls.get(device, [])):
            if not wanted(label):
                continue
            if in_time is None:
                if came is None:
                    ungraded.append(f"{device} {label} after journal #{hb.id}")
                continue
            graded += 1
            held_field = {"key group": "key_version_code", "line list": "line_version_code_all"}.get(label, "version_code_all")
            if str(hb.body.get(held_field)) == "0":
                first += 1
            if label == "key group":
                held = hb.body.get("key_version_code")
                held_text = f"key group {held}" if held is not None else "its key group"
                label = f"kept {held_text} after rotation to {hb.reply.get('version_code')}"
            if came is None:
                never.append(f"{device} {label} after journal #{hb.id}")
                evidence.append(hb.evidence())
            elif not in_time:
                late.append(f"{device} {label} after journal #{hb.id}, fetched {came.at - hb.at:.0f} s later (journal #{came.id})")
                late_evidence.append(came.evidence("the fetch, later than the advice"))
    check = CHECKS.get(check_id)
    results = []
    if never:
        results.append(check.result("failed", f"never fetched after a {what} ({seed_words}): {_device_list(never)}", *evidence[:3]))
    if late:
        results.append(
            check.result(
                "warning",
                f"fetched, but only after {REFRESH_HEARTBEATS} or more heartbeats (the seed sets no deadline; the harness advises "
                f"fetching within {REFRESH_HEARTBEATS} heartbeats of a change, D-DUDU-VERSIONS): {_device_list(late)}",
                *late_evidence[:3],
                decision="D-DUDU-VERSIONS",
            )
        )
    if results:
        return results
    pending = (
        f"; not graded (the run ended less than {REFRESH_HEARTBEATS} heartbeats after it, with no fetch): {_device_list(ungraded)}"
        if ungraded
        else ""
    )
    if not graded:
        why = f"no heartbeat reported a {what} the device had not fetched, with {REFRESH_HEARTBEATS} heartbeats after it"
        return skipped(f"{why}{pending}")
    if graded == first:
        return passed(
            f"no {what} to grade, but {first} first fetch(es) of what a device held none of (version 0), each within "
            f"{REFRESH_HEARTBEATS} heartbeats{pending}"
        )
    firsts = f" (and {first} first fetch(es) of what a device held none of)" if first else ""
    return passed(f"{graded - first} {what}(s), each followed by a fetch within {REFRESH_HEARTBEATS} heartbeats{firsts}{pending}")


@CHECKS.check(
    "DUDU-CERT-KEYS",
    title="a device fetches the key group after a rotation (key_version_code ≠ version_code)",
    clause="003 §5.2 version_code; §3.1 version_code 密钥组版本号; D-DUDU-KEY-ROTATION",
    requirements=("DUDU-CERT-KEYS",),
    level="MUST",
)
def keys_current(fleet: Fleet) -> Any:
    return _refresh_results(fleet, "DUDU-CERT-KEYS", lambda label: label == "key group", "rotation", "003 §5.2 获取二维码密钥组")


# --- offline decisions replayed ------------------------------------------------------------------------------------------
UNKNOWN: Any = None  # a list or key group held before the graded window began: not known, not graded


@dataclass(frozen=True)
class Held:
    """What a device held at one point of its history: lists, key group, and the switches of its last heartbeat."""

    cards: dict[str, int] | None
    line: dict[str, int] | None
    keys: tuple[int, dict[int, str]] | None  # (version_code, keys); None = no group (or UNKNOWN)
    keys_known: bool
    config: dict[str, Any]
    cards_key: Any = None  # how the card list was built (Fleet.held_list), None when not shareable


@dataclass
class History:
    """A device's states (journal id from which each held) and its sent heartbeats (journal id, device time)."""

    states: list[tuple[int, Held]]
    beats: list[tuple[int, float]]


def _history(fleet: Fleet, device: str) -> History:
    """What the device held from each point of its journal on, oldest first (computed once per device)."""
    if device in fleet._histories:
        return fleet._histories[device]
    fresh = fleet.after_id is None and fleet.session is None  # a whole journal: the device held nothing before its first fetch
    state = Held({} if fresh else UNKNOWN, {} if fresh else UNKNOWN, None, fresh, {})
    states = [(0, state)]
    beats: list[tuple[int, float]] = []
    for c in fleet.calls.get(device, []):
        if c.operation == "location_report" and c.sent:
            beats.append((c.id, c.device_time or 0.0))
        if not c.ok:
            continue
        changed: dict[str, Any] = {}
        if c.operation == "get_card_list":
            replace = str(c.body.get("type")) == "1" or state.cards is None
            changed["cards_key"], changed["cards"] = fleet.held_list((state.cards_key, state.cards), c.reply, replace)
        elif c.operation == "get_line_card_list":
            changed["line"] = {str(e.get("card_no")): int(e.get("flag", 0)) for e in fleet.delivered_list(c.reply)}
        elif c.operation == "get_qrcode_keys":
            version = int(str(c.reply.get("version_code") or 0) or 0)
            keys = {int(k["key_id"]): str(k["key"]) for k in c.reply.get("list") or [] if isinstance(k, dict) and "key_id" in k}
            changed["keys"] = (version, keys or fleet.key_groups.get(version, {}))
            changed["keys_known"] = True
        elif c.operation == "location_report":
            config = {k: c.reply.get(k) for k in ("white_mode", "is_line_white", "card_mode", "qrcode_mode")}
            if config != state.config:
                changed["config"] = config
            held = c.body.get("key_version_code")
            if (
                not state.keys_known
                and held is not None
                and limits.ascii_digits(str(held), limits.MAX_DIGIT_STRING)
                and int(str(held)) in fleet.key_groups
            ):
                changed["keys"] = (int(str(held)), fleet.key_groups[int(str(held))])  # what it says it holds
                changed["keys_known"] = True
        if changed:
            state = Held(**{**state.__dict__, **changed})
            states.append((c.id, state))
    fleet._histories[device] = History(states, beats)
    return fleet._histories[device]


def _candidates(history: History, log: Call) -> list[Held]:
    """What the device may have held when it decided the logged event: from its last heartbeat (by its own clock) at
    or before the event's time, up to the moment it sent the log."""
    t = log.device_time
    start = 0
    if t is not None:
        n = bisect.bisect_left(history.beats, (log.id, float("-inf")))  # heartbeats sent before the log
        for beat_id, beat_time in reversed(history.beats[:n]):
            if beat_time <= t:
                start = beat_id
                break
    ids = [i for i, _ in history.states]
    first = bisect.bisect_right(ids, start) - 1
    last = bisect.bisect_left(ids, log.id)
    return [history.states[first][1], *(s for _, s in history.states[first + 1 : last])]


def _card_verdict(held: Held, card: str) -> tuple[bool | None, str]:
    """(valid?, expected status if refused) under what the device held; None when the whitelist is not in force."""
    if held.cards is None or held.config.get("white_mode") != 1:
        return None, ""
    flag = held.cards.get(card)
    if flag is None:
        return False, "1"  # 不在白名单内
    if flag != 1:
        return False, "2"  # flag 0: delivered as the blacklist (D-DUDU-BLACKLIST) — 在黑名单内
    if held.config.get("is_line_white") == 1:
        if held.line is None:
            return None, ""
        if held.line.get(card) != 1:
            return False, "1"  # not on the line whitelist (D-DUDU-LINE-WHITE)
    return True, ""


def _offline_logs(fleet: Fleet, operation: str) -> Iterator[tuple[str, History, Call]]:
    for device in fleet.devices:
        logs = [c for c in fleet.calls.get(device, []) if c.operation == operation and c.sent]
        if not logs:
            continue
        history = _history(fleet, device)
        seen: set[tuple[str, str, str, str]] = set()
        for log in logs:
            record = _log_record(log)
            if record in seen:
                continue  # a retry of the same record (D-DUDU-DUP-LOG): judged once
            seen.add(record)
            yield device, history, log


@CHECKS.check(
    "DUDU-CERT-OFFLINE-CARDS",
    title="an offline card decision agrees with the whitelist the device held at the swipe",
    clause="003 一、2 (离线模式刷卡, 支持黑白名单); §4.1 flag (1:有效,0:无效); §4.3 status; D-DUDU-BLACKLIST, D-DUDU-LINE-WHITE",
    requirements=("DUDU-CERT-OFFLINE-CARDS",),
    level="MUST",
)
def offline_cards(fleet: Fleet) -> Any:
    wrong: list[Finding] = []
    graded = ungraded = 0
    for device, history, log in _offline_logs(fleet, "card_check_log"):
        card = str(log.body.get("card_id"))
        verdicts = [_card_verdict(h, card)[0] for h in _candidates(history, log)]
        if any(v is None for v in verdicts):
            ungraded += 1
            continue
        graded += 1
        accepted = str(log.body.get("status", "0")) == "0"
        if accepted and not any(verdicts):
            wrong.append(
                (
                    "failed",
                    f"{device} accepted offline card {card}, which the whitelist it held does not list as valid",
                    (log.evidence(),),
                    None,
                    None,
                )
            )
        elif not accepted and all(verdicts):
            wrong.append(
                ("failed", f"{device} refused offline card {card}, valid (flag 1) on the whitelist it held", (log.evidence(),), None, None)
            )
    if wrong:
        return capped(CHECKS.get("DUDU-CERT-OFFLINE-CARDS"), wrong)
    if not graded:
        why = f"{ungraded} swipe(s) under white_mode 0 or before any list known" if ungraded else "no offline card swipe was logged"
        return skipped(f"nothing to replay: {why}")
    return passed(f"{graded} offline card decision(s) replayed against the whitelist held at the swipe; all agree")


@CHECKS.check(
    "DUDU-CERT-OFFLINE-STATUS",
    title="a card refused offline is logged with the seed's reason (status 1 不在白名单内, 2 在黑名单内)",
    clause="003 §4.3 status (0:正常,默认值;1:不在白名单内,2:在黑名单内); D-DUDU-BLACKLIST",
    requirements=("DUDU-CERT-OFFLINE-STATUS",),
    level="SHOULD",
)
def offline_status(fleet: Fleet) -> Any:
    wrong: list[Finding] = []
    graded = 0
    for device, history, log in _offline_logs(fleet, "card_check_log"):
        status = str(log.body.get("status", "0"))
        if status == "0":
            continue
        card = str(log.body.get("card_id"))
        expected = {_card_verdict(h, card) for h in _candidates(history, log)}
        if len(expected) != 1 or next(iter(expected))[0] is not False:
            continue  # valid, ungraded, or the reason changed while it decided: DUDU-CERT-OFFLINE-CARDS judges it
        graded += 1
        reason = next(iter(expected))[1]
        if status != reason:
            wrong.append(
                (
                    "failed",
                    f"{device} logged refused card {card} with status {status}; the list it held says {reason}",
                    (log.evidence(),),
                    None,
                    None,
                )
            )
    if wrong:
        return capped(CHECKS.get("DUDU-CERT-OFFLINE-STATUS"), wrong)
    if not graded:
        return skipped("no card refused offline against a list whose reason is known")
    return passed(f"{graded} refused offline card(s) logged with the seed's reason")


def _ticket_verdict(fleet: Fleet, held: Held, text: str, at: float | None) -> tuple[bool | None, str]:
    if not held.keys_known:
        return None, ""
    try:
        ticket = qr.parse(text)
    except qr.TicketError as exc:
        return False, f"not a ticket ({exc})"
    if ticket.eid != fleet.enterprise_id:
        return False, f"issued for enterprise {ticket.eid}"
    if held.keys is None:
        return False, "the device had fetched no key group"
    version, keys = held.keys
    key = keys.get(ticket.key_id)
    if key is None or not qr.verify(ticket, key):
        return False, f"not signed by key group {version}, the group the device held"
    if at is None or not ticket.valid_at(at):
        return False, "expired or not yet valid at the scan time"
    return True, ""


@CHECKS.check(
    "DUDU-CERT-OFFLINE-TICKETS",
    title="an offline ticket decision agrees with the key group the device held at the scan",
    clause="003 一、2 (离线模式二维码扫码); §5.2 密钥组; §5.4 status; D-DUDU-QR, D-DUDU-KEY-ROTATION",
    requirements=("DUDU-CERT-OFFLINE-TICKETS",),
    level="MUST",
)
def offline_tickets(fleet: Fleet) -> Any:
    wrong: list[Finding] = []
    graded = ungraded = 0
    for device, history, log in _offline_logs(fleet, "offline_qrcode_log"):
        at = log.device_time
        verdicts = [_ticket_verdict(fleet, h, str(log.body.get("qr_code")), at) for h in _candidates(history, log)]
        if any(v is None for v, _ in verdicts):
            ungraded += 1
            continue
        graded += 1
        accepted = str(log.body.get("status", "0")) == "0"
        if accepted and not any(v for v, _ in verdicts):
            why = verdicts[-1][1]
            wrong.append(
                ("failed", f"{device} accepted offline a ticket its keys could not have verified: {why}", (log.evidence(),), None, None)
            )
        elif not accepted and all(v for v, _ in verdicts):
            wrong.append(("failed", f"{device} refused offline a ticket valid under the key group it held", (log.evidence(),), None, None))
    if wrong:
        return capped(CHECKS.get("DUDU-CERT-OFFLINE-TICKETS"), wrong)
    if not graded:
        why = f"{ungraded} scan(s) before any key group known" if ungraded else "no offline scan was logged"
        return skipped(f"nothing to replay: {why}")
    return passed(f"{graded} offline ticket decision(s) replayed against the key group held at the scan; all agree")


# --- every verdict of every call -----------------------------------------------------------------------------------------
def _who(fleet: Fleet, c: Call) -> str:
    device = c.body.get("device_id")
    if isinstance(device, str):
        return device
    return f"enterprise {fleet.enterprise_id}"


@CHECKS.check(
    "DUDU-CERT-CALLS",
    title="every call of the enterprise's devices and backend holds every rule (refused calls included)",
    clause="003 request tables (是否必须 Y, 类型); ret_code 非0表示具体错误码; D-DUDU-CODES",
    requirements=(
        "DUDU-CERT-CALLS",
        "DUDU-INTERFACE",
        "DUDU-TOKEN-CREDENTIALS",
        "DUDU-TOKEN",
        "DUDU-ENTERPRISE-MATCH",
        "DUDU-TIME",
        "DUDU-CARD-ENABLED",
        "DUDU-QR-ENABLED",
    ),
    level="MUST",
)
def calls_hold(fleet: Fleet) -> Any:
    calls = fleet.all_calls()
    if not calls:
        return skipped(f"no call of enterprise {fleet.enterprise_id}'s devices or tokens in the journal")
    findings: list[Finding] = []
    for c in calls:
        if c.denied:
            continue  # a drill fault answered it: the harness's doing (DUDU-CERT-OUTAGE grades the recovery)
        failing = [v for v in c.verdicts if not v.get("held")]
        fields_warned: set[tuple[str, str]] = set()
        for v in failing:
            if v.get("level") == "SHOULD" and v.get("field"):
                # One form, one warning: a digit string for a number breaks both the type and the enum of its field.
                if (v["rule"], v["field"]) in fields_warned:
                    continue
                fields_warned.add((v["rule"], v["field"]))
            if v["rule"] in OUTCOME_RULES:
                continue  # the rider's card or ticket, not the device: DUDU-CERT-ONLINE-OUTCOMES
            if v["rule"] == "DUDU-LOG-ONCE":
                continue  # a different record under a seq already stored (1007): DUDU-CERT-OFFLINE grades it
            should = v.get("level") == "SHOULD"
            decision = v.get("decision")
            if v["rule"] == "DUDU-TOKEN" and "expired" in str(v.get("message", "")):
                # expires_in is designed (D-DUDU-TOKEN); a backend that asks again after 1004 still works.
                should, decision = True, "D-DUDU-TOKEN"
            field_note = f" (field {v['field']})" if v.get("field") else ""
            reading = (
                f"; only a tolerant reading of {decision} accepts this form" if should and v.get("level") == "SHOULD" and decision else ""
            )
            status = "error" if v["rule"] == "INTERNAL" else "warning" if should else "failed"
            code = c.reply.get("ret_code")
            message = f"{_who(fleet, c)} {c.operation} (ret_code {code}): {v['rule']}: {v.get('message', '')}{field_note}{reading}"
            findings.append((status, message, (c.evidence(),), v.get("clause") or None, decision if should else None))
        if not failing and not c.ok:
            message = f"{_who(fleet, c)} {c.operation} refused with ret_code {c.reply.get('ret_code')} but no rule verdict failed"
            findings.append(("failed", message, (c.evidence(),), None, None))
    if not findings:
        return passed(f"{len(calls)} call(s), every rule held (online refusals of a rider's card or ticket aside)")
    return capped(CHECKS.get("DUDU-CERT-CALLS"), findings)


@CHECKS.check(
    "DUDU-CERT-ONLINE-OUTCOMES",
    title="online checks refused because of the rider's card or ticket (a person judges whether they are plausible)",
    clause="003 §4.2 card_check; §5.3 ticket_check; D-DUDU-CODES",
    requirements=("DUDU-CERT-ONLINE-OUTCOMES", *sorted(OUTCOME_RULES)),
    level="REVIEW",
)
def online_outcomes(fleet: Fleet) -> Any:
    online = [c for c in fleet.all_calls() if c.operation in ONLINE_OPS]
    if not online:
        return skipped("no online card or ticket check in the journal")
    refused = [c for c in online if not c.ok and any(not v.get("held") and v["rule"] in OUTCOME_RULES for v in c.verdicts)]
    if not refused:
        return skipped(f"none of {len(online)} online check(s) was refused for the rider's card or ticket")
    codes = Counter(str(c.reply.get("ret_code")) for c in refused)
    counts = ", ".join(f"{code}×{n}" for code, n in codes.most_common())
    share = len(refused) / len(online)
    note = " — most checks refused: is the device sending the card or ticket it read?" if share > 0.5 else ""
    return review(f"{len(refused)} of {len(online)} online check(s) refused ({counts}){note}", *(c.evidence() for c in refused[:3]))


class DuduDeviceBackendRole:
    """``harness certify dudu-device-backend --enterprise ID``: the checks, as conformance-engine events."""

    name = "dudu-device-backend"
    platform = "dudu"
    description = "A vendor's device backend, graded from the journal of its enterprise's devices"
    checks = CHECKS

    def __init__(self, store: Store, enterprise_id: str, *, after_id: int | None = None, window: Window | None = None) -> None:
        self.store = store
        self.enterprise_id = enterprise_id
        self.window = window or Window(after_id=after_id)  # a certification session's, or --since's

    def run(self, seed: int) -> Iterator[Event]:
        fleet = load_fleet(self.store, self.enterprise_id, self.window)
        target = f"journal: enterprise {self.enterprise_id}"
        yield from grade_journal(
            self, target=target, context=fleet, seed=seed, options={"enterprise": self.enterprise_id}, spec_files=SPEC_FILES
        )


class DeviceBackendRoleCommand(DuduDeviceBackendRole):
    """The role as ``harness certify dudu-device-backend`` builds it (harness/conformance/roles.py)."""

    summary = "Grade a device vendor's backend (vendor as client of /dudu) from the journal of its enterprise's devices."
    description = (
        "Grade what an enterprise's devices sent to `harness serve` under /dudu: heartbeat cadence per device (003 §3.1), "
        "every offline swipe and scan logged once (§4.3, §5.4), card and line lists refreshed after a version change "
        "(§4.1, §4.4), key groups refreshed after a rotation (§5.2), offline decisions replayed against the lists and "
        "keys the device held, and every failed verdict of its calls, refused calls included."
    )
    options = (
        RoleOption("enterprise", "The enterprise id (printed by harness dudu enterprise-add).", required=True),
        SINCE_OPTION,
    )

    def __init__(self, common: CommonOptions, enterprise: str, since: int | None = None, window: Window | None = None) -> None:
        missing = f"no DUDU enterprise {enterprise!r} in {common.db} (harness dudu enterprise-add)"
        store = open_subject_store(common, "SELECT id FROM dudu_enterprises WHERE id = ?", (enterprise,), missing)
        super().__init__(store, enterprise, after_id=since, window=window)
