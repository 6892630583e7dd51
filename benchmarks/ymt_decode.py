"""YMT decode benchmark: `harness serve` answering B.4 (`POST /ymt/qrcode/decode`) against bare Starlette on the same path.

    python benchmarks/ymt_decode.py [--rounds 3] [--duration 4] [--concurrency 16] [--rate 200] [--devices 200]

B.4 is the call a scene's scanner makes for every person at the gate. The harness verifies the request's RSA signature
(D-YMT-SIGN), checks its time window and that it was never received before (a look-up, and a claim that commits with
the journal row, D-YMT-TIME-WINDOW), looks the code and its person up (name and ID number sealed at rest), encrypts the
answer with the merchant's AES-256-GCM key (D-YMT-AES) and replies only after the journal row has committed (durable
group commit). The ceiling is a bare Starlette endpoint (this file, ``--bare PORT``)
that parses the JSON body and answers a fixed envelope of the same size (it is sent 2,000 such requests round and
round: it checks nothing, so they need not be fresh).

Every request is a fresh signed decode: the merchant and its scanners come from `harness ymt gate-setup`, codes are
issued just before each round (they live 60 s), and each request has its own (scanner, time) pair, times spread over
the ±300 s window, so no request repeats and none is refused as a replay. Servers run as subprocesses on 127.0.0.1, one
process each, measured in alternating rounds (closed loop, `--concurrency` connections); then an open loop at
`--rate` decodes a second gives the harness's p99 at a gate's load (latency from the scheduled send time). The journal
row count is checked against the decodes sent.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import itertools
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: its sibling benchmarks/heartbeat.py
from heartbeat import Connection, Result, _connect, _free_port, run_client, server  # noqa: E402

PATH = "/ymt/qrcode/decode"
OK = b'"code":"PY0000"'
WINDOW = 280  # seconds either side of now a request's time may take (the platform allows ±300 s)
SENT: dict[int, int] = {}  # port -> requests sent, warm-up included (the harness journals every one)


# --- the ceiling ----------------------------------------------------------------------------------------------------------
def bare(port: int) -> None:
    import orjson
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    reply = orjson.dumps({"code": "PY0000", "msg": "", "response": base64.b64encode(os.urandom(180)).decode()})

    async def decode(request: Request) -> Response:
        orjson.loads(await request.body())
        return Response(reply, media_type="application/json")

    app = Starlette(routes=[Route(PATH, decode, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# --- the requests ---------------------------------------------------------------------------------------------------------
class Gate:
    """The merchant of `harness ymt gate-setup`, its scanners, and the people whose codes are scanned."""

    def __init__(self, directory: Path, db: Path, people: int) -> None:
        from cryptography.hazmat.primitives import serialization

        config = json.loads((directory / "merchant.json").read_text(encoding="utf-8"))
        self.merchant_id: str = config["merchantId"]
        self.macs: list[str] = config["devices"]
        self.key = serialization.load_pem_private_key((directory / "merchant-key.pem").read_bytes(), None)
        self.db = db
        with sqlite3.connect(db) as conn:
            self.users = [r[0] for r in conn.execute("SELECT user_id FROM ymt_consents WHERE app_id = 'gate-app' LIMIT ?", (people,))]

    def codes(self) -> list[str]:
        """A fresh code for each person, as B.1 makes it (they live 60 s)."""
        from harness.schema import open_store
        from harness.ymt import admin

        store = open_store(self.db)
        try:
            return [admin.issue_code(store, user, admin.GATE_APP) for user in self.users]
        finally:
            store.close()

    def requests(self, port: int, count: int) -> list[bytes]:
        """``count`` signed decodes, each its own (scanner, time): scanner i % devices, time now − WINDOW + i // devices."""
        from harness.ymt import crypto

        if count > len(self.macs) * 2 * WINDOW:
            raise SystemExit(f"{count} requests need more than {len(self.macs)} scanners × {2 * WINDOW} s: raise --devices")
        codes = self.codes()
        start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=WINDOW)
        head = f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: "
        out = []
        for i in range(count):
            body = {
                "merchantId": self.merchant_id,
                "time": crypto.format_time(start + dt.timedelta(seconds=i // len(self.macs))),
                "qrcod": codes[i % len(codes)],
                "macId": self.macs[i % len(self.macs)],
            }
            body["sign"] = crypto.sign_request(body, self.key)  # type: ignore[arg-type]
            raw = json.dumps(body, separators=(",", ":")).encode()
            out.append(head.encode() + str(len(raw)).encode() + b"\r\n\r\n" + raw)
        return out


# --- the client: closed and open loops over a pool of requests used once ----------------------------------------------------
async def closed_loop(
    name: str, port: int, reqs: list[bytes], concurrency: int, duration: float, warmup: float, *, cycle: bool = False
) -> Result:
    """``cycle``: the pool is used round and round (the ceiling checks no signature and keeps no replay table)."""
    conns = await _connect(port, concurrency)
    result = Result(name, latencies=[])
    pool = itertools.cycle(reqs) if cycle else iter(reqs)
    start = time.perf_counter()
    measure_from, stop = start + warmup, start + warmup + duration
    ended = [stop]

    async def worker(conn: Connection) -> None:
        for request in pool:
            t0 = time.perf_counter()
            if t0 >= stop:
                return
            try:
                status, body = await conn.send(request)
            except ConnectionError:
                status, body = 0, b""
                conn = (await asyncio.get_running_loop().create_connection(Connection, "127.0.0.1", port))[1]
            t1 = time.perf_counter()
            SENT[port] = SENT.get(port, 0) + 1
            if t0 >= measure_from:
                result.sent += 1
                result.latencies.append(t1 - t0)  # type: ignore[union-attr]
                if status != 200 or OK not in body:
                    result.errors += 1
        ended[0] = min(ended[0], time.perf_counter())  # the pool ran out before the time was up

    await asyncio.gather(*(worker(c) for c in conns))
    result.seconds = max(ended[0] - measure_from, 1e-3)
    if ended[0] < stop:
        result.note = "pool exhausted"
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    return result


async def open_loop(name: str, port: int, reqs: list[bytes], rate: float, duration: float, pool_size: int = 64) -> Result:
    conns = await _connect(port, pool_size)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for c in conns:
        idle.put_nowait(c)
    result = Result(name, latencies=[])
    tasks: set[asyncio.Task[None]] = set()

    async def one(request: bytes, scheduled: float) -> None:
        conn = await idle.get()
        try:
            status, body = await conn.send(request)
        except ConnectionError:
            status, body = 0, b""
            conn = (await asyncio.get_running_loop().create_connection(Connection, "127.0.0.1", port))[1]
        finally:
            idle.put_nowait(conn)
        SENT[port] = SENT.get(port, 0) + 1
        result.sent += 1
        result.latencies.append(time.perf_counter() - scheduled)  # type: ignore[union-attr]
        if status != 200 or OK not in body:
            result.errors += 1

    total = min(len(reqs), int(rate * duration))
    start = time.perf_counter()
    k = 0
    while k < total:
        due = min(total, int((time.perf_counter() - start) * rate))
        while k < due:
            task = asyncio.create_task(one(reqs[k], start + k / rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
        await asyncio.sleep(0.001)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    result.seconds = total / rate
    for c in conns:
        c.transport.close()  # type: ignore[union-attr]
    return result


def crypto_alone(gate: Gate, n: int = 300) -> float:
    """Microseconds per decode of the cryptography alone, in this process: RSA-2048 verify of ``sign`` and AES-256-GCM
    encryption of a typical answer (what no bare endpoint can skip)."""
    from harness.ymt import crypto

    body = {"merchantId": gate.merchant_id, "time": "20261201120000", "qrcod": "YMTQ" + "A" * 24, "macId": gate.macs[0]}
    body["sign"] = crypto.sign_request(body, gate.key)  # type: ignore[arg-type]
    public = gate.key.public_key()  # type: ignore[union-attr]
    key, answer = crypto.new_reply_key(), json.dumps({"qrcodeType": "ymt", "concealName": "*三", "userName": "张三"}).encode()
    t0 = time.perf_counter()
    for _ in range(n):
        crypto.verify_request(body, public)  # type: ignore[arg-type]
        crypto.encrypt_reply(crypto.AES_256_GCM, key, answer, aad=crypto.reply_aad(body["merchantId"], body["macId"], body["time"]))
    return (time.perf_counter() - t0) / n * 1e6


def journal_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM journal WHERE operation LIKE '%decode%'").fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bare", type=int, metavar="PORT", help=argparse.SUPPRESS)  # serve the ceiling on PORT
    parser.add_argument("--duration", type=float, default=4.0, help="seconds measured per closed-loop run (default 4)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load before each run (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="closed-loop rounds, servers alternating (default 3; medians reported)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections in the closed loop (default 16)")
    parser.add_argument(
        "--requests", type=int, default=15000, help="signed decodes per round for the harness (default 15000; a run ends early if used up)"
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="decodes/s in the open loop (default 200: 200 scanners, one person a second each)"
    )
    parser.add_argument("--open-duration", type=float, default=8.0, help="seconds of the open-loop run at --rate (default 8)")
    parser.add_argument("--devices", type=int, default=200, help="scanners of the gate merchant (default 200)")
    parser.add_argument("--people", type=int, default=200, help="people whose codes are scanned (default 200)")
    args = parser.parse_args()
    if args.bare is not None:
        bare(args.bare)
        return 0
    harness = [str(Path(sys.executable).with_name("harness"))]
    if not Path(harness[0]).exists():
        harness = [sys.executable, "-m", "harness.cli"]
    with tempfile.TemporaryDirectory(prefix="ymt-bench-") as tmp:
        db, gate_dir = Path(tmp) / "bench.db", Path(tmp) / "gate"
        setup = [*harness, "ymt", "gate-setup", "--out", str(gate_dir), "--devices", str(args.devices), "--people", str(args.people)]
        subprocess.run([*setup, "--db", str(db)], check=True, capture_output=True)
        gate = Gate(gate_dir, db, args.people)
        bare_port, harness_port = _free_port(), _free_port()
        names = ("bare Starlette (ceiling)", "harness serve")
        runs: dict[str, list[Result]] = {n: [] for n in names}
        signing = []
        with (
            server([sys.executable, str(Path(__file__).resolve()), "--bare", str(bare_port)], bare_port),
            server([*harness, "serve", "--port", str(harness_port), "--db", str(db)], harness_port),
        ):
            before = journal_rows(db)
            for r in range(args.rounds):
                t0 = time.perf_counter()
                pools = {names[0]: gate.requests(bare_port, 2000), names[1]: gate.requests(harness_port, args.requests)}
                signing.append(time.perf_counter() - t0)
                order = (names[0], names[1]) if r % 2 == 0 else (names[1], names[0])
                for n in order:
                    port = bare_port if n == names[0] else harness_port
                    loop = closed_loop(n, port, pools[n], args.concurrency, args.duration, args.warmup, cycle=n == names[0])
                    runs[n].append(run_client(loop))
            pool = gate.requests(harness_port, max(1, int(args.rate * args.open_duration)))
            steady = run_client(open_loop(f"harness serve @ {args.rate:.0f} decodes/s", harness_port, pool, args.rate, args.open_duration))
            time.sleep(0.5)
            journaled = journal_rows(db) - before

    def median(rs: list[Result], key: object) -> float:
        return statistics.median(key(r) for r in rs)  # type: ignore[operator]

    ceiling = median(runs[names[0]], lambda r: r.rps) or 1.0
    print(
        f"\nYMT B.4 decode (POST {PATH}), fresh signed requests, {args.concurrency} connections, {args.rounds} alternating rounds "
        f"of {args.duration:g} s (after {args.warmup:g} s warm-up each); medians; each server one process\n"
    )
    print("| server | req/s | p50 ms | p99 ms | errors | × bare |")
    print("|---|---:|---:|---:|---:|---:|")
    for n in names:
        rs = runs[n]
        rps = median(rs, lambda r: r.rps)
        notes = {r.note for r in rs if r.note}
        suffix = f" ({', '.join(sorted(notes))}: raise --requests)" if notes else ""
        print(
            f"| {n}{suffix} | {rps:,.0f} | {median(rs, lambda r: r.pct(0.5)):.2f} | {median(rs, lambda r: r.pct(0.99)):.2f} | "
            f"{sum(r.errors for r in rs)} | {rps / ceiling:.2f} |"
        )
    per_round = [h.rps / b.rps for b, h in zip(runs[names[0]], runs[names[1]], strict=True) if b.rps]
    ratio = statistics.median(per_round) if per_round else 0.0
    print(f"\nharness ÷ bare per round: {', '.join(f'{r:.2f}' for r in per_round)} (median {ratio:.2f})")
    print(f"(making and signing the requests of a round, untimed: {statistics.median(signing):.1f} s)")
    micro = crypto_alone(gate)
    print(
        f"the cryptography alone (RSA-2048 verify + AES-256-GCM seal), in this process: {micro:.0f} µs a decode (≤ {1e6 / micro:,.0f}/s a core)"
    )
    print(f"\nSteady load: open loop at {args.rate:g} decodes/s for {args.open_duration:g} s\n")
    print("| server | sent | p50 ms | p99 ms | errors | decodes sent to harness, all runs | journal rows |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    sent = SENT.get(harness_port, 0)
    print(
        f"| {steady.name} | {steady.sent:,} | {steady.pct(0.5):.2f} | {steady.pct(0.99):.2f} | {steady.errors} | {sent:,} | {journaled:,} |"
    )
    errors = steady.errors + sum(r.errors for r in runs[names[1]])
    met = ratio >= 0.5 and steady.pct(0.99) < 20 and errors == 0 and journaled == sent
    print(
        f"\nload average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work on the machine skews absolute figures)"
    )
    print(
        f"\ntarget (≥ 0.5 × bare, p99 < 20 ms): {'met' if met else 'NOT met'} (median per-round ratio {ratio:.2f}, p99 {steady.pct(0.99):.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
