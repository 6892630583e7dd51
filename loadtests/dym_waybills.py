"""DYM waybills: logistics enterprises push waybills, drivers accept them by scanning their QR codes (seed 004
§二(二)1(2)–(4), the designed API of docs/dym.md).

Each Locust user is one enterprise dispatcher with its own drivers (claimed at start through the enterprise app, each
with its token kept by the user as the drivers' app would). In a loop it:

* pushes a public waybill (公共运单) and offers its QR code to ``--dym-contenders`` drivers of this process (this user's or
  another's): they race to accept it, and exactly one must be answered "accepted" (the others 4004, D-DYM-WAYBILL);
* pushes an exclusive waybill (专属运单) for one of its drivers, who accepts it;
* follows a waybill's status now and then (waybill/status answers the events with their ledger receipts).

Every call is signed (D-DYM-SIGN: app_id, timestamp, a fresh nonce, HMAC-SHA256). Register the two apps first::

    harness dym enterprise-add 负载测试物流 --app-id LOADENT000000001          # prints the secret
    harness dym enterprise-add 负载运力平台 --kind platform --app-id LOADPLT000000001
    harness serve &
    DYM_SECRET=… DYM_DRIVER_SECRET=… locust -f loadtests/dym_waybills.py --headless -u 20 -r 10 -t 1m \\
        --host http://127.0.0.1:8000 --dym-app-id LOADENT000000001 --dym-driver-app-id LOADPLT000000001

Verdict (exit code 1 on failure): error rate ≤ --dym-max-error-rate (a contested public waybill lost to another driver
is not an error), p95 ≤ --dym-max-p95 ms, no public waybill answered "accepted" to two drivers, and at least one
waybill accepted. Distributed: ``locust -f loadtests/dym_waybills.py --master --expect-workers 2 …`` and ``--worker``
processes; the apps and secrets go to the master (Locust sends the master's options to every worker, replacing their
own: a secret set only on a worker is replaced by the master's empty one). Each worker's users race for the waybills
pushed in that worker, and the master sums the workers' acceptance accounting into one verdict. A missing app or
secret is one line and exit 2 before any user starts.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import random
import secrets
import sys
import time
from typing import Any

import orjson
from locust import FastHttpUser, between, events, task
from locust.runners import MasterRunner, WorkerRunner

from harness.dym import ids, signing

_open: collections.deque[str] = collections.deque(maxlen=10_000)  # public waybill QR offers of this process
_drivers: list[tuple[str, str]] = []  # (driver_code, driver_token) of every user of this process
_accounting = {"pushed_public": 0, "accepted_public": 0, "lost_public": 0, "double": 0, "accepted_exclusive": 0}
_winners: dict[str, str] = {}  # public waybill → the driver answered "accepted" (this process)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("DYM waybills")
    group.add_argument("--dym-base", default="/dym", help="the API's base path (or /_session/<id>/dym)")
    group.add_argument("--dym-app-id", default=os.environ.get("DYM_APP_ID", ""), help="the enterprise app_id ($DYM_APP_ID)")
    group.add_argument("--dym-secret", default=os.environ.get("DYM_SECRET", ""), help="its secret ($DYM_SECRET)")
    group.add_argument("--dym-driver-app-id", default=os.environ.get("DYM_DRIVER_APP_ID", ""), help="the drivers' carrier app_id")
    group.add_argument("--dym-driver-secret", default=os.environ.get("DYM_DRIVER_SECRET", ""), help="its secret ($DYM_DRIVER_SECRET)")
    group.add_argument("--dym-drivers", type=int, default=3, help="drivers per enterprise user")
    group.add_argument("--dym-contenders", type=int, default=2, help="drivers offered each public waybill")
    group.add_argument("--dym-max-error-rate", type=float, default=0.01, help="verdict: highest acceptable failure ratio")
    group.add_argument("--dym-max-p95", type=float, default=500.0, help="verdict: highest acceptable p95, ms")


@events.init.add_listener
def _check_apps(environment: Any, **_: Any) -> None:
    """Every app and secret before any user starts: a missing one is one line and exit 2, not a traceback per user.
    Checked on the master too, not on a worker: Locust sends the master's options to every worker, replacing their own,
    so the apps and secrets a worker signs with are the master's."""
    o = environment.parsed_options
    if isinstance(environment.runner, WorkerRunner) or o is None:
        return
    missing = [
        flag
        for flag, value in (
            ("--dym-app-id", o.dym_app_id),
            ("--dym-secret ($DYM_SECRET)", o.dym_secret),
            ("--dym-driver-app-id", o.dym_driver_app_id),
            ("--dym-driver-secret ($DYM_DRIVER_SECRET)", o.dym_driver_secret),
        )
        if not value
    ]
    if missing:
        print(
            f"dym_waybills: missing {', '.join(missing)}: register an enterprise app and a platform app first "
            "(harness dym enterprise-add NAME --app-id ID; harness dym enterprise-add NAME --kind platform --app-id ID)",
            file=sys.stderr,
        )
        raise SystemExit(2)


def _identity(rng: random.Random) -> dict[str, str]:
    born = dt.date(1970, 1, 1) + dt.timedelta(days=rng.randrange(365 * 30))
    return {
        "id_no": ids.make_id("5301" + f"{rng.randrange(1, 30):02d}", born, rng.randrange(1, 999)),
        "name": "负载司机",
        "mobile": "15" + "".join(str(rng.randrange(10)) for _ in range(9)),
        "plate": "云A" + "".join(rng.choice("0123456789ABCDEFGHJK") for _ in range(5)),
    }


