"""The store-dependent suites again, on PostgreSQL: `pytest` in a subprocess with HARNESS_TEST_STORE=postgresql, under
which every in-process `open_store` of the tests opens a database of its own on a cluster the tests start
(tests/conftest.py `_store_engine`). Plain `pytest` (and so CI) runs the CI selection below; the whole list runs with

    HARNESS_PG_SUITES=all pytest tests/test_suites_on_postgresql.py     # every store-dependent suite (long)
    HARNESS_TEST_STORE=postgresql pytest tests/dudu tests/yxc …          # or any suite directly

Left out on PostgreSQL (``SQLITE_ONLY``), each for a reason of its own: tests about SQLite itself (its WAL, its
catalogue), and tests whose server runs in a subprocess given `--db PATH` while the test prepared the store
in-process (under the switch that store is on PostgreSQL, the subprocess's is not); the subprocess drills on
PostgreSQL are tests/test_scale_out.py, tests/test_kill9.py and tests/test_store_pg.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Every store-dependent suite (HARNESS_PG_SUITES=all).
ALL = [
    "tests/dudu",
    "tests/yxc",
    "tests/zjpx",
    "tests/ymt",
    "tests/dym",
    "tests/ledger",
    "tests/conformance",
    "tests/reports",
    "tests/test_journal.py",
    "tests/test_faults.py",
]
# What CI runs (101 s in a full run on this 2-core machine; 3.7 min alone at load average 10): each platform's core flow and its journal-graded role, sessions, the journal.
CI = [
    "tests/dudu/test_dudu_platform.py",
    "tests/dudu/test_dudu_certify.py",
    "tests/yxc/test_persistence.py",
    "tests/yxc/test_timing_platform_role.py",
    "tests/zjpx/test_study.py",
    "tests/zjpx/test_intake.py",
    "tests/ymt/test_certify_session.py",
    "tests/dym/test_flow.py",
    "tests/ledger/test_log.py",
    "tests/conformance/test_sessions.py",
    "tests/test_journal.py",
]
SQLITE_ONLY = [
    # SQLite itself: its WAL, sqlite_master, stores made by older SQLite schemas, the bytes of its files, a store opened
    # with Store(path) or by the ledger commands on a path (they open the ledger's tables of a SQLite file themselves)
    "tests/test_journal.py::test_the_wal_starts_over_under_unbroken_commits",
    "tests/test_journal.py::test_a_store_from_before_keeps_working",
    "tests/test_journal.py::test_opening_an_up_to_date_store_runs_no_ddl",
    "tests/test_journal.py::test_a_store_made_before_versions_opens",
    "tests/ymt/test_platform.py::test_tokens_and_authorisation_codes_never_reach_the_store_in_clear",
    "tests/dym/test_catalogue_and_cli.py::test_enterprise_add_prints_the_secret_once",
    "tests/dym/test_flow.py::test_the_done_when_flow",
    "tests/dym/test_receipt_independent.py::test_a_waybill_receipt_verifies_independently_and_checkpoints_are_consistent",
    # another process's change made through a raw sqlite3 connection to the store's file; a store file copied or
    # rebuilt as an older SQLite schema (the same on PostgreSQL: tests/test_scale_out.py, tests/test_store_pg.py)
    "tests/ymt/test_fast_decode.py::test_a_change_by_another_process_takes_effect_at_once",
    "tests/ymt/test_fast_decode.py::test_a_person_changed_by_another_process_is_answered_changed_at_once",
    "tests/ymt/test_fast_decode.py::test_an_older_store_keeps_the_requests_it_has_seen",
    "tests/ymt/test_fast_decode.py::test_the_fast_path_and_the_connexion_path_answer_and_journal_a_decode_alike",
    "tests/ymt/test_platform.py::test_a_store_of_the_previous_version_has_its_people_sealed_on_opening",
    # a server in a subprocess on the SQLite file, a store prepared in-process
    "tests/dudu/test_dudu_outage_drill.py",
    "tests/zjpx/test_loadtest.py",
    "tests/dym/test_against_a_server.py",
    "tests/conformance/test_sessions.py::test_the_readmes_fuzzing_run_then_a_session_gives_a_clean_verdict",
    # windows of 0.3 s, timed with sleep: too tight for a database round trip on a loaded machine
    "tests/test_faults.py::test_the_window_starts_and_ends_on_time",
]


def _existing(paths: list[str]) -> list[str]:
    return [p for p in paths if (ROOT / p.split("::")[0]).exists()]


def test_the_store_dependent_suites_pass_on_postgresql(postgres_server: object) -> None:
    """The selection passes with every in-process store on PostgreSQL (skipped, saying how, without a cluster)."""
    if os.environ.get("HARNESS_TEST_STORE") == "postgresql":
        pytest.skip("already running on PostgreSQL")
    suites = _existing(ALL if os.environ.get("HARNESS_PG_SUITES") == "all" else CI)
    deselect = [a for p in _existing(SQLITE_ONLY) for a in ("--deselect", p)]
    env = {**os.environ, "HARNESS_TEST_STORE": "postgresql"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-x", *suites, *deselect],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    tail = "\n".join(done.stdout.strip().splitlines()[-30:])
    assert done.returncode == 0, tail
    assert " passed" in done.stdout.strip().splitlines()[-1], tail
