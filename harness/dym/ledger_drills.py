"""Receipts for grading an offline ledger verifier: valid ones, and one for every tamper drill of docs/ledger.md that a
receipt and its entry can carry (D-DYM-LEDGER, 004 §一(四)2 不可篡改).

:func:`build` makes a fresh log of DYM-like events (personal data committed, as the platform does) in a scratch store
under ``directory``, writes each drill as ``<name>.receipt.json`` + ``<name>.entry.json`` and the log's verifier key as
``vkey`` (the string `harness ledger key` prints), and returns the drills. A conforming verifier accepts (exit 0) every
drill whose ``expect`` is ``accept`` and refuses every other one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.ledger import SCHEMA, Ledger
from harness.ledger.log import DEFAULT_ORIGIN, signer_of
from harness.ledger.merkle import leaf_hash
from harness.ledger.note import Checkpoint, Signer, sign
from harness.ledger.receipt import TlogProof, format_proof
from harness.store import Store

LOG_SIZE = 40


@dataclass(frozen=True)
class Drill:
    name: str
    expect: str  # "accept" or "reject"
    check: str  # the check of dym-ledger-verifier that grades it
    what: str  # one line: what was done to the receipt or entry
    receipt: Path
    entry: Path
    key_file: Path | None = None  # the drill's own verifier key (default: the kit's)


@dataclass(frozen=True)
class Kit:
    directory: Path
    key: str  # the verifier key, name+keyid+base64
    key_file: Path
    drills: tuple[Drill, ...]


def from_store(store: Store, directory: Path) -> Drill | None:
    """A valid drill from the store's own DYM ledger, when it holds a signed checkpoint: the receipt of the newest entry
    it covers, with that ledger's verifier key (a receipt the platform really issued). Reads only."""
    row = store.query_one("SELECT signer FROM ledger_keys WHERE origin = ?", (DEFAULT_ORIGIN,))
    if row is None:
        return None
    ledger = Ledger(signer_of(store, row["signer"]), DEFAULT_ORIGIN)
    conn = store.new_connection()
    try:
        conn.execute("BEGIN")
        latest = ledger.latest(conn)
        if latest is None or latest[0].size == 0:
            return None
        index = latest[0].size - 1
        receipt, entry = ledger.receipt(conn, index), ledger.entry(conn, index)
    finally:
        conn.rollback()
        conn.close()
    rpath, epath, kpath = directory / "store.receipt.json", directory / "store.entry.json", directory / "store.vkey"
    rpath.write_text(json.dumps(receipt, ensure_ascii=False, indent=2), encoding="utf-8")
    epath.write_bytes(entry)
    kpath.write_text(str(ledger.verifier) + "\n", encoding="utf-8")
    what = f"the receipt of entry {index} of this store's own ledger (size {latest[0].size}), with its key"
    return Drill("store-receipt", "accept", "DYM-LV-ACCEPTS", what, rpath, epath, kpath)


def _event(i: int) -> dict[str, Any]:
    return {
        "type": "waybill.accepted" if i % 2 else "waybill.pushed",
        "app_id": "ENT0000000000001",
        "waybill_no": f"WB-20261201-{i:04d}",
        "driver_code": f"DYMD{i:016X}",
        "driver_name": "张海峰",
        "mobile": "13800880001",
        "plate": "云L69568",
        "status": "accepted",
        "weight_kg": 31000 + i,
    }


def _with_proof(receipt: dict[str, Any], *, index: int | None = None, hashes: list[bytes] | None = None, note: str | None = None) -> dict:
    proof = TlogProof.parse(receipt["proof"])
    text = format_proof(
        proof.index if index is None else index,
        proof.hashes if hashes is None else hashes,
        proof.checkpoint_note if note is None else note,
    )
    return {**receipt, "proof": text}


def _note_text(note: str) -> str:
    return note[: note.index("\n\n") + 1]


