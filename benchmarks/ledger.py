"""Ledger figures: durable batched appends per second, an inclusion proof from a 1,000,000-entry log, a full audit.

    python benchmarks/ledger.py [--entries 1000000] [--appends 20000] [--dir DIR]

Targets (2 cores): appends >= 5,000/s batched, an inclusion proof < 5 ms, an audit of 1,000,000 entries < 60 s. The
1,000,000-entry log is built here through the bulk path (:meth:`Ledger.append_raw`, 10,000 entries a transaction).
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from harness.ledger import SCHEMA, BatchAppender, Ledger, audit, verify_receipt
from harness.ledger.log import node_source
from harness.ledger.merkle import Frontier, inclusion_proof
from harness.store import Store


def _event(i: int) -> dict:
    return {
        "type": "waybill",
        "waybill_no": f"YD20261201{i:08d}",
        "plate": "云L69568",
        "driver_name": "张三",
        "idcard": "530102199001011234",
        "status": "accepted",
        "weight_kg": 12.5,
    }


def bench_appends(directory: Path, n: int, synchronous: str) -> float:
    store = Store(directory / f"appends-{synchronous.lower()}.db", schemas=[SCHEMA])
    store.execute_pragma(f"synchronous={synchronous}")
    ledger = Ledger.open(store)
    appender = BatchAppender(store, ledger)
    events = [_event(i) for i in range(n)]
    start = time.perf_counter()
    futures = [appender.submit(e) for e in events]
    last = [f.result() for f in futures][-1]
    elapsed = time.perf_counter() - start
    appender.close()
    assert last.index == n - 1
    store.close()
    return n / elapsed


def build(directory: Path, n: int) -> tuple[Store, Ledger, float]:
    store = Store(directory / "million.db", schemas=[SCHEMA])
    ledger = Ledger.open(store)
    public = b'{"plate":"\xe4\xba\x91L69568","status":"accepted","type":"waybill","waybill_no":"YD2026120100000000"}'
    frontier = Frontier()
    start = time.perf_counter()
    at = "2026-12-01T09:00:00.000+00:00"
    for base in range(0, n, 10_000):
        chunk = [(secrets.token_hex(16), at, public) for _ in range(base, min(n, base + 10_000))]
        with store.transaction() as conn:
            frontier = ledger.append_raw(conn, chunk, frontier)
            if base % 250_000 == 0 or base + 10_000 >= n:
                ledger.checkpoint(conn)
    return store, ledger, time.perf_counter() - start


APPENDS_PER_S, PROOF_MS, AUDIT_S, AUDIT_ENTRIES = 5_000, 5.0, 60.0, 1_000_000  # the targets of the docstring


def _positive(text: str) -> int:
    value = int(text.replace(",", "").replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _judged(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[2].replace("\n", " ").strip(),
    )
    parser.add_argument(
        "--entries", type=_positive, default=1_000_000, help="entries of the log the proofs and the audit use (default 1,000,000)"
    )
    parser.add_argument(
        "--appends", type=_positive, default=20_000, help="durable appends timed through the batch appender (default 20,000)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where the benchmark stores are written (default: a temporary directory)")
    args = parser.parse_args()
    if args.dir is not None and not args.dir.is_dir():
        parser.error(f"--dir {args.dir}: no such directory")
    verdicts: list[bool] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        for sync in ("NORMAL", "FULL"):
            rate = bench_appends(directory, args.appends, sync)
            verdicts.append(rate >= APPENDS_PER_S)
            few = " — too few appends to fill batches: the 250 ms window dominates" if args.appends < 10 * 256 else ""
            print(
                f"durable appends (BatchAppender, 256/250 ms, synchronous={sync}): {rate:,.0f}/s over {args.appends:,} "
                f"(target ≥ {APPENDS_PER_S:,}/s: {_judged(verdicts[-1])}{few})"
            )

        store, ledger, seconds = build(directory, args.entries)
        print(f"bulk build of {args.entries:,} entries: {seconds:.2f} s ({args.entries / seconds:,.0f}/s; set-up, no target)")
        conn = store.new_connection()
        rng = random.Random(1)
        proofs, receipts, verifies = [], [], []
        get = node_source(conn)
        for _ in range(1000):
            i = rng.randrange(args.entries)
            t0 = time.perf_counter()
            inclusion_proof(get, i, args.entries)
            t1 = time.perf_counter()
            receipt = ledger.receipt(conn, i)
            t2 = time.perf_counter()
            verify_receipt(receipt, ledger.entry(conn, i), [ledger.verifier])
            t3 = time.perf_counter()
            proofs.append(t1 - t0)
            receipts.append(t2 - t1)
            verifies.append(t3 - t2)

        def ms(xs: list[float]) -> str:
            xs = sorted(xs)
            return f"median {statistics.median(xs) * 1000:.2f} ms, p99 {xs[989] * 1000:.2f} ms"

        verdicts.append(sorted(proofs)[989] * 1000 < PROOF_MS)
        print(
            f"inclusion proof from {args.entries:,} entries (1,000 random indexes): {ms(proofs)} "
            f"(target p99 < {PROOF_MS:g} ms: {_judged(verdicts[-1])})"
        )
        print(f"whole receipt (proof, entry, signed checkpoint): {ms(receipts)}; offline verification: {ms(verifies)}")
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        result = audit(conn, ledger.origin, [ledger.verifier])
        conn.rollback()
        elapsed = time.perf_counter() - t0
        assert result.ok and result.size == args.entries, result.problems
        limit = AUDIT_S * result.size / AUDIT_ENTRIES  # the target's rate: 1,000,000 entries in 60 s
        verdicts.append(elapsed < limit)
        print(
            f"full audit of {result.size:,} entries ({result.checkpoints} checkpoints): {elapsed:.2f} s "
            f"(target < {AUDIT_S:g} s for {AUDIT_ENTRIES:,} entries, here < {limit:.2f} s: {_judged(verdicts[-1])})"
        )
        conn.close()
        store.close()
    print(f"\ntargets: {_judged(all(verdicts))} ({sum(verdicts)} of {len(verdicts)})")


if __name__ == "__main__":
    main()