class Enterprise(FastHttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.o = o = self.environment.parsed_options
        self.rng = random.Random(secrets.randbits(64))
        self.mine: list[tuple[str, str]] = []
        for _ in range(o.dym_drivers):
            reply = self.call("driver_claim", _identity(self.rng), driver=False)
            if reply and reply.get("code") == "0":
                self.mine.append((reply["data"]["driver_code"], reply["data"]["driver_token"]))
        _drivers.extend(self.mine)
        self.pushed: list[str] = []

    def call(self, operation: str, body: dict[str, Any], *, driver: bool, name: str | None = None, contested: bool = False) -> Any:
        app, secret = (self.o.dym_driver_app_id, self.o.dym_driver_secret) if driver else (self.o.dym_app_id, self.o.dym_secret)
        document = signing.signed(body, app, secret, now=time.time())
        path = self.o.dym_base + "/" + operation.replace("_", "/", 1)
        with self.client.post(
            path, data=orjson.dumps(document), headers={"content-type": "application/json"}, name=name or operation, catch_response=True
        ) as response:
            try:
                reply = orjson.loads(response.content or b"null")
            except orjson.JSONDecodeError:
                response.failure(f"HTTP {response.status_code}: not JSON")
                return None
            code = reply.get("code") if isinstance(reply, dict) else None
            if code == "0" or (contested and code == "4004"):
                response.success()
            else:
                response.failure(f"code {code}: {str(reply.get('msg', ''))[:120] if isinstance(reply, dict) else ''}")
            return reply

    def _push(self, kind: str, driver_code: str | None = None) -> str | None:
        no = f"LT-{secrets.token_hex(6).upper()}"
        body: dict[str, Any] = {
            "waybill_no": no,
            "kind": kind,
            "origin": "昆明",
            "destination": "曲靖",
            "goods": "钢材",
            "weight_kg": 28000,
        }
        if driver_code:
            body["driver_code"] = driver_code
        reply = self.call("waybill_push", body, driver=False, name=f"waybill_push ({kind})")
        if not reply or reply.get("code") != "0":
            return None
        self.pushed.append(no)
        return reply["data"]["qr_content"]

    def _accept(self, qr: str, driver: tuple[str, str], *, public: bool) -> None:
        code, token = driver
        name = "waybill_accept (public)" if public else "waybill_accept (exclusive)"
        reply = self.call(
            "waybill_accept", {"driver_code": code, "driver_token": token, "qr_content": qr}, driver=True, name=name, contested=public
        )
        if not reply:
            return
        waybill = qr.split(".")[2]
        if reply.get("code") == "0":
            if not public:
                _accounting["accepted_exclusive"] += 1
            elif waybill in _winners and _winners[waybill] != code:
                _accounting["double"] += 1  # a second driver told "accepted": the race the platform must close
            else:
                _winners[waybill] = code
                _accounting["accepted_public"] += 1
        elif reply.get("code") == "4004" and public:
            _accounting["lost_public"] += 1

    @task(3)
    def public_waybill(self) -> None:
        qr = self._push("public")
        contenders = max(1, self.o.dym_contenders)
        if qr is not None:
            _accounting["pushed_public"] += 1
            _open.extend([qr] * contenders)
        # as many offers taken as were put in, so every pushed waybill is raced for while it is fresh; the offers of one
        # waybill are taken by whichever users come next, so its contenders overlap in time
        for _ in range(contenders):
            if not (_open and _drivers):
                break
            self._accept(_open.popleft(), self.rng.choice(_drivers), public=True)

    @task(1)
    def exclusive_waybill(self) -> None:
        if not self.mine:
            return
        driver = self.rng.choice(self.mine)
        qr = self._push("exclusive", driver[0])
        if qr is not None:
            self._accept(qr, driver, public=False)

    @task(1)
    def status(self) -> None:
        if self.pushed:
            self.call("waybill_status", {"waybill_no": self.rng.choice(self.pushed[-20:])}, driver=False)


# --- verdict ------------------------------------------------------------------------------------------------------------
@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any]) -> None:
    data["dym_accounting"] = dict(_accounting)
    for k in _accounting:
        _accounting[k] = 0


@events.worker_report.add_listener
def _collect(client_id: str, data: dict[str, Any]) -> None:
    for k, v in data.get("dym_accounting", {}).items():
        _accounting[k] += v


@events.quitting.add_listener
def _verdict(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    o = environment.parsed_options
    total = environment.stats.total
    p95 = total.get_response_time_percentile(0.95) or 0
    a = _accounting
    checks = [
        (f"error rate {total.fail_ratio:.3%} ≤ {o.dym_max_error_rate:.3%}", total.fail_ratio <= o.dym_max_error_rate),
        (f"p95 {p95:.0f} ms ≤ {o.dym_max_p95:.0f} ms", p95 <= o.dym_max_p95),
        (
            f"public waybills answered accepted to two drivers: {a['double']} (pushed {a['pushed_public']}, accepted "
            f"{a['accepted_public']}, lost to another driver {a['lost_public']}; D-DYM-WAYBILL)",
            a["double"] == 0,
        ),
        (f"waybills accepted: {a['accepted_public'] + a['accepted_exclusive']}", a["accepted_public"] + a["accepted_exclusive"] > 0),
    ]
    passed = all(ok for _, ok in checks)
    role = "master" if isinstance(environment.runner, MasterRunner) else "local"
    print(f"\nDYM waybills verdict ({role}): {'PASSED' if passed else 'FAILED'}")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'FAIL'}] {text}")
    environment.process_exit_code = 0 if passed else 1
