"""Scale-out on PostgreSQL, driven over HTTP: `harness serve --store URL --workers 2`, and two `harness serve`
processes on two ports sharing one database (the README's two-host recipe, on loopback).

Every request is sent on a connection whose serving process is known (psutil maps the connection to the worker that
accepted it), so "issued on one, used on the other" is what the tests really do, not what chance may have done."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from fixtures import dudu as fx
from fixtures import files
from harness.cli import main
from harness.journal import Journal
from harness.pki import enrol
from harness.schema import open_store
from harness.signing import Signer

psutil = pytest.importorskip("psutil", reason="the scale-out tests map connections to worker processes with psutil")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(store: str, *args: str, port: int | None = None) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`harness serve --store STORE ARGS` on a free loopback port, once it answers; stopped afterwards. Every process
    gets the same HARNESS_SEAL_KEY, as the two-host recipe says (and no key file lands in the working directory)."""
    port = port or _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "serve", "--port", str(port), "--store", store, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "HARNESS_SEAL_KEY": os.environ["HARNESS_SEAL_KEY"]},  # set by the pg_url fixture
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_harness/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "harness serve did not come up"
            time.sleep(0.3)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Pinned:
    """One kept-alive HTTP/1.1 connection, and the process that serves it (``pid``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.connect()
        self.local_port = self.conn.sock.getsockname()[1]
        self.pid: int | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        self.conn.request(method, path, body=body, headers={"content-type": "application/json", **(headers or {})})
        reply = self.conn.getresponse()
        data = reply.read()
        return reply.status, json.loads(data) if data else None

    def post(self, path: str, body: Any, query: dict[str, str] | None = None) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        target = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
        status, answer = self.request("POST", target, raw)
        assert status == 200, (status, answer)
        return answer

    def close(self) -> None:
        self.conn.close()


def _owner(pids: list[int], port: int, local_port: int) -> int | None:
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        for c in connections:
            if c.laddr and c.raddr and c.laddr.port == port and c.raddr.port == local_port:
                return pid
    return None


def one_per_worker(proc: subprocess.Popen[bytes], port: int, workers: int) -> list[Pinned]:
    """A connection served by each of the server's ``workers`` worker processes (connecting until each took one)."""
    pids = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    found: dict[int, Pinned] = {}
    spare: list[Pinned] = []
    deadline = time.monotonic() + 30
    while len(found) < workers:
        assert time.monotonic() < deadline, f"only {len(found)} of {workers} workers took a connection"
        batch = [Pinned(port) for _ in range(8)]
        for pinned in batch:
            assert pinned.request("GET", "/_harness/health")[0] == 200
            pinned.pid = _owner(pids, port, pinned.local_port)
            if pinned.pid is not None and pinned.pid not in found:
                found[pinned.pid] = pinned
            else:
                spare.append(pinned)
    for pinned in spare:
        pinned.close()
    return list(found.values())


