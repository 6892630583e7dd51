"""Tamper drills: each way of rewriting history is refused with a reason that names it, through the library and the
`harness ledger` commands (exit 1 refused, exit 2 bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.ledger import Ledger, NoteError, Refused, Signer, audit, verify_receipt
from harness.ledger.cli import ledger as ledger_cli
from harness.ledger.merkle import MemoryTree, leaf_hash
from harness.ledger.note import Checkpoint, Verifier, open_checkpoint, open_note, sign
from harness.store import Store


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(ledger_cli, list(args))
    return result.exit_code, result.output


def _audit(store: Store, ledger: Ledger) -> list[str]:
    with store.transaction() as conn:
        return audit(conn, ledger.origin, [ledger.verifier]).problems


# -- the store rewritten behind the log's back: `audit` names the first bad record --------------------------------


def test_a_rewritten_leaf_is_named(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        raw = ledger.entry(conn, 17).replace(b'"accepted"', b'"rejected"')
        conn.execute("UPDATE ledger_entries SET entry = ? WHERE idx = 17", (raw,))
    assert _audit(store, ledger)[0] == "record 17 altered: its hash differs from the tree's leaf 17"
    code, out = _run("audit", "--db", str(store.path))
    assert code == 1 and "record 17 altered" in out


def test_a_leaf_rewritten_with_its_tree_nodes_breaks_the_signed_checkpoints(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        raw = ledger.entry(conn, 17).replace(b'"accepted"', b'"rejected"')
        entries = [ledger.entry(conn, i) if i != 17 else raw for i in range(40)]
        conn.execute("UPDATE ledger_entries SET entry = ? WHERE idx = 17", (raw,))
        conn.execute("DELETE FROM ledger_nodes")
        tree = MemoryTree(leaf_hash(e) for e in entries)
        rows = [(level, i, h) for level, hashes in enumerate(tree.levels) for i, h in enumerate(hashes)]
        conn.executemany("INSERT INTO ledger_nodes (level, idx, hash) VALUES (?, ?, ?)", rows)
    problems = _audit(store, ledger)
    assert problems == [
        "checkpoint of size 25 does not match the records below it",
        "checkpoint of size 40 does not match the records below it",
    ]


def test_deleted_tree_nodes_are_named(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        conn.execute("DELETE FROM ledger_nodes WHERE level = 0 AND idx = 9")
    assert _audit(store, ledger)[0] == "tree leaf 9 is missing from the store (its record is intact)"
    with store.transaction() as conn:
        conn.execute("INSERT INTO ledger_nodes VALUES (0, 9, ?)", (leaf_hash(ledger.entry(conn, 9)),))
        conn.execute("UPDATE ledger_nodes SET hash = ? WHERE level = 2 AND idx = 3", (bytes(32),))
    assert _audit(store, ledger) == ["tree node (2, 3) does not follow from records 12..15"]


def test_a_deleted_record_is_named(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        conn.execute("DELETE FROM ledger_entries WHERE idx = 5")
    assert _audit(store, ledger)[0] == "record 5 deleted (the next stored record is 6)"


def test_reordered_records_are_named(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        a, b = ledger.entry(conn, 30), ledger.entry(conn, 31)
        rows = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT idx, attestation_id, at FROM ledger_entries WHERE idx IN (30, 31)")}
        conn.execute("UPDATE ledger_entries SET attestation_id = 'x' WHERE idx = 30")
        conn.execute("UPDATE ledger_entries SET entry = ?, attestation_id = ?, at = ? WHERE idx = 31", (a, *rows[30]))
        conn.execute("UPDATE ledger_entries SET entry = ?, attestation_id = ?, at = ? WHERE idx = 30", (b, *rows[31]))
    assert _audit(store, ledger)[0] == "record 30 reordered: its entry is record 31"


def test_truncation_is_refused_by_audit_and_by_consistency(filled: tuple[Store, Ledger], tmp_path: Path) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        saved = ledger.checkpoint(conn)  # a third party saved the size-40 checkpoint
        conn.execute("DELETE FROM ledger_entries WHERE idx >= 32")
        conn.execute("DELETE FROM ledger_nodes WHERE (idx + 1) << level > 32")
        conn.execute("DELETE FROM ledger_checkpoints WHERE size > 32")
    assert _audit(store, ledger) == []  # the store alone now looks like a sound log of 32...
    with store.transaction() as conn:
        ledger.checkpoint(conn)
        rewritten = [ledger.append(conn, {"type": "waybill", "waybill_no": f"FORGED{i}"}) for i in range(8)]
        new = ledger.checkpoint(conn)
    assert rewritten[-1].index == 39
    (tmp_path / "old.note").write_text(saved)
    (tmp_path / "new.note").write_text(new)
    # ...but the saved checkpoint of size 40 and the new one of size 40 differ: a fork, refused.
    code, out = _run("consistency", str(tmp_path / "old.note"), str(tmp_path / "new.note"), "--db", str(store.path))
    assert code == 1 and out.startswith("refused: forked: two checkpoints of size 40")


def test_truncation_below_a_saved_checkpoint_is_named(filled: tuple[Store, Ledger], tmp_path: Path) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        conn.execute("DELETE FROM ledger_entries WHERE idx >= 36")
    assert _audit(store, ledger) == ["truncated: a checkpoint of size 40 is signed but the store holds 36 records"]


# -- notes and checkpoints: fork, wrong origin, unknown keys, altered text ----------------------------------------


def test_a_forked_checkpoint_is_refused(filled: tuple[Store, Ledger], tmp_path: Path) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        honest = ledger.checkpoint(conn)
    forged = sign(Checkpoint(ledger.origin, 40, bytes(32)).text(), ledger.signer)  # the log's own key, another root
    (tmp_path / "a.note").write_text(honest)
    (tmp_path / "b.note").write_text(forged)
    code, out = _run(
        "consistency", str(tmp_path / "a.note"), str(tmp_path / "b.note"), "--key", str(ledger.verifier), "--proof", "/dev/null"
    )
    assert code == 1 and "forked" in out


def test_a_smaller_checkpoint_after_a_larger_one_is_refused(filled: tuple[Store, Ledger], tmp_path: Path) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        notes = {r[0]: r[1] for r in conn.execute("SELECT size, note FROM ledger_checkpoints")}
    (tmp_path / "old.note").write_text(notes[40])
    (tmp_path / "new.note").write_text(notes[25])
    code, out = _run("consistency", str(tmp_path / "old.note"), str(tmp_path / "new.note"), "--db", str(store.path))
    assert code == 1 and "truncated or they are swapped" in out
    (tmp_path / "old.note").write_text(notes[10])
    (tmp_path / "new.note").write_text(notes[40])
    code, out = _run("consistency", str(tmp_path / "old.note"), str(tmp_path / "new.note"), "--db", str(store.path))
    assert code == 0 and "size 10 -> 40 is append-only" in out
    code, proof = _run("prove", "10", "40", "--db", str(store.path))
    (tmp_path / "proof").write_text(proof)
    vkey = str(ledger.verifier)
    code, out = _run(
        "consistency", str(tmp_path / "old.note"), str(tmp_path / "new.note"), "--key", vkey, "--proof", str(tmp_path / "proof")
    )
    assert code == 0, out
    (tmp_path / "proof").write_text(proof.replace(proof[0], "A" if proof[0] != "A" else "B", 1))
    code, out = _run(
        "consistency", str(tmp_path / "old.note"), str(tmp_path / "new.note"), "--key", vkey, "--proof", str(tmp_path / "proof")
    )
    assert code == 1 and "not append-only" in out


def test_a_wrong_origin_is_refused(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        note = ledger.checkpoint(conn)
    with pytest.raises(NoteError, match="origin 'harness.example/dym-ledger' is not this log's origin 'example.com/other'"):
        open_checkpoint(note, "example.com/other", [ledger.verifier])
    impostor = Signer.generate("example.com/other")
    other_log = sign(Checkpoint("example.com/other", 40, bytes(32)).text(), ledger.signer)  # right key, other log's name
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(other_log, ledger.origin, [ledger.verifier, impostor.verifier])


def test_a_note_signed_only_by_unknown_keys_is_refused(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        cp = open_checkpoint(ledger.checkpoint(conn), ledger.origin, [ledger.verifier])
    same_name = Signer.generate(ledger.origin)  # shares the log's name, not its key id
    stranger = Signer.generate("witness.example/w1")
    note = sign(cp.text(), same_name, stranger)
    with pytest.raises(NoteError, match="no signature by a known key"):
        open_note(note, [ledger.verifier])
    # the log's signature next to unknown ones still verifies: unknown keys are ignored, not trusted
    assert open_note(sign(cp.text(), stranger, ledger.signer), [ledger.verifier]).verified_by == (ledger.origin,)


def test_an_altered_note_text_is_refused(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        note = ledger.checkpoint(conn)
    lines = note.split("\n")
    lines[1] = "41"
    with pytest.raises(NoteError, match="does not verify"):
        open_note("\n".join(lines), [ledger.verifier])


def test_the_signed_note_format_matches_the_go_reference_example() -> None:
    """The key pair and note of the golang.org/x/mod/sumdb/note documentation: key id derivation, verifier key
    string and Ed25519 over the note text agree with an independent implementation."""
    skey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    assert str(Signer.parse(skey).verifier) == vkey
    note = (
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n"
        "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    )
    assert open_note(note, [Verifier.parse(vkey)]).verified_by == ("PeterNeumann",)
    assert sign(open_note(note, [Verifier.parse(vkey)]).text, Signer.parse(skey)) == note  # Ed25519 is deterministic


# -- receipts, offline ----------------------------------------------------------------------------------------------


def test_receipt_drills_offline(filled: tuple[Store, Ledger], tmp_path: Path) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        receipt, entry = ledger.receipt(conn, 12), ledger.entry(conn, 12)
        other = ledger.entry(conn, 13)
    vkey = str(ledger.verifier)
    (tmp_path / "r.json").write_text(json.dumps(receipt))
    (tmp_path / "e.json").write_text(json.dumps(json.loads(entry), indent=2, ensure_ascii=False))  # pretty-printed copy
    code, out = _run("verify", str(tmp_path / "r.json"), "--entry", str(tmp_path / "e.json"), "--key", vkey)
    assert code == 0 and out.startswith(f"verified: {receipt['attestation_id']} is entry 12 of harness.example/dym-ledger at size 40")

    with pytest.raises(Refused, match="does not hash to the receipt's leaf hash"):
        verify_receipt(receipt, entry.replace(b"accepted", b"rejected"), [ledger.verifier])
    with pytest.raises(Refused, match="does not hash"):
        verify_receipt(receipt, other, [ledger.verifier])
    moved = dict(receipt, index=13, proof=receipt["proof"].replace("index 12\n", "index 13\n"))
    with pytest.raises(Refused, match="differ from the receipt's|inclusion proof refused"):
        verify_receipt(moved, entry, [ledger.verifier])
    with pytest.raises(Refused, match="no signature by a known key"):
        verify_receipt(receipt, entry, [Signer.generate(ledger.origin).verifier])

    (tmp_path / "e.json").write_bytes(other)
    code, out = _run("verify", str(tmp_path / "r.json"), "--entry", str(tmp_path / "e.json"), "--key", vkey)
    assert code == 1 and out.startswith("refused: the entry does not hash")


@pytest.mark.parametrize(
    ("receipt", "message"),
    [("not json", "receipt is not JSON"), ("[]", "not a JSON object"), ('{"index": 1}', "receipt lacks")],
)
def test_bad_input_is_one_line_and_exit_2(receipt: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(receipt)
    (tmp_path / "e.json").write_text("{}")
    signer = Signer.generate("harness.example/dym-ledger")
    result = CliRunner().invoke(
        ledger_cli, ["verify", str(tmp_path / "r.json"), "--entry", str(tmp_path / "e.json"), "--key", str(signer.verifier)]
    )
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1
    for args in (
        ["verify", str(tmp_path / "missing"), "--entry", "x", "--key", str(signer.verifier)],
        ["verify", "r", "--entry", "e", "--key", "a+b+c"],
        ["audit", "--db", str(tmp_path / "none.db")],
        ["consistency", "a", "b"],
    ):
        result = CliRunner().invoke(ledger_cli, args)
        assert result.exit_code == 2 and result.output.count("\n") == 1 and "Traceback" not in result.output, (args, result.output)


def test_checkpoint_and_key_commands(filled: tuple[Store, Ledger], tmp_path: Path) -> None:
    store, ledger = filled
    empty = Store(tmp_path / "empty.db", schemas=[])
    empty.close()
    assert _run("audit", "--db", str(tmp_path / "empty.db")) == (0, "nothing to audit: the ledger holds no records and no checkpoints\n")
    code, out = _run("audit", "--db", str(store.path))
    assert code == 0 and out == "audit passed: 40 records, 3 checkpoints agree with the tree\n"
    code, note = _run("checkpoint", "--db", str(store.path))
    assert code == 0 and note.startswith("harness.example/dym-ledger\n40\n")
    code, key = _run("key", "--db", str(store.path))
    assert key.strip() == str(ledger.verifier)
    assert open_checkpoint(note, ledger.origin, [Verifier.parse(key)]).size == 40


def test_a_mangled_receipt_is_refused_or_bad_input_never_a_crash(filled: tuple[Store, Ledger]) -> None:
    store, ledger = filled
    with store.transaction() as conn:
        receipt, entry = ledger.receipt(conn, 21), ledger.entry(conn, 21)
    proof = receipt["proof"]
    mangled = [proof[:k] for k in range(0, len(proof), 7)]
    mangled += [proof[:k] + "\u2014" + proof[k + 1 :] for k in range(0, len(proof), 11)]
    mangled += [proof.replace("\n", "\r\n"), proof.replace("index 21", "index 021"), proof.replace("index 21", "index -1")]
    for text in mangled:
        with pytest.raises((Refused, ValueError)) as info:
            verify_receipt(dict(receipt, proof=text), entry, [ledger.verifier])
        assert info.type.__name__ in ("Refused", "ReceiptError"), (text, info.value)


def test_the_ledger_commands_are_part_of_harness_and_the_benchmark_runs(tmp_path: Path) -> None:
    import subprocess
    import sys

    from harness.cli import main

    assert main.commands["ledger"] is ledger_cli
    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "ledger.py"
    done = subprocess.run(
        [sys.executable, str(bench), "--entries", "3000", "--appends", "600", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "full audit of 3,000 entries" in done.stdout and "inclusion proof from 3,000 entries" in done.stdout
