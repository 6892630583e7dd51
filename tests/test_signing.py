"""D-YXC-SIGN: golden vectors from a throwaway key, proven against an independent implementation (OpenSSL)."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from harness.signing import Signer, SigningError, digest, verify_signature

VECTORS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "signing"
VECTORS = json.loads((VECTORS_DIR / "vectors.json").read_text(encoding="utf-8"))
KEY = serialization.load_pem_private_key((VECTORS_DIR / VECTORS["key"]).read_bytes(), password=None)
HASHLIB = {"e1": hashlib.sha1, "e2": hashlib.sha256, "e3": hashlib.sha512}
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


def independent_h(vector: dict) -> bytes:
    payload = bytes.fromhex(vector["payload_hex"])
    return HASHLIB[vector["v"][-2:]](payload + struct.pack(">Q", vector["ts"])).digest()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: f"{v['name']}-{v['v']}")
def test_signer_reproduces_golden_vector(vector: dict) -> None:
    signer = Signer(KEY, VECTORS["user"], vector["v"])
    payload = bytes.fromhex(vector["payload_hex"])
    assert digest(payload, vector["ts"], vector["v"]).hex() == vector["h_hex"] == independent_h(vector).hex()
    assert signer.sign(payload, vector["ts"]) == vector["sign"]
    assert vector["sign"] == vector["sign"].upper()


@needs_openssl
@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: f"{v['name']}-{v['v']}")
def test_openssl_pkcs1_type1_over_raw_h_gives_the_same_signature(vector: dict, tmp_path: Path) -> None:
    h_file = tmp_path / "h.bin"
    h_file.write_bytes(independent_h(vector))
    out = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-sign",
            "-inkey",
            str(VECTORS_DIR / VECTORS["key"]),
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
            "-in",
            str(h_file),
        ],
        check=True,
        capture_output=True,
    ).stdout
    assert out.hex().upper() == vector["sign"]


@needs_openssl
@pytest.mark.parametrize("vector", VECTORS["vectors"][:2], ids=lambda v: v["v"])
def test_openssl_recovers_raw_h_without_digestinfo(vector: dict, tmp_path: Path) -> None:
    pub = tmp_path / "pub.pem"
    pub.write_bytes(KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    sig = tmp_path / "sig.bin"
    sig.write_bytes(bytes.fromhex(vector["sign"]))
    recovered = subprocess.run(
        ["openssl", "pkeyutl", "-verifyrecover", "-pubin", "-inkey", str(pub), "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", str(sig)],
        check=True,
        capture_output=True,
    ).stdout
    assert recovered == independent_h(vector)  # the raw hash: no DigestInfo prefix


def test_verify_accepts_the_vector_and_rejects_any_change() -> None:
    vector = VECTORS["vectors"][1]
    payload = bytes.fromhex(vector["payload_hex"])
    public = KEY.public_key()
    assert verify_signature(public, payload, vector["ts"], vector["v"], vector["sign"])
    assert not verify_signature(public, payload + b" ", vector["ts"], vector["v"], vector["sign"])
    assert not verify_signature(public, payload, vector["ts"] + 1, vector["v"], vector["sign"])
    assert not verify_signature(public, payload, vector["ts"], "1.0.0.e3", vector["sign"])
    assert not verify_signature(public, payload, vector["ts"], vector["v"], "zz")


def test_standard_sha256_with_rsa_is_not_this_signature() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    vector = VECTORS["vectors"][1]
    payload = bytes.fromhex(vector["payload_hex"]) + struct.pack(">Q", vector["ts"])
    standard = KEY.sign(payload, padding.PKCS1v15(), hashes.SHA256()).hex().upper()
    assert standard != vector["sign"]  # a library sign() call includes DigestInfo, deployed platforms do not


def test_unknown_hash_suffix_is_refused() -> None:
    with pytest.raises(SigningError):
        digest(b"x", 1700000000000, "1.0.0.e9")