def _space_heartbeats(store: Any, seconds: float) -> None:
    """Journal times as if the heartbeats had come ``seconds`` apart (the test does not sleep)."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for i, row in enumerate(store.query("SELECT id FROM journal WHERE platform = 'dudu' ORDER BY id")):
        store.execute("UPDATE journal SET at = ? WHERE id = ?", ((start + dt.timedelta(seconds=i * seconds)).isoformat(), row["id"]))


def _yxc_vendor(store: Any, tmp_path: Path) -> Signer:
    enrolment = enrol(store, "yxc", "A0001", tmp_path / "vendor")
    return Signer.from_pem_files(enrolment.files["key"], enrolment.files["cert"])


def _upload(conn: Pinned, signer: Signer, ts: int) -> Any:
    """A signed YXC image upload (multipart) with the given ``ts``."""
    data = files.png()
    boundary = "harnessboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    query = "&".join(f"{k}={v}" for k, v in signer.query(data, ts).items())
    status, answer = conn.request("POST", f"/yxc/imageup/sfz?{query}", body, {"content-type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200, answer
    return answer


def _device_scenario(a: Pinned, b: Pinned, prefix: str = "/dudu") -> str:
    """A DUDU device whose requests alternate between two serving processes: token on one, heartbeat and lists on
    the other, offline swipes logged on both, heartbeats on both."""
    token = a.post(f"{prefix}/get_token", {"enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})["token"]
    hb = b.post(f"{prefix}/location_report", fx.heartbeat(offline_seq=0))
    assert hb["ret_code"] == 0, hb
    held = {"version_code_all": hb["version_code_all"], "version_code_add": hb["version_code_add"]}
    assert b.post(f"{prefix}/get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 1})["ret_code"] == 0
    line = a.post(f"{prefix}/get_line_card_list", {"token": token, "device_id": fx.DEVICE})
    assert line["ret_code"] == 0, line
    held["line_version_code_all"] = line["version"]
    for seq, conn in ((1, a), (2, b), (3, a)):
        assert conn.post(f"{prefix}/card_check_log", fx.card_log(seq))["ret_code"] == 0
    for conn in (b, a, b):
        assert conn.post(f"{prefix}/location_report", fx.heartbeat(offline_seq=3, **held))["ret_code"] == 0
    return token


def test_two_workers_are_one_platform_over_http(pg_url: str, tmp_path: Path) -> None:
    """`harness serve --store URL --workers 2`: a DUDU token from one worker serves the other, a YXC `ts` used on one
    is refused on the other (000 附件二 返回码 201), a certification session spanning both is graded as one, and a
    device whose enterprise switched IC cards off is refused by either worker on its next swipe."""
    store = open_store(pg_url)
    fx.world(store)
    signer = _yxc_vendor(store, tmp_path)
    runner = CliRunner()
    started = runner.invoke(main, ["certify", "start", "dudu-device-backend", "--enterprise", fx.ENTERPRISE, "--store", pg_url])
    assert started.exit_code == 0, started.output
    session = started.output.strip().splitlines()[-1]
    try:
        with serving(pg_url, "--workers", "2") as (proc, port):
            a, b = one_per_worker(proc, port, 2)
            assert a.pid != b.pid
            # DUDU through a certification session's base path, alternating workers.
            _device_scenario(a, b, prefix=f"/_session/{session}/dudu")
            _space_heartbeats(store, 2)
            report = tmp_path / "report"
            finished = runner.invoke(main, ["certify", "finish", session, "--report", str(report), "--store", pg_url, "-q"])
            assert finished.exit_code == 0, (
                finished.output,
                (report / "report.txt").read_text() if (report / "report.txt").exists() else "",
            )
            # YXC: the same signed ts on the other worker is a replay.
            ts = int(time.time() * 1000)
            assert _upload(a, signer, ts)["errorcode"] == 0
            replayed = _upload(b, signer, ts)
            assert replayed["errorcode"] == 201 and replayed["data"]["violations"][0]["rule"] == "YXC-SIGN-TS-UNIQUE"
            assert _upload(b, signer, ts + 1)["errorcode"] == 0
            # Cross-process cache: both workers have the device row cached; a change made elsewhere reaches both.
            for conn in (a, b):
                assert conn.post("/dudu/card_check", fx.card_check())["ret_code"] == 0
            assert runner.invoke(main, ["dudu", "enterprise-set", fx.ENTERPRISE, "--card-mode", "0", "--store", pg_url]).exit_code == 0
            for conn in (a, b):
                refused = conn.post("/dudu/card_check", fx.card_check())
                assert refused["ret_code"] != 0 and "card_mode" in json.dumps(refused, ensure_ascii=False), refused
            a.close()
            b.close()
        entries = Journal(store).query(limit=None)
        assert {e["platform"] for e in entries} == {"dudu", "yxc"}
    finally:
        store.close()


def test_two_serve_processes_on_two_ports_share_one_database(pg_url: str, tmp_path: Path) -> None:
    """The two-host recipe (README, Scale-out) on loopback: two `harness serve` on two ports, one PostgreSQL. A token
    issued by one host is valid on the other, a `ts` used on one is refused on the other, either host's journal shows
    both hosts' exchanges, a fault switched on through one host's control API is obeyed by the other, and a change to a
    device's enterprise is seen by both hosts' device caches on the next request."""
    store = open_store(pg_url)
    fx.world(store)
    signer = _yxc_vendor(store, tmp_path)
    store.close()
    with serving(pg_url) as (_, port_a), serving(pg_url) as (_, port_b):
        a, b = Pinned(port_a), Pinned(port_b)
        try:
            _device_scenario(a, b)
            ts = int(time.time() * 1000)
            assert _upload(b, signer, ts)["errorcode"] == 0
            assert _upload(a, signer, ts)["errorcode"] == 201  # 000 附件二 返回码 201 时间戳重复, across hosts
            seen = []
            for conn in (a, b):
                status, listed = conn.request("GET", "/_harness/journal?limit=1000")
                assert status == 200
                seen.append(sorted(e["id"] for e in listed["entries"]))
            assert seen[0] == seen[1] and len(seen[0]) == 12  # 10 DUDU exchanges and 2 YXC ones, from both hosts
            # The device caches of both hosts hold the device; the IC-card switch turned off through the store.
            for conn in (a, b):
                assert conn.post("/dudu/card_check", fx.card_check())["ret_code"] == 0
            other = open_store(pg_url)
            try:
                from harness.dudu import admin

                admin.configure(other, fx.ENTERPRISE, card_mode=0)
            finally:
                other.close()
            for conn in (b, a):
                assert conn.post("/dudu/card_check", fx.card_check())["ret_code"] != 0  # at once: no request in between
            # A fault added through host A's control API: host B answers with it within FaultBook.RECHECK.
            status, added = a.request(
                "POST", "/_harness/faults", json.dumps({"kind": "status", "platform": "dudu", "status": 503}).encode()
            )
            assert status == 201, added
            deadline = time.monotonic() + 2
            while b.request("POST", "/dudu/get_token", json.dumps({"enterprise_id": "x", "secret": "y"}).encode())[0] != 503:
                assert time.monotonic() < deadline, "host B never saw the fault added through host A"
                time.sleep(0.05)
            assert a.request("DELETE", "/_harness/faults")[0] == 200
        finally:
            a.close()
            b.close()


def test_the_console_live_journal_shows_what_another_process_journals(pg_url: str) -> None:
    """Two `harness serve` on one PostgreSQL: the live journal streamed by host A shows the exchanges host B journals
    (host A's in-process feed hears only its own commits; on a shared store the stream also reads the journal)."""
    import threading

    store = open_store(pg_url)
    fx.world(store)
    store.close()
    with serving(pg_url) as (_, port_a), serving(pg_url) as (_, port_b):
        got: list[dict[str, Any]] = []
        ready = threading.Event()

        def listen() -> None:
            with httpx.stream("GET", f"http://127.0.0.1:{port_a}/console/events", timeout=30) as reply:
                event = ""
                for line in reply.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                        ready.set()
                    elif line.startswith("data: ") and event == "exchange":
                        got.append(json.loads(line[6:]))
                        if len(got) >= 4:
                            return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert ready.wait(20), "the stream never said hello"
        b, a = Pinned(port_b), Pinned(port_a)
        try:
            for _ in range(3):
                assert b.post("/dudu/location_report", fx.heartbeat(offline_seq=0))["ret_code"] == 0
            assert a.post("/dudu/location_report", fx.heartbeat(offline_seq=0))["ret_code"] == 0  # its own, by the feed
        finally:
            a.close()
            b.close()
        listener.join(15)
        assert len(got) == 4 and len({e["id"] for e in got}) == 4, got  # each exchange once, whichever host journaled it
