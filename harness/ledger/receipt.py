"""Receipts: what a 存证 call answers (attestation id, leaf hash, index, time) plus a c2sp.org/tlog-proof@v1 proof
(the inclusion proof and the signed checkpoint it leads to), verifiable offline with nothing but the verifier key."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from harness.ledger.entry import EntryError, canonical
from harness.ledger.merkle import ProofError, leaf_hash, verify_inclusion
from harness.ledger.note import Checkpoint, NoteError, Verifier, open_note

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
RECEIPT_FIELDS = ("attestation_id", "leaf_hash", "index", "time", "tree_size", "origin", "proof")


class ReceiptError(ValueError):
    """A receipt that is malformed (bad input) — as opposed to one that does not verify (:class:`Refused`)."""


class Refused(ValueError):
    """A well-formed receipt, entry or checkpoint that does not verify; the message says why."""


def format_proof(index: int, proof: list[bytes], checkpoint_note: str, extra: bytes | None = None) -> str:
    lines = [PROOF_HEADER]
    if extra is not None:
        lines.append(f"extra {base64.b64encode(extra).decode()}")
    lines.append(f"index {index}")
    lines.extend(base64.b64encode(h).decode() for h in proof)
    return "\n".join(lines) + "\n\n" + checkpoint_note


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: list[bytes]
    checkpoint_note: str
    extra: bytes | None = None

    @classmethod
    def parse(cls, text: str) -> TlogProof:
        head, sep, note = text.partition("\n\n")
        if not sep:
            raise ReceiptError("tlog-proof has no blank line before its checkpoint")
        lines = head.split("\n")
        if lines[0] != PROOF_HEADER:
            raise ReceiptError(f"tlog-proof must start with {PROOF_HEADER}")
        rest, extra = lines[1:], None
        if rest and rest[0].startswith("extra "):
            extra = _b64(rest.pop(0)[6:], "extra data")
        if not rest or not re.fullmatch(r"index (0|[1-9][0-9]*)", rest[0]):
            raise ReceiptError("tlog-proof needs an 'index N' line (decimal, no leading zeros)")
        index = int(rest[0][6:])
        hashes = [_b64(line, f"proof hash {i}") for i, line in enumerate(rest[1:])]
        return cls(index, hashes, note, extra)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ReceiptError(f"{what} is not standard base64") from exc


def load_receipt(text: str | bytes) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReceiptError(f"receipt is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ReceiptError("receipt is not a JSON object")
    missing = [f for f in RECEIPT_FIELDS if f not in data]
    if missing:
        raise ReceiptError(f"receipt lacks {', '.join(missing)}")
    if not isinstance(data["index"], int) or not isinstance(data["proof"], str) or not isinstance(data["leaf_hash"], str):
        raise ReceiptError("receipt index must be an integer, leaf_hash and proof strings")
    return data


def canonical_entry(raw: bytes) -> bytes:
    """An entry file as the leaf bytes: the canonical JSON of what it holds (a pretty-printed copy verifies too)."""
    try:
        return canonical(json.loads(raw))
    except (ValueError, UnicodeDecodeError, EntryError) as exc:
        raise ReceiptError(f"entry is not JSON: {exc}") from exc


@dataclass(frozen=True)
class Verified:
    attestation_id: str
    index: int
    checkpoint: Checkpoint
    signed_by: tuple[str, ...]


def verify_receipt(receipt: dict[str, Any], entry: bytes, verifiers: list[Verifier], *, origin: str | None = None) -> Verified:
    """Verify offline that ``entry`` (leaf bytes) is in the log at the receipt's index under a checkpoint signed by one of
    ``verifiers`` for ``origin`` (default: the first verifier's name). Raises :class:`Refused` or :class:`ReceiptError`."""
    if not verifiers:
        raise ReceiptError("no verifier key given")
    expected_origin = origin or verifiers[0].name
    proof = TlogProof.parse(receipt["proof"])
    try:
        note = open_note(proof.checkpoint_note, verifiers)
        cp = Checkpoint.parse(note.text)
    except NoteError as exc:
        raise Refused(f"checkpoint refused: {exc}") from exc
    if cp.origin != expected_origin:
        raise Refused(f"checkpoint refused: origin {cp.origin!r} is not the expected {expected_origin!r}")
    if receipt["origin"] != cp.origin:
        raise Refused(f"receipt names origin {receipt['origin']!r}, its checkpoint {cp.origin!r}")
    if proof.index != receipt["index"]:
        raise Refused(f"receipt index {receipt['index']} differs from its proof's index {proof.index}")
    if receipt["tree_size"] != cp.size:
        raise Refused(f"receipt tree size {receipt['tree_size']} differs from its checkpoint's {cp.size}")
    leaf = leaf_hash(entry)
    if leaf.hex() != receipt["leaf_hash"]:
        raise Refused("the entry does not hash to the receipt's leaf hash: the entry was altered or is another one")
    try:
        body = json.loads(entry)
    except ValueError as exc:
        raise ReceiptError("entry is not JSON") from exc
    if not isinstance(body, dict) or (body.get("id"), body.get("index"), body.get("at")) != (
        receipt["attestation_id"],
        receipt["index"],
        receipt["time"],
    ):
        raise Refused("the entry's id, index or time differ from the receipt's")
    try:
        verify_inclusion(proof.index, cp.size, leaf, proof.hashes, cp.root)
    except ProofError as exc:
        raise Refused(f"inclusion proof refused: {exc}") from exc
    return Verified(receipt["attestation_id"], proof.index, cp, note.verified_by)
