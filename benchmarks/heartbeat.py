"""Heartbeat benchmark: `harness serve` answering DUDU heartbeats, against a bare Starlette ceiling and Prism as the peer.

    python benchmarks/heartbeat.py [--duration 10] [--concurrency 32] [--rate 2000] [--no-prism]

Every server runs as a subprocess on 127.0.0.1 with one process (with --pin, on Linux, pinned to CPU 0 and this
client to CPU 1). Servers are measured in alternating rounds so that other load on the machine hits them alike. The client is a small asyncio HTTP/1.1 keep-alive client
(cheaper per request than Locust or httpx, so it measures the server, not itself):

* saturation: `--concurrency` connections in a closed loop for `--duration` seconds → req/s, p50, p99;
* fleet: an open loop at `--rate` req/s (10,000 devices heartbeating every 5 s = 2,000 req/s); latency counts from the
  scheduled send time, so queueing is not hidden (no coordinated omission).

`harness serve` runs with its defaults: request validation against specs/dudu/platform.yaml, the rules, store
look-ups and durable group-commit journaling (a reply leaves only after its journal row commits). The journal row count
is checked against the requests sent. Prism (`@stoplight/prism-cli`, npm) is installed into a temporary directory; if
npm is missing or the install fails the row is skipped with a note.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from fixtures.dudu import heartbeat

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "dudu" / "platform.yaml"
PATH = "/dudu/location_report"
DEVICES = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PIN = False  # --pin: on an otherwise idle machine pinning makes runs comparable; on a shared one it traps the server


def _pin(cpu: int) -> None:
    if PIN and hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})


def heartbeat_bodies() -> list[bytes]:
    # The same heartbeat the tests send (fixtures.dudu), one per simulated device.
    return [
        orjson.dumps(heartbeat(f"DEV{i:05d}", req_id=f"hb{i}", version_code_add="1", line_version_code_all="1", offline_seq=0))
        for i in range(1, DEVICES + 1)
    ]


def requests(port: int, path: str = PATH) -> list[bytes]:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: "
    return [head.encode() + str(len(b)).encode() + b"\r\n\r\n" + b for b in heartbeat_bodies()]


# --- a minimal keep-alive client ------------------------------------------------------------------------------------
class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    async def send(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


@dataclass
class Result:
    name: str
    sent: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] | None = None
    note: str = ""

    @property
    def rps(self) -> float:
        return (self.sent - self.errors) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _ok(status: int, body: bytes, envelope: bool) -> bool:
    return status == 200 and (not envelope or b'"ret_code":0' in body)


async def _connect(port: int, n: int) -> list[Connection]:
    loop = asyncio.get_running_loop()
    return [(await loop.create_connection(Connection, "127.0.0.1", port))[1] for _ in range(n)]


async def closed_loop(name: str, port: int, concurrency: int, duration: float, warmup: float, envelope: bool, path: str = PATH) -> Result:
    reqs = requests(port, path)
    conns = await _connect(port, concurrency)
    result = Result(name, latencies=[])
    start = time.perf_counter()
    measure_from, stop = start + warmup, start + warmup + duration

    loop = asyncio.get_running_loop()

    async def worker(i: int, conn: Connection) -> None:
        k = i
        while True:
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            try:
                status, body = await conn.send(reqs[k % len(reqs)])
            except ConnectionError:  # counted as an error; carry on with a new connection
                status, body = 0, b""
                conn = (await loop.create_connection(Connection, "127.0.0.1", port))[1]
                conns.append(conn)
            k += concurrency
            t1 = time.perf_counter()
            if t0 >= measure_from:
                result.sent += 1
                result.latencies.append(t1 - t0)  # type: ignore[union-attr]
                if not _ok(status, body, envelope):
                    result.errors += 1

    await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
    result.seconds = duration
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    return result


async def open_loop(name: str, port: int, rate: float, duration: float, envelope: bool, pool: int = 256) -> Result:
    reqs = requests(port)
    conns = await _connect(port, pool)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for c in conns:
        idle.put_nowait(c)
    result = Result(name, latencies=[])
    tasks: set[asyncio.Task[None]] = set()

    async def one(k: int, scheduled: float) -> None:
        conn = await idle.get()
        try:
            status, body = await conn.send(reqs[k % len(reqs)])
        except ConnectionError:
            status, body = 0, b""
            conn = (await asyncio.get_running_loop().create_connection(Connection, "127.0.0.1", port))[1]
        finally:
            idle.put_nowait(conn)
        result.sent += 1
        result.latencies.append(time.perf_counter() - scheduled)  # type: ignore[union-attr]
        if not _ok(status, body, envelope):
            result.errors += 1

    start = time.perf_counter()
    k = 0
    while (now := time.perf_counter()) < start + duration:
        due = int((now - start) * rate)
        while k < due:
            task = asyncio.create_task(one(k, start + k / rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
        await asyncio.sleep(0.001)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    result.seconds = duration
    for c in conns:
        c.transport.close()  # type: ignore[union-attr]
    return result


# --- servers ----------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def server(cmd: list[str], port: int, probe: bytes | None = None, timeout: float = 60) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=lambda: _pin(0), cwd=ROOT)
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")  # type: ignore[union-attr]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{cmd[0]} did not listen on {port} within {timeout} s")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def install_prism(into: Path, reuse: Path | None) -> list[str] | None:
    if reuse is not None and (reuse / "node_modules" / ".bin" / "prism").exists():
        return [str(reuse / "node_modules" / ".bin" / "prism")]
    npm = shutil.which("npm")
    if npm is None:
        print("note: npm not found; Prism row skipped", file=sys.stderr)
        return None
    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "@stoplight/prism-cli@5"],
            cwd=into,
            check=True,
            timeout=400,
            capture_output=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"note: npm install @stoplight/prism-cli failed ({exc}); Prism row skipped", file=sys.stderr)
        return None
    binary = into / "node_modules" / ".bin" / "prism"
    return [str(binary)] if binary.exists() else None


def journal_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM journal WHERE operation = 'location_report'").fetchone()[0]


def run_client(coro: object) -> Result:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        return asyncio.run(coro)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per run (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load before each run (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="saturation rounds, servers alternating (default 3; medians reported)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections in the saturation runs (default 32)")
    parser.add_argument("--rate", type=float, default=2000.0, help="offered req/s in the fleet run (default 2000 = 10,000 devices / 5 s)")
    parser.add_argument("--fleet-duration", type=float, default=10.0, help="seconds of the open-loop fleet run (default 10)")
    parser.add_argument("--no-prism", action="store_true", help="leave out the Prism mock row (it needs npm)")
    parser.add_argument("--prism-dir", type=Path, default=None, help="reuse an existing `npm install @stoplight/prism-cli` here")
    parser.add_argument(
        "--validate-responses", action="store_true", help="serve with --validate-responses too (replies checked against the spec)"
    )
    parser.add_argument("--pin", action="store_true", help="pin each server to CPU 0 and this client to CPU 1 (idle machines)")
    args = parser.parse_args()
    global PIN
    PIN = args.pin
    _pin(1)
    harness = [str(Path(sys.executable).with_name("harness"))]
    if not Path(harness[0]).exists():
        harness = [sys.executable, "-m", "harness.cli"]
    with tempfile.TemporaryDirectory(prefix="dudu-bench-") as tmp, contextlib.ExitStack() as stack:
        db = Path(tmp) / "bench.db"
        subprocess.run(
            [*harness, "dudu", "fleet", "398", "--devices", str(DEVICES), "--cards", "1000", "--db", str(db)],
            check=True,
            capture_output=True,
        )
        servers: list[tuple[str, int, bool, str]] = []  # name, port, answers the DUDU envelope, path
        port = _free_port()
        stack.enter_context(server([sys.executable, str(ROOT / "benchmarks" / "bare_starlette.py"), "--port", str(port)], port))
        servers.append(("bare Starlette (ceiling)", port, False, PATH))
        port = _free_port()
        extra = ["--validate-responses"] if args.validate_responses else []
        stack.enter_context(server([*harness, "serve", "--port", str(port), "--db", str(db), *extra], port))
        name = "harness serve" + (" --validate-responses" if args.validate_responses else "")
        servers.append((name, port, True, PATH))
        harness_port = port
        if not args.no_prism:
            cmd = install_prism(Path(tmp), args.prism_dir)
            if cmd is not None:
                port = _free_port()
                try:
                    stack.enter_context(server([*cmd, "mock", str(SPEC), "-p", str(port), "-h", "127.0.0.1"], port, timeout=120))
                    servers.append(("Prism 5 mock (peer)", port, False, "/location_report"))  # Prism ignores the servers' /dudu
                except RuntimeError as exc:
                    print(f"note: Prism did not start ({exc}); row skipped", file=sys.stderr)
        runs: dict[str, list[Result]] = {n: [] for n, _, _, _ in servers}
        for _ in range(args.rounds):
            for n, p, envelope, path in servers:
                runs[n].append(run_client(closed_loop(n, p, args.concurrency, args.duration, args.warmup, envelope, path)))
        before = journal_rows(db)
        fleet = run_client(open_loop(f"harness serve @ {args.rate:.0f} req/s", harness_port, args.rate, args.fleet_duration, True))
        time.sleep(0.5)
        journaled = journal_rows(db) - before

    def median(rs: list[Result], key: object) -> float:
        return statistics.median(key(r) for r in rs)  # type: ignore[operator]

    ceiling = median(runs[servers[0][0]], lambda r: r.rps) or 1.0
    print(
        f"\nDUDU heartbeat (POST {PATH}), {args.concurrency} connections, {args.rounds} alternating rounds of {args.duration:g} s "
        f"(after {args.warmup:g} s warm-up each); medians; each server one process{', pinned to one core' if PIN else ''}\n"
    )
    print("| server | req/s | p50 ms | p99 ms | errors | × bare |")
    print("|---|---:|---:|---:|---:|---:|")
    for n, _, _, _ in servers:
        rs = runs[n]
        rps = median(rs, lambda r: r.rps)
        errors = sum(r.errors for r in rs)
        print(
            f"| {n} | {rps:,.0f} | {median(rs, lambda r: r.pct(0.5)):.2f} | {median(rs, lambda r: r.pct(0.99)):.2f} | {errors} | {rps / ceiling:.2f} |"
        )
    per_round = [h.rps / b.rps for b, h in zip(runs[servers[0][0]], runs[servers[1][0]], strict=True) if b.rps]
    print(f"\nharness ÷ bare per round: {', '.join(f'{r:.2f}' for r in per_round)} (median {statistics.median(per_round):.2f})")
    devices = args.rate * 5
    print(f"\nFleet: open loop at {args.rate:g} req/s for {args.fleet_duration:g} s ({devices:,.0f} devices heartbeating every 5 s)\n")
    print("| server | sent | p50 ms | p99 ms | errors | error rate | journal rows |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rate = fleet.errors / fleet.sent if fleet.sent else 1.0
    print(f"| {fleet.name} | {fleet.sent:,} | {fleet.pct(0.5):.2f} | {fleet.pct(0.99):.2f} | {fleet.errors} | {rate:.3%} | {journaled:,} |")
    ratio = statistics.median(per_round)  # paired rounds: the estimate least moved by other load on the machine
    parts = [
        (f"median per-round ratio {ratio:.2f}", ratio >= 0.6),
        (f"fleet p99 {fleet.pct(0.99):.2f} ms", fleet.pct(0.99) < 20),
        (f"fleet error rate {rate:.3%}", rate < 0.001),
    ]
    met = all(ok for _, ok in parts)
    print(
        f"\nload average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work on the machine skews absolute figures)"
    )
    print(
        f"\ntarget (≥ 0.6 × bare; p99 < 20 ms and < 0.1 % errors at the fleet rate): {'met' if met else 'NOT met'} ("
        + "; ".join(f"{text} {'ok' if ok else 'missed'}" for text, ok in parts)
        + ")"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
