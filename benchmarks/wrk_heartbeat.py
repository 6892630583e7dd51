"""One accepted DUDU heartbeat repeated by wrk: `harness serve` against bare Starlette, alternating rounds in one run.

    python benchmarks/wrk_heartbeat.py [--rounds 3] [--duration 5] [--connections 32]

wrk (https://github.com/wg/wrk, `apt-get install wrk`) sends the same accepted heartbeat over ``--connections``
keep-alive connections from one thread for ``--duration`` seconds per round; the servers alternate round by round
so that other load on the machine hits them alike, and the per-round ratio harness ÷ bare is the figure (target
≥ 0.75). Unlike benchmarks/heartbeat.py, which rotates 1,000 devices through a Python client, this isolates the
per-request cost of the exchange lifecycle (validation, rules, masking, durable group-commit journaling) from the
client's. Both servers run as one uvicorn process each, on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: its sibling benchmarks/heartbeat.py
from heartbeat import ROOT, _free_port, heartbeat_bodies, journal_rows, server  # noqa: E402

LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{body}]]
"""
TARGET = 0.75


def run_wrk(wrk: str, script: Path, port: int, path: str, connections: int, duration: float) -> tuple[float, int]:
    """(requests/s, non-2xx or socket errors) of one wrk run."""
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{duration:g}s", "-s", str(script), f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout):? (\d+)", out))
    return rps, errors


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux /proc), or None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def measured(wrk: str, script: Path, port: int, pid: int, path: str, connections: int, duration: float) -> tuple[float, int, float | None]:
    """(requests/s, errors, server CPU µs per request) of one wrk run against the server process ``pid``."""
    before = cpu_seconds(pid)
    rps, errors = run_wrk(wrk, script, port, path, connections, duration)
    after = cpu_seconds(pid)
    cpu = None if before is None or after is None or not rps else (after - before) / (rps * duration) * 1e6
    return rps, errors, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds, servers alternating (default 3; the median ratio is reported)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk keep-alive connections from one thread (default 32)")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk not found: install it (apt-get install wrk) to run this benchmark", file=sys.stderr)
        return 2
    harness = [str(Path(sys.executable).with_name("harness"))]
    if not Path(harness[0]).exists():
        harness = [sys.executable, "-m", "harness.cli"]
    path = "/dudu/location_report"
    with tempfile.TemporaryDirectory(prefix="dudu-wrk-") as tmp:
        db = Path(tmp) / "bench.db"
        subprocess.run(
            [*harness, "dudu", "fleet", "398", "--devices", "10", "--cards", "10", "--db", str(db)], check=True, capture_output=True
        )
        script = Path(tmp) / "heartbeat.lua"
        script.write_text(LUA.format(body=heartbeat_bodies()[0].decode()))
        bare_port, harness_port = _free_port(), _free_port()
        bare: list[float] = []
        served: list[float] = []
        cpu: dict[str, list[float | None]] = {"bare": [], "harness": []}
        errors = 0
        with (
            server([sys.executable, str(ROOT / "benchmarks" / "bare_starlette.py"), "--port", str(bare_port)], bare_port) as bare_proc,
            server([*harness, "serve", "--port", str(harness_port), "--db", str(db)], harness_port) as harness_proc,
        ):
            run_wrk(wrk, script, bare_port, path, args.connections, 1)  # warm-up
            run_wrk(wrk, script, harness_port, path, args.connections, 1)
            before = journal_rows(db)
            for _ in range(args.rounds):
                rps, err, used = measured(wrk, script, bare_port, bare_proc.pid, path, args.connections, args.duration)
                bare.append(rps)
                cpu["bare"].append(used)
                rps, err2, used = measured(wrk, script, harness_port, harness_proc.pid, path, args.connections, args.duration)
                served.append(rps)
                cpu["harness"].append(used)
                errors += err + err2
            journaled = journal_rows(db) - before
    ratios = [h / b for b, h in zip(bare, served, strict=True)]
    ratio = statistics.median(ratios)
    print(f"\nwrk -t1 -c{args.connections} -d{args.duration:g}s, one accepted heartbeat (POST {path}), {args.rounds} alternating rounds\n")
    print("| round | bare Starlette req/s | harness serve req/s | × bare | bare CPU µs/req | harness CPU µs/req |")
    print("|---:|---:|---:|---:|---:|---:|")
    for i, (b, h, r, cb, ch) in enumerate(zip(bare, served, ratios, cpu["bare"], cpu["harness"], strict=True), 1):
        print(f"| {i} | {b:,.0f} | {h:,.0f} | {r:.2f} | {_us(cb)} | {_us(ch)} |")
    print(
        "\nCPU µs/req: the server process's CPU time (all its threads) during the round ÷ the requests it answered; a "
        "server at one full core has req/s ≈ 10⁶ ÷ that figure, so the ratio follows it. The bare figure moving from round "
        "to round is the machine (other load, clock), not the code."
    )
    print(f"\nerrors {errors}; journal rows written during the rounds {journaled:,} (every accepted heartbeat is one)")
    print(f"target (≥ {TARGET} × bare, median of rounds): {'met' if ratio >= TARGET and not errors else 'NOT met'} (median {ratio:.2f})")
    return 0


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


if __name__ == "__main__":
    sys.exit(main())
