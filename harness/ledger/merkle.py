"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification (SHA-256).

Leaf hash ``SHA-256(0x00 || entry)``, interior node ``SHA-256(0x01 || left || right)``; the tree over ``n`` leaves splits
at the largest power of two below ``n`` (RFC 9162 §2.1.1). Proofs are built from a *node source*: a callable
``get(level, index)`` answering the hash of the perfect subtree of ``2**level`` leaves starting at leaf
``index * 2**level`` (the store keeps exactly those), so the same code serves the store and in-memory trees.
Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) and never needs the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeSource = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof that does not verify, or a request for one that cannot exist; the message says why."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(get: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range whose start is aligned to the split structure (every range a proof asks for)."""
    size = end - start
    if size <= 0:
        raise ProofError(f"empty range [{start}, {end})")
    if size & (size - 1) == 0 and start % size == 0:
        return get(size.bit_length() - 1, start // size)
    k = _split(size)
    return node_hash(subtree_hash(get, start, start + k), subtree_hash(get, start + k, end))


def root(get: NodeSource, size: int) -> bytes:
    return EMPTY_ROOT if size == 0 else subtree_hash(get, 0, size)


def inclusion_proof(get: NodeSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 6962 §2.1.1: sibling hashes from the leaf's up to the root's child."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree_hash(get, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(get, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(get: NodeSource, size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[0:size2]) of RFC 6962 §2.1.2 (empty when the sizes are equal)."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to size {size2}")
    proof: list[bytes] = []
    m, start, end, whole = size1, 0, size2, True
    while m != end:
        k = _split(end - start)
        if m - start <= k:
            proof.append(subtree_hash(get, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(get, start, start + k))
            start += k
            whole = False
    if not whole:
        proof.append(subtree_hash(get, start, end))
    proof.reverse()
    return proof


def _check_hashes(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise ProofError(f"proof hash {i} is {len(h)} bytes, not {HASH_SIZE}")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index`` in a tree of ``size`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is beyond tree size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash is {len(leaf)} bytes, not {HASH_SIZE}")
    _check_hashes(proof)
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> None:
    """Raise :class:`ProofError` unless ``proof`` shows ``leaf`` at ``index`` in the tree of ``size`` with that root."""
    if root_from_inclusion(index, size, leaf, proof) != expected_root:
        raise ProofError(f"inclusion proof for index {index} does not lead to the root of size {size}")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Raise :class:`ProofError` unless the tree (size2, root2) extends (size1, root1) (RFC 9162 §2.1.4.2)."""
    if size1 < 0 or size2 < 0 or size1 > size2:
        raise ProofError(f"size {size2} cannot extend size {size1}: a log only grows")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty consistency proof")
        if root1 != root2:
            raise ProofError(f"two different roots for one tree size {size1}: the log forked")
        return
    if not proof:
        raise ProofError(f"empty consistency proof from size {size1} to {size2}")
    _check_hashes(proof)
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError(f"consistency proof does not reproduce the root of size {size1}")
    if sr != root2:
        raise ProofError(f"consistency proof does not reproduce the root of size {size2}")


class Frontier:
    """The right edge of a growing tree: the roots of its perfect subtrees, largest first (a compact range).

    ``push`` appends a leaf hash and returns the nodes it completes as ``(level, index, hash)``, level 0 first, which is
    what the store keeps; ``root()`` folds the edge into the tree head."""

    __slots__ = ("size", "_edge")

    def __init__(self, size: int = 0, edge: Sequence[bytes] = ()) -> None:
        if len(edge) != bin(size).count("1"):
            raise ProofError(f"a frontier of size {size} has {bin(size).count('1')} hashes, not {len(edge)}")
        self.size = size
        self._edge = list(edge)

    @classmethod
    def load(cls, get: NodeSource, size: int) -> Frontier:
        edge, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                edge.append(get(level, start >> level))
                start += 1 << level
        return cls(size, edge)

    def push(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        index = self.size
        made = [(0, index, leaf)]
        h, level = leaf, 0
        while index >> level & 1:
            h = node_hash(self._edge.pop(), h)
            level += 1
            made.append((level, index >> level, h))
        self._edge.append(h)
        self.size += 1
        return made

    def root(self) -> bytes:
        if not self._edge:
            return EMPTY_ROOT
        r = self._edge[-1]
        for h in reversed(self._edge[:-1]):
            r = node_hash(h, r)
        return r


class MemoryTree:
    """A whole tree in memory (tests, receipts of small logs): every perfect node kept per level."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        self.frontier = Frontier()
        for leaf in leaves:
            self.append(leaf)

    def append(self, leaf: bytes) -> None:
        for level, _index, h in self.frontier.push(leaf):
            if level == len(self.levels):
                self.levels.append([])
            self.levels[level].append(h)

    def get(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    @property
    def size(self) -> int:
        return self.frontier.size

    def root(self, size: int | None = None) -> bytes:
        return root(self.get, self.size if size is None else size)
