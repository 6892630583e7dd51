"""RFC 6962 / 9162 tree hashing and proofs: the public vectors (fixtures/merkle, transparency-dev/merkle, Apache-2.0)
and an independent implementation written here from the RFC's recursive definitions."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from harness.ledger import merkle
from harness.ledger.merkle import MemoryTree, ProofError

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "merkle" / "testdata"


def _cases(kind: str) -> list[tuple[str, dict]]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert len(files) > 50, f"vectors missing under {VECTORS / kind}"
    return [(str(f.relative_to(VECTORS)), json.loads(f.read_text())) for f in files]


def _b(text: str | None) -> bytes:
    return base64.b64decode(text or "")


def _hashes(items: list[str] | None) -> list[bytes]:
    return [_b(x) for x in items or []]


@pytest.mark.parametrize(("name", "case"), _cases("inclusion"), ids=lambda v: v if isinstance(v, str) else "")
def test_inclusion_vectors(name: str, case: dict) -> None:
    args = (case["leafIdx"], case["treeSize"], _b(case["leafHash"]), _hashes(case["proof"]), _b(case["root"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize(("name", "case"), _cases("consistency"), ids=lambda v: v if isinstance(v, str) else "")
def test_consistency_vectors(name: str, case: dict) -> None:
    args = (case["size1"], case["size2"], _b(case["root1"]), _b(case["root2"]), _hashes(case["proof"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


# -- an independent RFC 6962 implementation: the recursive definitions of §2.1, over lists --------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = _k(len(d))
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    return path(m, d[:k]) + [mth(d[k:])] if m < k else path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    return subproof(m, d[:k], b) + [mth(d[k:])] if m <= k else subproof(m - k, d[k:], False) + [mth(d[:k])]


ENTRIES = [f"entry {i}".encode() for i in range(70)]


def test_roots_and_proofs_match_the_rfc_definitions() -> None:
    tree = MemoryTree()
    for n in range(1, len(ENTRIES) + 1):
        tree.append(merkle.leaf_hash(ENTRIES[n - 1]))
        d = ENTRIES[:n]
        assert tree.root() == mth(d) == tree.frontier.root()
        for m in range(n):
            proof = merkle.inclusion_proof(tree.get, m, n)
            assert proof == path(m, d)
            merkle.verify_inclusion(m, n, merkle.leaf_hash(d[m]), proof, mth(d))
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(tree.get, m, n)
            assert proof == subproof(m, d, True)
            merkle.verify_consistency(m, n, mth(d[:m]), mth(d), proof)


def test_every_single_bit_flip_in_a_proof_is_refused() -> None:
    tree = MemoryTree(merkle.leaf_hash(e) for e in ENTRIES[:13])
    proof = merkle.inclusion_proof(tree.get, 5, 13)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(ProofError):
            merkle.verify_inclusion(5, 13, tree.get(0, 5), bad, tree.root())
    cproof = merkle.consistency_proof(tree.get, 6, 13)
    for i in range(len(cproof)):
        bad = list(cproof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(ProofError):
            merkle.verify_consistency(6, 13, tree.root(6), tree.root(), bad)


def test_the_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert MemoryTree().root() == mth([]) == merkle.EMPTY_ROOT
