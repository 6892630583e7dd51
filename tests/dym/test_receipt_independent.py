"""A DYM waybill receipt checked by a verifier that shares no code with harness.ledger: written here from RFC 9162
§2.1.3.2 (inclusion proofs, RFC 6962 hashing) and the C2SP signed-note format, on nothing but hashlib and
cryptography's Ed25519. And the checkpoints before and after an append are proved consistent by `harness ledger
consistency`."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from harness.cli import main
from tests.dym.conftest import DRIVER_B, World


def _hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2, step by step."""
    assert index < size
    fn, sn, r = index, size - 1, leaf
    for p in path:
        assert sn != 0
        if fn & 1 or fn == sn:
            r = _hash_children(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _hash_children(r, p)
        fn >>= 1
        sn >>= 1
    assert sn == 0
    return r


def verify_note(note: str, vkey: str) -> tuple[str, int, bytes]:
    """A C2SP signed note under the vkey ``name+hash+base64(0x01 || Ed25519 key)``: (origin, size, root)."""
    name, key_hash, encoded = vkey.split("+", 2)  # the base64 key may itself hold "+"
    raw = base64.b64decode(encoded)
    assert raw[0] == 0x01  # Ed25519
    key = Ed25519PublicKey.from_public_bytes(raw[1:])
    text, _, signatures = note.partition("\n\n")
    text += "\n"
    signed = False
    for line in signatures.splitlines():
        if not line.startswith("— "):
            continue
        signer, sig = line[2:].split(" ")
        blob = base64.b64decode(sig)
        if signer == name and blob[:4].hex() == key_hash:
            key.verify(blob[4:], text.encode())  # raises InvalidSignature
            signed = True
    assert signed, "no signature by the expected key"
    origin, size, root = text.splitlines()[:3]
    return origin, int(size), base64.b64decode(root)


def check_receipt(receipt: dict[str, Any], entry: bytes, vkey: str) -> int:
    """Whole receipt: the entry's leaf hash, the proof's path up to the signed checkpoint's root. Returns the size."""
    leaf = hashlib.sha256(b"\x00" + entry).digest()
    assert leaf.hex() == receipt["leaf_hash"]
    header, proof = receipt["proof"].split("\n", 1)
    assert header == "c2sp.org/tlog-proof@v1"
    lines, _, note = proof.partition("\n\n")
    index_line, *rest = lines.splitlines()
    assert index_line == f"index {receipt['index']}"
    path = [base64.b64decode(h) for h in rest if not h.startswith("extra ")]
    origin, size, root = verify_note(note, vkey)
    assert origin == receipt["origin"] and size == receipt["tree_size"]
    assert root_from_inclusion(receipt["index"], size, leaf, path) == root
    return size


def test_a_waybill_receipt_verifies_independently_and_checkpoints_are_consistent(world: World, tmp_path: Path) -> None:
    driver = world.enterprise.call("driver_claim", DRIVER_B)["data"]
    push = {"waybill_no": "WB-INDEP-001", "kind": "exclusive", "driver_code": driver["driver_code"]}
    push |= {"origin": "昆明市官渡区", "destination": "红河州蒙自市", "goods": "水泥", "weight_kg": 31000}
    pushed = world.enterprise.call("waybill_push", push)
    assert pushed["code"] == "0", pushed
    runner = CliRunner()
    vkey = runner.invoke(main, ["ledger", "key", "--db", str(world.db)]).output.strip()
    before = world.enterprise.call("waybill_status", {"waybill_no": "WB-INDEP-001"})["data"]["chain"]  # the push only
    accept = {"driver_code": driver["driver_code"], "driver_token": driver["driver_token"], "qr_content": pushed["data"]["qr_content"]}
    assert world.enterprise.call("waybill_accept", accept)["code"] == "0"
    chain = world.enterprise.call("waybill_status", {"waybill_no": "WB-INDEP-001"})["data"]["chain"]

    old_size = check_receipt(before[0]["receipt"], before[0]["entry"].encode(), vkey)
    sizes = [check_receipt(e["receipt"], e["entry"].encode(), vkey) for e in chain]
    assert [e["event"] for e in chain] == ["waybill.pushed", "waybill.accepted"] and old_size < sizes[1]
    tampered = chain[-1]["entry"].replace(driver["driver_code"], "D" * len(driver["driver_code"])).encode()
    try:
        check_receipt(chain[-1]["receipt"], tampered, vkey)
    except AssertionError:
        pass
    else:
        raise AssertionError("a tampered entry passed the independent verifier")

    # The checkpoint the push's receipt carries and the one after the acceptance: append-only between them.
    notes = []
    for i, e in enumerate((before[0], chain[-1])):
        note = e["receipt"]["proof"].split("\n\n", 1)[1]
        (tmp_path / f"{i}.note").write_text(note, encoding="utf-8")
        notes.append(str(tmp_path / f"{i}.note"))
    consistent = runner.invoke(main, ["ledger", "consistency", *notes, "--db", str(world.db)])
    assert consistent.exit_code == 0, consistent.output
    backwards = runner.invoke(main, ["ledger", "consistency", *reversed(notes), "--db", str(world.db)])
    assert backwards.exit_code != 0, backwards.output  # a log cannot shrink
    assert json.dumps(chain, ensure_ascii=False).count(DRIVER_B["id_no"]) == 0  # the public entries hold commitments only
