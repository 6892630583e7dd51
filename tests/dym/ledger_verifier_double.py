"""A stand-in for a vendor's offline receipt verifier, with one step of docs/ledger.md's verification left out per mode
(the defects of examples/defects/dym-ledger-verifier.yaml):

    python tests/dym/ledger_verifier_double.py MODE RECEIPT ENTRY KEYFILE      (exit 0 accepted, 1 refused)

MODE: accept-all, reject-all, raw-bytes (hashes the file as is), one-signature (refuses notes with more than one
signature), no-signature (never checks a signature), no-origin, no-entry-check (trusts the receipt's leaf hash and
ids), no-inclusion (never folds the proof).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.ledger.merkle import ProofError, leaf_hash, verify_inclusion
from harness.ledger.note import Checkpoint, NoteError, Verifier, open_note
from harness.ledger.receipt import ReceiptError, TlogProof, canonical_entry

MODES = ("accept-all", "reject-all", "raw-bytes", "one-signature", "no-signature", "no-origin", "no-entry-check", "no-inclusion")


def verify(mode: str, receipt_file: Path, entry_file: Path, key_file: Path) -> str | None:
    """None when accepted, else why not."""
    if mode == "accept-all":
        return None
    if mode == "reject-all":
        return "refused"
    verifier = Verifier.parse(key_file.read_text(encoding="utf-8").strip())
    receipt = json.loads(receipt_file.read_text(encoding="utf-8"))
    raw = entry_file.read_bytes()
    entry = raw if mode == "raw-bytes" else canonical_entry(raw)
    proof = TlogProof.parse(receipt["proof"])
    note = proof.checkpoint_note
    if mode == "one-signature" and len(note[note.rfind("\n\n") + 2 :].split("\n")[:-1]) != 1:
        return "expected exactly one signature"
    if mode == "no-signature":
        text = note[: note.rfind("\n\n") + 1]
    else:
        try:
            text = open_note(note, [verifier]).text
        except NoteError as exc:
            return str(exc)
    cp = Checkpoint.parse(text)
    if mode != "no-origin" and cp.origin != verifier.name:
        return "origin"
    leaf = bytes.fromhex(receipt["leaf_hash"])
    if mode != "no-entry-check":
        if leaf_hash(entry) != leaf:
            return "entry hash"
        body = json.loads(entry)
        if (body.get("id"), body.get("index"), body.get("at")) != (receipt["attestation_id"], receipt["index"], receipt["time"]):
            return "entry ids"
    if mode != "no-inclusion":
        try:
            verify_inclusion(proof.index, cp.size, leaf, proof.hashes, cp.root)
        except ProofError as exc:
            return str(exc)
    return None


def main(argv: list[str]) -> int:
    mode, receipt, entry, key = argv
    assert mode in MODES, mode
    try:
        why = verify(mode, Path(receipt), Path(entry), Path(key))
    except (ReceiptError, NoteError, ValueError, KeyError) as exc:
        why = f"bad input: {exc}"
    print("verified" if why is None else f"refused: {why}")
    return 0 if why is None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
