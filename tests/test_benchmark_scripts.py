"""The heartbeat benchmarks run and print their tables (at a tiny size: the figures themselves are not judged here —
benchmarks print figures, tests do not time things)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_wrk_heartbeat_prints_its_table() -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed: apt-get install wrk to run benchmarks/wrk_heartbeat.py and this test")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "wrk_heartbeat.py"), "--rounds", "1", "--duration", "1", "--connections", "4"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| round | bare Starlette req/s | harness serve req/s | × bare | bare CPU µs/req | harness CPU µs/req |" in out.stdout
    assert re.search(r"^\| 1 \| [\d,]+ \| [\d,]+ \| [\d.]+ \| \d+ \| \d+ \|$", out.stdout, re.M), out.stdout
    assert "errors 0;" in out.stdout and "target (≥ 0.75 × bare" in out.stdout


def test_heartbeat_prints_its_tables_labelled_by_the_rate_it_ran() -> None:
    """The fleet table names the devices the offered rate stands for (rate × 5 s), not always 10,000, and the target
    line says which of its three parts was missed."""
    args = ["--rounds", "1", "--duration", "0.5", "--warmup", "0", "--no-prism", "--fleet-duration", "1", "--rate", "50"]
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "heartbeat.py"), *args, "--concurrency", "4"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert "| server | req/s | p50 ms | p99 ms | errors | × bare |" in text and "| harness serve | " in text, text
    assert "1 alternating rounds of 0.5 s" in text, text  # not "0 s"
    assert "Fleet: open loop at 50 req/s for 1 s (250 devices heartbeating every 5 s)" in text, text
    target = next(line for line in text.splitlines() if line.startswith("target ("))
    for part in ("median per-round ratio ", "fleet p99 ", "fleet error rate 0.000% ok"):
        assert part in target, target
    assert ("NOT met" in target) == ("missed" in target), target


def test_ledger_judges_each_figure_against_its_target_and_refuses_bad_sizes_in_one_line(tmp_path: Path) -> None:
    bench = [sys.executable, str(ROOT / "benchmarks" / "ledger.py")]
    out = subprocess.run(
        [*bench, "--entries", "500", "--appends", "100", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert sum("(target ≥ 5,000/s: " in line and "too few appends" in line for line in lines) == 2, out.stdout
    assert any(line.startswith("inclusion proof from 500 entries") and "(target p99 < 5 ms: " in line for line in lines), out.stdout
    assert any("(target < 60 s for 1,000,000 entries, here < 0.03 s: " in line for line in lines), out.stdout
    assert lines[-1].startswith("targets: ") and not list(tmp_path.iterdir()), out.stdout  # its stores removed
    for args, says in ((["--appends", "0"], "--appends: must be at least 1"), (["--dir", str(tmp_path / "no")], "no such directory")):
        bad = subprocess.run([*bench, *args], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and says in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")))
def test_every_benchmark_help_describes_the_benchmark(script: str) -> None:
    """--help says what is measured, and every option says what it does (no bare flags, no words of a work plan)."""

    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    usage, _, rest = text.partition("\n\n")
    description = rest.split("options:", 1)[0].strip()
    assert len(description) > 30, f"{script} --help has no description"
    options = re.findall(r"^  (--[a-z-]+)(?: [A-Z_]+)?(?:\n {20,}| {2,})(.*)$", rest.split("options:", 1)[1], flags=re.M)
    named = set(re.findall(r"\[(--[a-z-]+)", usage))
    described = {flag for flag, help_text in options if help_text.strip()}
    assert named <= described | {"--help"}, f"{script}: options without a help text: {sorted(named - described)}"
    assert not re.search(r"\b(issue|ticket|task|work plan|TODO)\b", text, flags=re.I), text


def test_scale_out_prints_its_tables() -> None:
    """benchmarks/scale_out.py: SQLite ×1, PostgreSQL ×1 and ×2 in one run (a throwaway cluster of its own)."""
    from tests.conftest import _pg_bin

    if _pg_bin("initdb") is None or _pg_bin("pg_ctl") is None:
        pytest.skip("no initdb/pg_ctl: apt-get install postgresql to run benchmarks/scale_out.py and this test")
    pytest.importorskip("psycopg", reason="benchmarks/scale_out.py needs psycopg (pip install -e '.[postgres]')")
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale_out.py"), "--duration", "0.5", "--rounds", "1", "--rates", "50"]
        + ["--fleet-duration", "0.5", "--yxc-requests", "20", "--concurrency", "4", "--devices", "20"],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for row in ("| SQLite ×1 |", "| PostgreSQL ×1 |", "| PostgreSQL ×2 workers |", "holds at p99 < 50 ms", "PostgreSQL ×1 ÷ SQLite ×1"):
        assert row in out.stdout, out.stdout
    assert "note:" not in out.stdout, out.stdout  # every classrecord was accepted (errorcode 0)
    assert re.search(r"^PostgreSQL ×1 ÷ SQLite ×1 \(heartbeat req/s\): [\d.]+ \(target ≥ 0\.5: (met|NOT met)\)$", out.stdout, re.M), (
        out.stdout
    )
    assert "alternating rounds of 0.5 s per layout" in out.stdout, out.stdout  # not "0 s"
