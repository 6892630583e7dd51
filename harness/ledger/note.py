"""Signed notes (c2sp.org/signed-note, Ed25519) and checkpoints (c2sp.org/tlog-checkpoint).

A note is UTF-8 text ending in a newline, a blank line, then signature lines ``— <name> base64(keyid || sig)``. The
key id is the first four bytes of ``SHA-256(name || 0x0A || 0x01 || pubkey)``; a verifier key is the string
``name+hex(keyid)+base64(0x01 || pubkey)`` and a signer key ``PRIVATE+KEY+name+hex(keyid)+base64(0x01 || seed)``.
Signatures from unknown keys are ignored; a note is accepted only when a known key's signature verifies, and refused
when any known key's signature fails. A checkpoint is a note whose text is ``origin``, the decimal tree size and the
base64 root hash, one per line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

ALG_ED25519 = 0x01
DASH = "\u2014"
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed or does not verify; the message says why."""


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise NoteError(f"{what} is not standard base64") from exc


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or any(ord(c) < 0x20 for c in name):
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    name: str
    key_id: bytes
    public: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse ``name+hex(keyid)+base64(0x01 || pubkey)``; the key id must match the key."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("a verifier key is name+keyid+base64key")
        name, hexid, b64 = parts
        _check_name(name)
        raw = _b64decode(b64, "verifier key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("verifier key is not an Ed25519 (0x01) key of 32 bytes")
        if not re.fullmatch(r"[0-9a-f]{8}", hexid) or bytes.fromhex(hexid) != key_id(name, raw[1:]):
            raise NoteError(f"verifier key id {hexid} does not match the key named {name}")
        return cls(name, bytes.fromhex(hexid), Ed25519PublicKey.from_public_bytes(raw[1:]))

    def __str__(self) -> str:
        raw = self.public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(bytes([ALG_ED25519]) + raw).decode()}"


@dataclass(frozen=True)
class Signer:
    name: str
    private: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls, name: str) -> Signer:
        _check_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Parse ``PRIVATE+KEY+name+hex(keyid)+base64(0x01 || seed)``."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key is PRIVATE+KEY+name+keyid+base64key")
        name, hexid, b64 = parts[2:]
        _check_name(name)
        raw = _b64decode(b64, "signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("signer key is not an Ed25519 (0x01) seed of 32 bytes")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier.key_id.hex() != hexid:
            raise NoteError("signer key id does not match its key")
        return signer

    @property
    def verifier(self) -> Verifier:
        pub = self.private.public_key()
        return Verifier(self.name, key_id(self.name, pub.public_bytes(Encoding.Raw, PublicFormat.Raw)), pub)

    def secret(self) -> str:
        seed = self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{base64.b64encode(bytes([ALG_ED25519]) + seed).decode()}"

    def sign_line(self, text: str) -> str:
        sig = self.private.sign(text.encode())
        return f"{DASH} {self.name} {base64.b64encode(self.verifier.key_id + sig).decode()}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note holds a control character")


def sign(text: str, *signers: Signer) -> str:
    """The signed note of ``text`` (which ends in a newline) with one signature line per signer."""
    _check_text(text)
    return text + "\n" + "".join(s.sign_line(text) for s in signers)


@dataclass(frozen=True)
class Note:
    text: str
    verified_by: tuple[str, ...]  # names of the known keys whose signatures verified


def open_note(note: str | bytes, verifiers: list[Verifier] | tuple[Verifier, ...]) -> Note:
    """Verify a signed note against the known ``verifiers``; returns its text, or raises :class:`NoteError`."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError("note is not UTF-8") from exc
    if not note.endswith("\n"):
        raise NoteError("note must end with a newline")
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, sigblock = note[: split + 1], note[split + 2 :]
    lines = sigblock.split("\n")[:-1]
    if not lines:
        raise NoteError("note has no signature lines")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[str] = []
    seen: set[tuple[str, bytes]] = set()
    for line in lines:
        m = re.fullmatch(f"{DASH} (\\S+) (\\S+)", line)
        if not m:
            raise NoteError(f"malformed signature line {line[:60]!r}")
        name, raw = m.group(1), _b64decode(m.group(2), "signature")
        if len(raw) < 5:
            raise NoteError("signature is too short")
        key = (name, raw[:4])
        verifier = known.get(key)
        if verifier is None:
            continue  # unknown key (name or id differs): ignored, as c2sp.org/signed-note requires
        if key in seen:
            raise NoteError(f"two signatures by the key {name}")
        seen.add(key)
        try:
            verifier.public.verify(raw[4:], text.encode())
        except InvalidSignature as exc:
            raise NoteError(f"the signature by {name} does not verify: the note was altered or mis-signed") from exc
        verified.append(name)
    if not verified:
        names = ", ".join(sorted({v.name for v in verifiers})) or "none"
        raise NoteError(f"no signature by a known key (known: {names})")
    return Note(text, tuple(verified))


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        ext = "".join(f"{line}\n" for line in self.extensions)
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n{ext}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("checkpoint text needs origin, size and root hash lines")
        origin, size, root, *ext = lines[:-1]
        if not origin:
            raise NoteError("checkpoint origin is empty")
        if not re.fullmatch(r"0|[1-9][0-9]*", size):
            raise NoteError(f"checkpoint size {size[:30]!r} is not a decimal without leading zeros")
        raw = _b64decode(root, "checkpoint root hash")
        if len(raw) != 32:
            raise NoteError(f"checkpoint root hash is {len(raw)} bytes, not 32")
        if any(not line for line in ext):
            raise NoteError("checkpoint extension lines must not be empty")
        return cls(origin, int(size), raw, tuple(ext))


def open_checkpoint(note: str | bytes, origin: str, verifiers: list[Verifier] | tuple[Verifier, ...]) -> Checkpoint:
    """Verify a signed checkpoint: a known key's signature and the expected ``origin``."""
    cp = Checkpoint.parse(open_note(note, verifiers).text)
    if cp.origin != origin:
        raise NoteError(f"checkpoint origin {cp.origin!r} is not this log's origin {origin!r}")
    return cp
