"""benchmarks/ymt_decode.py runs and prints its tables at a tiny size (the figures themselves are not judged here:
benchmarks print figures, tests do not time things). What is judged: every decode was a fresh signed request the
harness accepted (no error, no replay refused) and every one left its journal row."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_decode_benchmark_prints_its_tables_with_every_decode_accepted_and_journaled() -> None:
    args = ["--rounds", "1", "--duration", "0.5", "--warmup", "0.2", "--requests", "400", "--concurrency", "4"]
    args += ["--rate", "20", "--open-duration", "1", "--devices", "5", "--people", "5"]
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ymt_decode.py"), *args], capture_output=True, text=True, timeout=180, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert "| server | req/s | p50 ms | p99 ms | errors | × bare |" in text
    assert "target (≥ 0.5 × bare, p99 < 20 ms): " in text
    for server in ("bare Starlette (ceiling)", "harness serve"):
        row = next(line for line in text.splitlines() if line.startswith(f"| {server} |") or line.startswith(f"| {server} ("))
        assert row.split("|")[5].strip() == "0", row  # errors
    steady = re.search(r"^\| harness serve @ 20 decodes/s \| (\d+) \|[^|]+\|[^|]+\| (\d+) \| ([\d,]+) \| ([\d,]+) \|$", text, re.M)
    assert steady is not None, text
    assert steady.group(1) == "20" and steady.group(2) == "0"
    assert steady.group(3) == steady.group(4) != "0"  # decodes sent == journal rows
