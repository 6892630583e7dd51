"""DUDU device fleet: one Locust user per bus card/QR reader (seed 003).

Each device, against the harness or any 嘟嘟-compatible server:

* heartbeats (§3.1 location_report) at the interval the platform returns (heartbeat_interval, else 5 s);
* refreshes its lists when the heartbeat's versions differ from the ones it holds: full card list (§4.1 type 1) when
  version_code_all moves, incremental (type 2) when version_code_add moves, the line list (§4.4), and the QR key group
  (§5.2) when version_code rotates;
* swipes cards and scans QR tickets at a configurable rate: online (§4.2 card_check, §5.3 ticket_check) while
  connected, or decided locally from its lists and logged later (§4.3 card_check_log, §5.4 offline_qrcode_log) while
  offline or in offline mode, numbering every offline event (seq; D-DUDU-OFFLINE-SEQ);
* continues its offline numbering where the platform has it (``--dudu-seq-from server``, the default: the harness's
  control API, GET /_harness/dudu/devices, says each device's highest seq so far), as a real device keeps the number
  across restarts, so a second run against the same store is not refused 1007 for numbers the first one used; offline
  events the platform already missed before this run are not counted against it;
* goes offline now and then, and on reconnecting sends every queued log, then a heartbeat whose offline_missing must
  be 0;
* rides out an outage of the platform (a ``harness faults add down`` window, docs/faults.md): a heartbeat, card check
  or ticket check the platform does not answer (no reply, not JSON, HTTP 5xx, ret_code 1099) cuts the device off; it
  decides that swipe or scan, and every later one, offline and numbers it, keeps heartbeating, and once a heartbeat is
  answered again sends every queued log (003 §4.3, §5.4). ``--dudu-drop-outage`` plants the defect this guards
  against: a check the platform did not answer is forgotten (harness certify dudu-device-backend fails it,
  DUDU-CERT-OUTAGE).

Verdict (exit code 1 on failure): error rate ≤ --dudu-max-error-rate (whole run), p95 ≤ --dudu-max-p95 ms (once every
device has started, i.e. without the boot storm of list downloads; --dudu-p95-scope all to include it), and no offline
event left unlogged (queued at the end, or reported missing by the platform). Set the fleet up first, e.g.::

    harness dudu fleet 398 --devices 2000          # its secret defaults to the one this file defaults to
    locust -f loadtests/dudu_fleet.py --headless -u 2000 -r 200 -t 2m --host http://127.0.0.1:8000

Distributed: ``locust -f loadtests/dudu_fleet.py --master --expect-workers 2 …`` and ``--worker`` processes; worker k
of W simulates devices k+1, k+1+W, … so that their devices do not overlap, W being the master's ``--expect-workers``
(or ``--dudu-workers`` given to the master: Locust sends the master's options to every worker, replacing their own).
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import random
import sys
import time
import urllib.parse
import urllib.request
from typing import Any

import gevent.lock
import orjson
from locust import FastHttpUser, events, task
from locust.runners import MasterRunner, WorkerRunner

from harness.dudu import qr
from harness.dudu.admin import FLEET_SECRET

BEIJING = dt.timezone(dt.timedelta(hours=8))
_counter = itertools.count()
_lost = {"unlogged": 0, "missing": 0, "offline_events": 0}  # this process's offline accounting (summed on the master)
# Response times between "every device started" and "stopping" (the boot storm of list downloads and the shutdown
# storm of final heartbeats are not the heartbeat SLO), as Locust
# rounds them: ms → count. Workers send theirs to the master with each report.
_steady: collections.Counter[int] = collections.Counter()
_spawned = {"done": False}
_resume: dict[str, Any] = {"loaded": False, "seqs": {}}  # device id → (offline_seq, missing) at the start of this run
_resume_lock = gevent.lock.BoundedSemaphore()
# Card lists by version, shared by every device of this process that holds that version (read-only): 10,000 devices
# each keeping its own 1,000-card dict took 1 GB per Locust worker and much of its CPU.
_card_lists: dict[tuple[str, str, str], CardList] = {}
_line_lists: dict[tuple[str, tuple[tuple[str, int], ...]], dict[str, int]] = {}


class CardList:
    """A whitelist as a device holds it: card number → flag, and the numbers for picking one to swipe."""

    __slots__ = ("flags", "numbers")

    def __init__(self, flags: dict[str, int]) -> None:
        self.flags = flags
        self.numbers = tuple(flags)


_EMPTY = CardList({})


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("DUDU fleet")
    group.add_argument("--dudu-enterprise", default="398", help="enterprise id (harness dudu fleet …)")
    group.add_argument(
        "--dudu-secret", default=FLEET_SECRET, help="the enterprise's get_token secret (default: harness dudu fleet's default)"
    )
    group.add_argument("--dudu-prefix", default="DEV", help="device ids are PREFIX00001, PREFIX00002, …")
    group.add_argument(
        "--dudu-workers",
        type=int,
        default=0,
        help="number of Locust workers sharing the fleet, so that their devices do not overlap (default: the master's "
        "--expect-workers; Locust sends the master's options to every worker, so give it to the master, if at all)",
    )
    group.add_argument("--dudu-swipes-per-min", type=float, default=2.0, help="card swipes per device per minute")
    group.add_argument("--dudu-scans-per-min", type=float, default=1.0, help="QR scans per device per minute")
    group.add_argument("--dudu-offline-per-hour", type=float, default=6.0, help="how often a device loses its connection")
    group.add_argument("--dudu-offline-seconds", type=float, default=20.0, help="how long it stays offline")
    group.add_argument("--dudu-unknown-card-ratio", type=float, default=0.02, help="share of swipes by cards not on the whitelist")
    group.add_argument(
        "--dudu-drop-log", type=int, default=0, help="fault injection: each device silently drops its Nth offline log (0 = never)"
    )
    group.add_argument(
        "--dudu-drop-outage",
        action="store_true",
        help="fault injection: forget swipes and scans the platform did not answer (instead of logging them offline)",
    )
    group.add_argument(
        "--dudu-seq-from",
        choices=("server", "one"),
        default="server",
        help="where a device's offline numbering (seq) starts: 'server' (default) continues from the highest seq the "
        "harness has for it (GET /_harness/dudu/devices; from 1 if the server cannot say), 'one' starts at 1 (a fresh store)",
    )
    group.add_argument("--dudu-max-error-rate", type=float, default=0.001, help="verdict: highest acceptable failure ratio")
    group.add_argument("--dudu-max-p95", type=float, default=200.0, help="verdict: highest acceptable p95, ms")
    group.add_argument(
        "--dudu-p95-scope",
        choices=("steady", "all"),
        default="steady",
        help="p95 over requests after every device started (default), or all",
    )


def sharing(options: Any, runner: Any) -> int:
    """How many Locust processes share the fleet: --dudu-workers if given, else on a worker the master's --expect-workers
    (Locust hands it to every worker, and the master's options replace a worker's own), else 1."""
    if options.dudu_workers > 0:
        return options.dudu_workers
    return max(1, getattr(options, "expect_workers", 1) or 1) if isinstance(runner, WorkerRunner) else 1


_clock = {"second": 0, "text": ""}


def resume_seqs(host: str, enterprise: str, timeout: float = 10.0) -> dict[str, int]:
    """Each device's highest offline seq the server holds (the harness's control API), or {} with a note on stderr when
    the server cannot say (not the harness, or its control API refuses this client): devices then number from 1."""
    url = f"{host.rstrip('/')}/_harness/dudu/devices?{urllib.parse.urlencode({'enterprise_id': enterprise})}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - the --host the user gave
            devices = orjson.loads(response.read())["devices"]
        return {str(d["device_id"]): int(d["offline_seq"]) for d in devices}
    except Exception as exc:  # noqa: BLE001 - any answer but the harness's: number from 1, and say so
        print(
            f"note: {url} did not say where each device's offline numbering stands ({type(exc).__name__}: {str(exc)[:120]}); "
            "devices number from 1 (a store that already holds this fleet's offline logs refuses those numbers, 1007)",
            file=sys.stderr,
        )
        return {}


def _resumed_seq(user: Any, device_id: str) -> int:
    o = user.environment.parsed_options
    if o.dudu_seq_from != "server":
        return 0
    with _resume_lock:  # the first device of this process asks; the others wait for its answer
        if not _resume["loaded"]:
            _resume["seqs"] = resume_seqs(user.host or user.environment.host or "", o.dudu_enterprise)
            _resume["loaded"] = True
    return int(_resume["seqs"].get(device_id, 0))


def _now_text() -> str:
    second = int(time.time())
    if second != _clock["second"]:  # formatted once per second, not once per request
        _clock["second"], _clock["text"] = second, dt.datetime.fromtimestamp(second, BEIJING).strftime("%y%m%d%H%M%S")  # D-DUDU-TIME
    return _clock["text"]


class Device(FastHttpUser):
    """One card/QR reader with its own clock, lists, key group and offline queue."""

    def on_start(self) -> None:
        o = self.environment.parsed_options
        runner = self.environment.runner
        worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        self.number = worker + 1 + next(_counter) * sharing(o, runner)
        self.device_id = f"{o.dudu_prefix}{self.number:05d}"
        self.o = o
        self.token = ""
        self.interval = 5.0
        self.versions = {"all": "0", "add": "0", "line": "0", "keys": ""}
        self.cards = _EMPTY
        self.line_cards: dict[str, int] = {}
        self.keys: dict[int, str] = {}
        self.config: dict[str, Any] = {}
        self.seq = _resumed_seq(self, self.device_id)  # where the platform's numbering for this device stands
        self.missed_before: int | None = None  # offline events the platform missed before this run (first heartbeat)
        self.queue: list[tuple[str, dict[str, Any]]] = []
        self.offline_until = 0.0
        self.cut_off = False  # the platform did not answer (an outage): decide offline until a heartbeat is answered
        self.unanswered = False  # the last call got no answer from the platform
        self.platform_missing = 0
        now = time.time()
        self.next_heartbeat = now
        self.next_swipe = now + random.expovariate(o.dudu_swipes_per_min / 60) if o.dudu_swipes_per_min > 0 else float("inf")
        self.next_scan = now + random.expovariate(o.dudu_scans_per_min / 60) if o.dudu_scans_per_min > 0 else float("inf")
        self._get_token()
        self.heartbeat()

    def on_stop(self) -> None:
        # Catch up before leaving: every offline event must reach the platform (003 §4.3, §5.4), and the final heartbeat
        # says whether the platform is missing any (offline_missing, D-DUDU-OFFLINE-SEQ).
        self.offline_until = 0.0
        self.flush()
        _lost["unlogged"] += len(self.queue)
        self.queue.clear()
        self.heartbeat()
        _lost["missing"] += self.platform_missing

    # -- scheduling: wait until the earliest due event ----------------------------------------------------------------
    def wait_time(self) -> float:
        return max(0.0, min(self.next_heartbeat, self.next_swipe, self.next_scan) - time.time())

    @task
    def tick(self) -> None:
        now = time.time()
        if now >= self.next_heartbeat:
            self.next_heartbeat = now + self.interval
            if now < self.offline_until:
                return
            if self.queue and not self.cut_off:
                self.flush()
            self.maybe_go_offline(now)
            if now >= self.offline_until:
                self.heartbeat()
        if now >= self.next_swipe:
            self.next_swipe = now + random.expovariate(self.o.dudu_swipes_per_min / 60)
            self.swipe(now)
        if now >= self.next_scan:
            self.next_scan = now + random.expovariate(self.o.dudu_scans_per_min / 60)
            self.scan(now)

    def maybe_go_offline(self, now: float) -> None:
        chance = self.o.dudu_offline_per_hour * self.interval / 3600
        if random.random() < chance:
            self.offline_until = now + self.o.dudu_offline_seconds

    # -- requests ---------------------------------------------------------------------------------------------------
    def call(
        self, operation: str, body: dict[str, Any], expected: tuple[int, ...] = (0,), name: str | None = None
    ) -> dict[str, Any] | None:
        with self.client.post(
            f"/dudu/{operation}",
            data=orjson.dumps(body),
            headers={"content-type": "application/json"},
            name=name or operation,
            catch_response=True,
        ) as response:
            try:
                reply = orjson.loads(response.content or b"")
            except orjson.JSONDecodeError:
                self.unanswered = True  # no reply, a reset, a proxy's page or a cut-off body: not the platform's answer
                why = repr(response.error) if response.error else "not JSON"
                response.failure(f"HTTP {response.status_code}: {why[:160]}")
                return None
            code = reply.get("ret_code") if isinstance(reply, dict) else None
            self.unanswered = code == 1099 or (response.status_code or 0) >= 500  # the platform's system error
            if code not in expected:
                response.failure(f"ret_code {code}: {str(reply.get('ret_msg', ''))[:120] if isinstance(reply, dict) else reply}")
                return None
            return reply

    def _get_token(self) -> bool:
        reply = self.call("get_token", {"req_id": self.device_id, "enterprise_id": self.o.dudu_enterprise, "secret": self.o.dudu_secret})
        self.token = reply["token"] if reply else ""
        return bool(self.token)

    def call_with_token(self, operation: str, body: dict[str, Any], name: str | None = None) -> dict[str, Any] | None:
        """A token-bearing call (D-DUDU-TOKEN): get a token first if this device has none (its last get_token failed),
        and once more if the platform answers 1004 (expired). Never sends an empty token."""
        for _ in range(2):
            if not self.token and not self._get_token():
                return None
            reply = self.call(operation, {"token": self.token, **body}, expected=(0, 1004), name=name)
            if reply is None or reply["ret_code"] == 0:
                return reply
            self.token = ""
        return None

    def heartbeat(self) -> None:
        body = {
            "req_id": f"{self.device_id}-hb",
            "device_id": self.device_id,
            "time": _now_text(),
            "lng": f"{113.2 + random.random() / 10:.6f}",
            "lat": f"{23.1 + random.random() / 10:.6f}",
            "course": str(random.randint(0, 359)),
            "speed": f"{random.uniform(0, 60):.1f}",
            "check_mode": self.config.get("check_mode", 0),
            "check_card_mode": self.config.get("check_card_mode", 0),
            "qrcode_mode": self.config.get("qrcode_mode", 1),
            "card_mode": self.config.get("card_mode", 1),
            "white_mode": self.config.get("white_mode", 1),
            "version_code_all": self.versions["all"],
            "version_code_add": self.versions["add"],
            "software_ver": 101,
            "line_version_code_all": self.versions["line"],
            "is_line_white": self.config.get("is_line_white", 0),
            "offline_seq": self.seq,
        }
        if self.versions["keys"]:
            body["key_version_code"] = self.versions["keys"]
        reply = self.call("location_report", body)
        if reply is None:
            self.cut_off = self.cut_off or self.unanswered
            return
        if self.cut_off:  # the platform is back: first every log kept meanwhile (003 §4.3, §5.4)
            self.cut_off = False
            self.flush()
        self.config = {k: reply[k] for k in ("check_mode", "check_card_mode", "qrcode_mode", "card_mode", "white_mode", "is_line_white")}
        self.interval = float(reply.get("heartbeat_interval") or 5)
        # Only meaningful once this device has nothing queued: then every numbered event should have arrived.
        missing = int(reply.get("offline_missing") or 0)
        if self.missed_before is None:  # the first answer: what earlier runs left missing is not this run's loss
            self.missed_before = missing
        self.platform_missing = 0 if self.queue else max(0, missing - self.missed_before)
        self.refresh(reply)

    def refresh(self, reply: dict[str, Any]) -> None:
        """Fetch whatever the heartbeat says changed (003 §3.1 → §4.1, §4.4, §5.2)."""
        if reply["version_code_all"] != self.versions["all"] or not self.cards.flags:
            self.fetch_cards(1, reply["version_code_all"])
        elif reply["version_code_add"] != self.versions["add"]:
            self.fetch_cards(2, reply["version_code_all"])
        if reply["line_version_code_all"] != self.versions["line"]:
            lines = self.call_with_token("get_line_card_list", {"device_id": self.device_id})
            if lines:
                key = (str(lines["version"]), tuple((c["card_no"], int(c["flag"])) for c in lines["list"]))
                self.line_cards = _line_lists.setdefault(key, dict(key[1]))  # shared, as card lists are
                self.versions["line"] = str(lines["version"])
        if str(reply["version_code"]) != self.versions["keys"]:
            keys = self.call_with_token("get_qrcode_keys", {})
            if keys:
                self.keys = {int(k["key_id"]): k["key"] for k in keys["list"]}
                self.versions["keys"] = str(keys["version_code"])

    def fetch_cards(self, kind: int, version_all: str) -> None:
        name = "get_card_list (full)" if kind == 1 else "get_card_list (incremental)"
        reply = self.call_with_token("get_card_list", {"device_id": self.device_id, "type": kind}, name=name)
        if reply is None:
            return
        version = str(reply["version"])
        # Devices that got the same list (same kind, from the same version, to the same version) share one copy.
        key = (version_all, "" if kind == 1 else self.versions["add"], version)
        cards = _card_lists.get(key)
        if cards is None:
            flags = {} if kind == 1 else dict(self.cards.flags)
            flags.update({c["card_no"]: int(c["flag"]) for c in reply["list"]})
            cards = _card_lists[key] = CardList(flags)
        self.cards = cards
        self.versions["add"] = version
        self.versions["all"] = version_all

    def _pick_card(self) -> str:
        if not self.cards.numbers or random.random() < self.o.dudu_unknown_card_ratio:
            return f"9{random.randint(0, 9999999):07d}"
        return random.choice(self.cards.numbers)

    def swipe(self, now: float) -> None:
        card = self._pick_card()
        status = "0" if self.cards.flags.get(card) == 1 else "1"  # decided from the device's own whitelist
        if now < self.offline_until or self.config.get("check_card_mode") == 1 or (self.cut_off and not self.o.dudu_drop_outage):
            self.offline("card_check_log", {"card_id": card, "status": status})
            return
        # Refusals for unknown or invalid cards are correct answers, not errors (D-DUDU-CODES).
        reply = self.call(
            "card_check",
            {"req_id": f"{self.device_id}-cc", "check_mode": 0, "device_id": self.device_id, "card_id": card, "time": _now_text()},
            expected=(0, 2001, 2002, 2003, 2004, 2005),
        )
        if reply is None and self.unanswered and not self.o.dudu_drop_outage:
            self.cut_off = True  # not answered: decided offline, logged once the platform is back
            self.offline("card_check_log", {"card_id": card, "status": status})

    def scan(self, now: float) -> None:
        if not self.keys:
            return
        key_id = random.choice(list(self.keys))
        ticket = qr.make(key_id, self.keys[key_id], eid=self.o.dudu_enterprise, uid=f"u{random.randint(1, 10**6)}", iat=int(now))
        if now < self.offline_until or self.config.get("check_mode") == 1 or (self.cut_off and not self.o.dudu_drop_outage):
            self.offline("offline_qrcode_log", {"qr_code": ticket, "status": "0"})
            return
        # 3005: the key group rotated since this device fetched it; the next heartbeat refreshes it.
        reply = self.call(
            "ticket_check",
            {"req_id": f"{self.device_id}-tc", "check_mode": 0, "device_id": self.device_id, "qr_code": ticket, "time": _now_text()},
            expected=(0, 2005, 3005),
        )
        if reply is None and self.unanswered and not self.o.dudu_drop_outage:
            self.cut_off = True
            self.offline("offline_qrcode_log", {"qr_code": ticket, "status": "0"})

    def offline(self, operation: str, fields: dict[str, Any]) -> None:
        self.seq += 1
        _lost["offline_events"] += 1
        self.queue.append(
            (
                operation,
                {"req_id": f"{self.device_id}-{self.seq}", "device_id": self.device_id, "time": _now_text(), "seq": self.seq, **fields},
            )
        )
        if time.time() >= self.offline_until and not self.cut_off:
            self.flush()

    def flush(self) -> None:
        """Send queued offline logs in order; stop at the first failure and keep the rest for later."""
        while self.queue:
            operation, body = self.queue[0]
            if body["seq"] == self.o.dudu_drop_log:  # fault injection: a backend that skips one log
                self.queue.pop(0)
                continue
            if self.call(operation, body) is None:
                self.cut_off = self.cut_off or self.unanswered
                return
            self.queue.pop(0)


# --- verdict ------------------------------------------------------------------------------------------------------------
@events.spawning_complete.add_listener
def _all_started(user_count: int, **_: Any) -> None:
    _spawned["done"] = True


@events.test_stopping.add_listener
def _stopping(**_: Any) -> None:
    # Every device then catches up and heartbeats at once (on_stop): a shutdown storm, not the steady state.
    _spawned["done"] = False


@events.request.add_listener
def _measure(response_time: float, exception: Any = None, **_: Any) -> None:
    if _spawned["done"] and exception is None:
        ms = int(response_time)
        _steady[ms if ms < 100 else int(round(ms, -1)) if ms < 1000 else int(round(ms, -2))] += 1


@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any]) -> None:
    data["dudu_lost"] = dict(_lost)
    data["dudu_steady"] = dict(_steady)
    for k in _lost:
        _lost[k] = 0
    _steady.clear()


@events.worker_report.add_listener
def _collect(client_id: str, data: dict[str, Any]) -> None:
    for k, v in data.get("dudu_lost", {}).items():
        _lost[k] += v
    for k, v in data.get("dudu_steady", {}).items():
        _steady[int(k)] += v


def _steady_p95() -> float | None:
    total = sum(_steady.values())
    if not total:
        return None
    seen = 0
    for ms in sorted(_steady):
        seen += _steady[ms]
        if seen >= 0.95 * total:
            return float(ms)
    return None


@events.quitting.add_listener
def _verdict(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    o = environment.parsed_options
    total = environment.stats.total
    error_rate = total.fail_ratio
    p95_all = total.get_response_time_percentile(0.95) or 0
    steady = _steady_p95()
    p95, scope = (
        (p95_all, "all requests") if o.dudu_p95_scope == "all" or steady is None else (steady, "from all devices started to stopping")
    )
    lost = _lost["unlogged"] + _lost["missing"]
    checks = [
        (f"error rate {error_rate:.3%} ≤ {o.dudu_max_error_rate:.3%}", error_rate <= o.dudu_max_error_rate),
        (
            f"p95 {p95:.0f} ms ≤ {o.dudu_max_p95:.0f} ms ({scope}; all requests incl. start-up and shutdown: {p95_all:.0f} ms)",
            p95 <= o.dudu_max_p95,
        ),
        (f"offline events never logged: {lost} of {_lost['offline_events']} (003 §4.3/§5.4)", lost == 0),
        (f"requests made: {total.num_requests}", total.num_requests > 0),
    ]
    passed = all(ok for _, ok in checks)
    role = "master" if isinstance(environment.runner, MasterRunner) else "local"
    print(f"\nDUDU fleet verdict ({role}): {'PASSED' if passed else 'FAILED'}")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'FAIL'}] {text}")
    environment.process_exit_code = 0 if passed else 1
