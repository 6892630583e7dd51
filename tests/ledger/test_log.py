"""The ledger in the store: appends inside a caller's transaction, batching, receipts verified offline, commitments."""

from __future__ import annotations

import json
import threading

import pytest

from harness.ledger import BatchAppender, Ledger, Signer, audit, verify_receipt
from harness.ledger.entry import Opening, canonical, commit, entry_bytes
from harness.ledger.merkle import leaf_hash, verify_consistency
from harness.ledger.note import open_checkpoint
from harness.store import Store
from tests.ledger.conftest import EVENTS


def test_entries_hold_no_personal_data_and_the_openings_prove_it(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        raw = ledger.entry(conn, 3)
        openings = ledger.openings(conn, 3)
    text = raw.decode()
    for value in ("张三", "530102199001011234", "13812345678"):
        assert value not in text
    assert "云L69568" in text and raw == canonical(json.loads(raw))
    event = json.loads(raw)["event"]
    assert {o.path for o in openings} == {"/driver_name", "/idcard", "/mobile"}
    for o in openings:
        assert o.matches(event[o.path[1:]]["commitment"])
        assert not Opening(o.path, o.salt, "someone else").matches(event[o.path[1:]]["commitment"])


def test_erasing_personal_data_leaves_the_log_verifiable(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        receipt = ledger.receipt(conn, 7)
        assert ledger.erase(conn, 7) == 3
        assert ledger.openings(conn, 7) == []
        entry = ledger.entry(conn, 7)
        assert audit(conn, ledger.origin, [ledger.verifier]).ok
    verify_receipt(receipt, entry, [ledger.verifier])


def test_commitments_use_fresh_salts_and_refuse_what_jcs_cannot_write() -> None:
    a, _ = commit({"mobile": "13812345678"})
    b, _ = commit({"mobile": "13812345678"})
    assert a != b  # a low-entropy value cannot be recognised across entries
    plate, _ = commit({"plate": "云L69568"}, personal=frozenset({"Plate"}))
    assert "commitment" in plate["plate"]
    free_text, opens = commit({"note": "call 13812345678"})
    assert "commitment" in free_text["note"] and opens[0].value == "call 13812345678"
    with pytest.raises(ValueError, match="canonical"):
        entry_bytes(attestation_id="a", index=0, at="t", event=commit({"x": float("nan")})[0])


def test_the_spliced_entry_is_the_canonical_json_of_the_whole() -> None:
    event = {"b": [1.0, -0.0, 1e21], "a": "滇运码\n", "\U0001f600": 1, "\uff41": {"z": None, "y": True}}
    whole = {"v": 1, "id": "att-1", "index": 7, "at": "2026-12-01T09:00:00.000+00:00", "event": event}
    assert entry_bytes(attestation_id="att-1", index=7, at=whole["at"], event=event) == canonical(whole)


def test_every_receipt_verifies_offline_with_only_the_verifier_key(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    vkey = str(ledger.verifier)
    with store.transaction() as conn:
        pairs = [(ledger.receipt(conn, i), ledger.entry(conn, i)) for i in range(40)]
    from harness.ledger.note import Verifier

    for receipt, entry in pairs:
        ok = verify_receipt(json.loads(json.dumps(receipt)), entry, [Verifier.parse(vkey)])
        assert ok.checkpoint.size == 40 and receipt["leaf_hash"] == leaf_hash(entry).hex()


def test_checkpoints_are_consistent_with_each_other(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        notes = [r[0] for r in conn.execute("SELECT note FROM ledger_checkpoints ORDER BY size")]
        cps = [open_checkpoint(n, ledger.origin, [ledger.verifier]) for n in notes]
        assert [c.size for c in cps] == [10, 25, 40]
        for a in cps:
            for b in cps:
                if 0 < a.size <= b.size:
                    verify_consistency(a.size, b.size, a.root, b.root, ledger.consistency(conn, a.size, b.size))


def test_append_rides_the_callers_transaction_and_rolls_back_with_it(store: Store) -> None:
    ledger = Ledger.open(store)
    with store.transaction() as conn:
        conn.execute("CREATE TABLE unit_of_work (x INTEGER)")
        conn.execute("INSERT INTO unit_of_work VALUES (1)")
        assert ledger.append(conn, EVENTS[0]).index == 0
    with pytest.raises(RuntimeError), store.transaction() as conn:
        ledger.append(conn, EVENTS[1])
        raise RuntimeError("the exchange failed")
    with store.transaction() as conn:
        assert ledger.append(conn, EVENTS[2]).index == 1  # nothing of the rolled-back unit of work remains
        ledger.checkpoint(conn)
        assert audit(conn, ledger.origin, [ledger.verifier]).ok


def test_the_batching_appender_sequences_concurrent_callers(store: Store) -> None:
    ledger = Ledger.open(store)
    appender = BatchAppender(store, ledger, batch=64, delay=0.005)
    got: list[int] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        for i in range(50):
            s = appender.append({"worker": k, "i": i})
            with lock:
                got.append(s.index)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    appender.close()
    assert sorted(got) == list(range(200))
    with store.transaction() as conn:
        result = audit(conn, ledger.origin, [ledger.verifier])
        assert result.ok and result.size == 200 and result.checkpoints >= 4
        verify_receipt(ledger.receipt(conn, 199), ledger.entry(conn, 199), [ledger.verifier])


def test_the_signing_key_is_kept_and_reused(store: Store) -> None:
    first = Ledger.open(store)
    assert str(Ledger.open(store).verifier) == str(first.verifier)
    other = Ledger.open(store, signer=Signer.generate("harness.example/other"))
    assert other.origin == "harness.example/dym-ledger" and str(other.verifier) != str(first.verifier)