def build(directory: Path) -> Kit:
    """Make the log and every drill under ``directory`` (which must exist)."""
    store = Store(directory / "drills.db", schemas=[SCHEMA])
    try:
        ledger = Ledger(Signer.generate(DEFAULT_ORIGIN), DEFAULT_ORIGIN)  # synthetic events: openings kept clear, no sealing key
        receipts: dict[str, dict[str, Any]] = {}
        entries: dict[int, bytes] = {}
        with store.transaction() as conn:
            ledger.append(conn, _event(0))
            ledger.checkpoint(conn)
            receipts["single"] = ledger.receipt(conn, 0)  # a tree of one leaf: an empty inclusion proof
            ledger.append_many(conn, [_event(i) for i in range(1, 10)])
            ledger.checkpoint(conn)
            receipts["older"] = ledger.receipt(conn, 5)  # against a checkpoint the log has since grown past
            ledger.append_many(conn, [_event(i) for i in range(10, LOG_SIZE)])
            ledger.checkpoint(conn)
            for i in (0, 5, 17, 18, 39):
                entries[i] = ledger.entry(conn, i)
            r17 = ledger.receipt(conn, 17)
            r39 = ledger.receipt(conn, 39)
            r16 = ledger.receipt(conn, 16)
    finally:
        store.close()

    note = TlogProof.parse(r17["proof"]).checkpoint_note
    text = _note_text(note)
    cp = Checkpoint.parse(text)
    witness = Signer.generate("witness.example/w1")
    stranger = Signer.generate(DEFAULT_ORIGIN)  # the log's name, another key
    other_origin = "other.example/dym-ledger"
    forked_root = bytes(b ^ 0xFF for b in cp.root)
    altered = json.loads(entries[17])
    altered["event"]["status"] = "rejected"
    altered_bytes = json.dumps(altered, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    hashes17 = TlogProof.parse(r17["proof"]).hashes
    flipped = [bytes([hashes17[0][0] ^ 1]) + hashes17[0][1:], *hashes17[1:]]

    cases: list[tuple[str, str, str, str, dict[str, Any], bytes]] = [
        ("valid-single", "accept", "DYM-LV-ACCEPTS", "the receipt of a one-entry tree (empty proof)", receipts["single"], entries[0]),
        ("valid-older", "accept", "DYM-LV-ACCEPTS", "a receipt against an older checkpoint (size 10)", receipts["older"], entries[5]),
        ("valid-middle", "accept", "DYM-LV-ACCEPTS", "entry 17 of 40", r17, entries[17]),
        ("valid-last", "accept", "DYM-LV-ACCEPTS", "the last entry of the tree (39 of 40)", r39, entries[39]),
        (
            "cosigned",
            "accept",
            "DYM-LV-COSIGNED",
            "the checkpoint also carries a witness's signature (an unknown key, to be ignored)",
            _with_proof(r17, note=note + witness.sign_line(text)),
            entries[17],
        ),
        (
            "pretty-entry",
            "accept",
            "DYM-LV-CANONICAL",
            "the entry pretty-printed (RFC 8785 re-canonicalisation gives the leaf bytes)",
            r17,
            json.dumps(json.loads(entries[17]), ensure_ascii=False, indent=2).encode(),
        ),
        ("rewritten-leaf", "reject", "DYM-LV-ENTRY", "the entry's event rewritten (status accepted → rejected)", r17, altered_bytes),
        ("other-entry", "reject", "DYM-LV-ENTRY", "another entry (18) shown with the receipt of entry 17", r17, entries[18]),
        (
            "attestation-id",
            "reject",
            "DYM-LV-ENTRY",
            "the receipt's attestation id is not the entry's",
            {**r17, "attestation_id": r16["attestation_id"]},
            entries[17],
        ),
        (
            "rewritten-rehashed",
            "reject",
            "DYM-LV-PROOF",
            "the entry rewritten and the receipt's leaf hash recomputed to match",
            {**r17, "leaf_hash": leaf_hash(altered_bytes).hex()},
            altered_bytes,
        ),
        (
            "truncated-proof",
            "reject",
            "DYM-LV-PROOF",
            "the inclusion proof truncated (its last hash removed)",
            _with_proof(r17, hashes=hashes17[:-1]),
            entries[17],
        ),
        ("flipped-proof", "reject", "DYM-LV-PROOF", "one bit of a proof hash flipped", _with_proof(r17, hashes=flipped), entries[17]),
        (
            "moved-index",
            "reject",
            "DYM-LV-PROOF",
            "the receipt moved to another index (16) with its entry's proof",
            {**_with_proof(r17, index=16), "index": 16, "attestation_id": r17["attestation_id"]},
            entries[17],
        ),
        (
            "forked-checkpoint",
            "reject",
            "DYM-LV-PROOF",
            "a validly signed checkpoint of the same size from a forked tree (another root)",
            _with_proof(r17, note=sign(Checkpoint(cp.origin, cp.size, forked_root).text(), ledger.signer)),
            entries[17],
        ),
        (
            "altered-note",
            "reject",
            "DYM-LV-SIGNATURE",
            "the checkpoint text altered (an extension line added) under the original signature",
            _with_proof(r17, note=text + "extension\n" + note[len(text) :]),
            entries[17],
        ),
        (
            "unknown-key",
            "reject",
            "DYM-LV-SIGNATURE",
            "the checkpoint signed only by another key under the log's own name",
            _with_proof(r17, note=sign(text, stranger)),
            entries[17],
        ),
        (
            "unsigned",
            "reject",
            "DYM-LV-SIGNATURE",
            "the checkpoint's signature lines removed",
            _with_proof(r17, note=text + "\n"),
            entries[17],
        ),
        (
            "wrong-origin",
            "reject",
            "DYM-LV-ORIGIN",
            f"a checkpoint of another origin ({other_origin}), signed by the log's key",
            {**_with_proof(r17, note=sign(Checkpoint(other_origin, cp.size, cp.root).text(), ledger.signer)), "origin": other_origin},
            entries[17],
        ),
    ]
    drills = []
    for name, expect, check, what, receipt, entry in cases:
        rpath, epath = directory / f"{name}.receipt.json", directory / f"{name}.entry.json"
        rpath.write_text(json.dumps(receipt, ensure_ascii=False, indent=2), encoding="utf-8")
        epath.write_bytes(entry)
        drills.append(Drill(name, expect, check, what, rpath, epath))
    key = str(ledger.verifier)
    key_file = directory / "vkey"
    key_file.write_text(key + "\n", encoding="utf-8")
    return Kit(directory, key, key_file, tuple(drills))
