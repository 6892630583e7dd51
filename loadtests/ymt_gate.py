"""YMT morning rush at the gates: one Locust user per scene scanner (seed 001 附录B B.1, B.4).

Each scanner, against the harness or any implementation of specs/ymt/platform.yaml, over and over: a person at its
gate opens the channel app, which asks B.1 (``/qrcode/generate``) for the person's code; the scanner reads the QR
image (zxing), signs the decode request (D-YMT-SIGN) with a fresh ``time`` (D-YMT-TIME-WINDOW), sends B.4
(``/qrcode/decode``) and decrypts the AES-256-GCM answer (D-YMT-AES). Set the gate up first::

    harness ymt gate-setup --out gate/ --devices 50 --people 1000
    locust -f loadtests/ymt_gate.py --headless -u 50 -r 10 -t 2m --host http://127.0.0.1:8000 --ymt-dir gate/ --ymt-scanners 50

Scanner n makes codes only for the people whose number is n modulo --ymt-scanners (a person's new code revokes the
previous one, D-YMT-QR-VALUE: two scanners must not serve one person at once), so give it the -u value.

Verdict (exit code 1 on failure): error rate ≤ --ymt-max-error-rate, B.4 p95 ≤ --ymt-max-p95 ms, and every accepted
answer decrypted to the person's masked identity. A --ymt-dir that gate-setup did not write is one line and exit 2
before any scanner starts. Distributed: ``--master --expect-workers W …`` and W ``--worker`` processes, each with the
gate directory at the path the master's --ymt-dir names (Locust sends the master's options to every worker); worker
k's scanners are numbered k, k+W, … (W: the master's --expect-workers, or --ymt-workers given to the master).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import itertools
import json
import logging
import random
import sys
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from locust import FastHttpUser, events, task
from locust.exception import StopUser
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

BEIJING = dt.timezone(dt.timedelta(hours=8))
DECODE = "B.4 decode"
_counter = itertools.count()
_tally = {"decoded": 0, "decrypted": 0, "undecryptable": 0}  # this process's (summed on the master)
_gate: dict[str, Any] = {}
_gate_missing: list[Exception] = []  # said once per process


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("YMT gate")
    group.add_argument("--ymt-dir", default="gate", help="the directory harness ymt gate-setup --out wrote")
    group.add_argument("--ymt-scanners", type=int, default=50, help="number of scanners (-u): each serves its own people")
    group.add_argument(
        "--ymt-workers",
        type=int,
        default=0,
        help="number of Locust workers, so that their scanners do not overlap (default: the master's --expect-workers; "
        "Locust sends the master's options to every worker, so give it to the master, if at all)",
    )
    group.add_argument("--ymt-scans-per-min", type=float, default=30.0, help="codes each scanner reads per minute")
    group.add_argument("--ymt-max-error-rate", type=float, default=0.01, help="largest acceptable error rate")
    group.add_argument("--ymt-max-p95", type=float, default=500.0, help="largest acceptable B.4 p95, ms")


def _load(directory: str) -> dict[str, Any]:
    if not _gate:
        root = Path(directory)
        config = json.loads((root / "merchant.json").read_text(encoding="utf-8"))
        _gate.update(
            config=config,
            key=serialization.load_pem_private_key((root / config["privateKeyFile"]).read_bytes(), None),
            aes=AESGCM(base64.b64decode(config["aesKey"])),
            people=json.loads((root / "people.json").read_text(encoding="utf-8")),
        )
    return _gate


@events.init.add_listener
def _check_gate(environment: Any, **_: Any) -> None:
    """Read the gate once before any scanner starts, so a missing or partial set-up is one line and exit 2."""
    if not isinstance(environment.runner, LocalRunner) or environment.parsed_options is None:
        return  # a worker takes --ymt-dir from its master only when the run starts: its scanners check it then
    directory = environment.parsed_options.ymt_dir
    try:
        _load(directory)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(_gate_error(directory, e), file=sys.stderr)
        raise SystemExit(2) from None


def _gate_error(directory: str, e: Exception) -> str:
    if isinstance(e, FileNotFoundError) and e.filename:
        reason = f"no {Path(e.filename).name} there"
    elif isinstance(e, KeyError):
        reason = f"merchant.json has no {e.args[0]}"
    else:
        reason = f"not a gate ({type(e).__name__}: {str(e)[:120]})"
    return (
        f"ymt_gate: --ymt-dir {directory}: {reason}; make the gate first: harness ymt gate-setup --out {directory} --devices N --people M"
    )


def _qr_text(png_base64: str) -> str | None:
    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(png_base64))))
    return found[0].text if found else None


class Scanner(FastHttpUser):
    """One gate scanner with its macId, its people and its own strictly increasing clock."""

    def on_start(self) -> None:
        o = self.environment.parsed_options
        runner = self.environment.runner
        worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        workers = o.ymt_workers or (max(1, getattr(o, "expect_workers", 1) or 1) if isinstance(runner, WorkerRunner) else 1)
        self.number = worker + next(_counter) * workers
        self.gate_missing = False
        try:
            gate = _load(o.ymt_dir)
        except (OSError, ValueError, KeyError, TypeError) as e:  # a worker reads the --ymt-dir its master names
            if not _gate_missing:
                _gate_missing.append(e)
                logging.error(_gate_error(o.ymt_dir, e))
            self.gate_missing = True  # stopped at its first task: Locust logs a traceback for any exception in on_start
            return
        devices = gate["config"]["devices"]
        self.mac = devices[self.number % len(devices)]
        self.people = gate["people"][self.number % max(1, o.ymt_scanners) :: max(1, o.ymt_scanners)] or gate["people"]
        self.rate = o.ymt_scans_per_min
        self.last = dt.datetime.min.replace(tzinfo=dt.UTC)

    def wait_time(self) -> float:
        return random.expovariate(self.rate / 60) if self.rate > 0 else 1.0

    def _post(self, path: str, body: dict[str, Any], name: str) -> dict[str, Any] | None:
        with self.client.post(
            f"/ymt{path}", data=orjson.dumps(body), headers={"content-type": "application/json"}, name=name, catch_response=True
        ) as response:
            try:
                reply = orjson.loads(response.content or b"")
            except orjson.JSONDecodeError:
                response.failure(f"HTTP {response.status_code}: not JSON")
                return None
            if not isinstance(reply, dict) or reply.get("code") != "PY0000":
                response.failure(
                    f"{reply.get('code') if isinstance(reply, dict) else reply}: {str(reply.get('msg', ''))[:120] if isinstance(reply, dict) else ''}"
                )
                return None
            return reply

    def _time(self) -> str:
        moment = max(dt.datetime.now(dt.UTC), self.last + dt.timedelta(seconds=1))  # never the same signed request twice
        self.last = moment
        return moment.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")

    @task
    def person_at_the_gate(self) -> None:
        if self.gate_missing:
            raise StopUser()
        gate = _gate
        token = random.choice(self.people)
        shown = self._post("/qrcode/generate", {"accessToken": token, "latitude": "30.2741", "longitude": "120.1551"}, "B.1 generate")
        if shown is None:
            return
        code = _qr_text(shown["response"]["qrcodeBase64"])
        if code is None:
            events.request.fire(
                request_type="QR", name="read image", response_time=0, response_length=0, exception=ValueError("unreadable QR")
            )
            return
        body = {"merchantId": gate["config"]["merchantId"], "time": self._time(), "qrcod": code, "macId": self.mac}
        text = "&".join(f"{k}={body[k]}" for k in sorted(body))
        body["sign"] = base64.b64encode(gate["key"].sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
        reply = self._post("/qrcode/decode", body, DECODE)
        if reply is None:
            return
        _tally["decoded"] += 1
        aad = f"macId={body['macId']}&merchantId={body['merchantId']}&time={body['time']}".encode()
        try:
            data = base64.b64decode(reply["response"])
            plain = json.loads(gate["aes"].decrypt(data[:12], data[12:], aad))
            ok = plain.get("concealName") == shown["response"]["concealName"]
        except Exception:  # a tampered, mis-keyed or malformed answer: counted, never a crash of the scanner
            ok = False
        _tally["decrypted" if ok else "undecryptable"] += 1


@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any]) -> None:
    data["ymt_tally"] = dict(_tally)
    for k in _tally:
        _tally[k] = 0


@events.worker_report.add_listener
def _collect(client_id: str, data: dict[str, Any]) -> None:
    for k, v in data.get("ymt_tally", {}).items():
        _tally[k] += v


@events.quitting.add_listener
def _verdict(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    o = environment.parsed_options
    total = environment.stats.total
    decode = environment.stats.get(DECODE, "POST")
    p95 = decode.get_response_time_percentile(0.95) or 0
    checks = [
        (f"error rate {total.fail_ratio:.3%} ≤ {o.ymt_max_error_rate:.3%}", total.fail_ratio <= o.ymt_max_error_rate),
        (
            f"B.4 p95 {p95:.0f} ms ≤ {o.ymt_max_p95:.0f} ms ({decode.num_requests} decodes)",
            p95 <= o.ymt_max_p95 and decode.num_requests > 0,
        ),
        (
            f"answers decrypted to the person's identity: {_tally['decrypted']} of {_tally['decoded']} (D-YMT-AES)",
            _tally["undecryptable"] == 0 and _tally["decrypted"] == _tally["decoded"],
        ),
    ]
    passed = all(ok for _, ok in checks)
    role = "master" if isinstance(environment.runner, MasterRunner) else "local"
    print(f"\nYMT gate verdict ({role}): {'PASSED' if passed else 'FAILED'}")
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'FAIL'}] {text}")
    environment.process_exit_code = 0 if passed else 1
