"""The YMT golden vectors, decoded with libraries independent of harness.ymt.crypto.

The module signs with cbor2 + cryptography, verifies COSE with ``cwt`` and encodes base45 with ``base45``; this test
decodes base45 with ``b45``, COSE with ``pycose``, and checks every ES256 and RSA signature with ``cryptography``
directly, so a mistake shared by the module and its generator cannot pass unnoticed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import b45
import cbor2
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pycose.algorithms import Es256
from pycose.headers import KID, Algorithm
from pycose.keys import EC2Key
from pycose.messages import CoseMessage

from fixtures.ymt import generate
from harness.ymt import crypto

HERE = Path(generate.__file__).resolve().parent
DATA: dict[str, Any] = json.loads((HERE / "vectors.json").read_text(encoding="utf-8"))
CASES = {case["NAME"]: case for case in DATA["emergency"]["cases"]}


def _clock(case: dict[str, Any]) -> datetime:
    return datetime.strptime(case["TESTCTX"]["VALIDATIONCLOCK"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _cert(case: dict[str, Any]) -> x509.Certificate:
    return x509.load_der_x509_certificate(base64.b64decode(case["TESTCTX"]["CERTIFICATE"]))


def _raw_verify(public: ec.EllipticCurvePublicKey, raw: bytes, message: bytes) -> None:
    assert len(raw) == 64
    public.verify(
        encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")), message, ec.ECDSA(hashes.SHA256())
    )


def test_the_generator_rebuilds_the_file_byte_for_byte() -> None:
    assert generate.main(["--check"]) == 0


def test_every_key_file_is_marked_test_only() -> None:
    for name in DATA["keys"].values():
        assert "TEST-ONLY" in name
        assert (HERE / name).read_text(encoding="ascii").startswith("THROWAWAY TEST KEY")


# ---- signing (D-YMT-SIGN)


@pytest.mark.parametrize("vector", DATA["signing"], ids=lambda v: v["name"])
def test_signing_string_and_rsa_signature(vector: dict[str, Any]) -> None:
    fields = vector["fields"]
    expected = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "sign" and fields[k] not in (None, ""))
    assert vector["signing_string"] == expected
    assert crypto.signing_string(fields) == expected
    key = serialization.load_pem_private_key((HERE / DATA["keys"]["rsa"]).read_bytes(), password=None)
    key.public_key().verify(base64.b64decode(vector["sign"]), expected.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    crypto.verify_request({**fields, "sign": vector["sign"]}, key.public_key())


def test_sample_signing_string_is_the_documented_one() -> None:
    assert DATA["signing"][0]["signing_string"] == "macId=GATE-01&merchantId=M0001&qrcod=YMTQR0123456789ABCDEF&time=20251201160000"


# ---- reply encryption (D-YMT-AES), decrypted with cryptography's primitives only


@pytest.mark.parametrize("vector", DATA["aes"], ids=lambda v: v["profile"])
def test_aes_vector_decrypts_independently(vector: dict[str, Any]) -> None:
    key = bytes.fromhex(vector["key_hex"])
    data = base64.b64decode(vector["response"])
    plaintext = vector["plaintext_utf8"].encode("utf-8")
    if vector["profile"] == "AES-256-GCM":
        assert len(key) == 32
        nonce = bytes.fromhex(vector["nonce_hex"])
        assert data[:12] == nonce
        assert data[12:-16].hex() == vector["ciphertext_hex"] and data[-16:].hex() == vector["tag_hex"]
        assert AESGCM(key).decrypt(nonce, data[12:], vector["aad_utf8"].encode("utf-8")) == plaintext
        assert vector["aad_utf8"] == "macId=GATE-01&merchantId=M0001&time=20251201160000"
    else:
        assert len(key) == 16 and vector["weak"] is True
        assert data.hex() == vector["ciphertext_hex"]
        mode = modes.CBC(bytes(16)) if vector["profile"] == "AES-128-CBC" else modes.ECB()
        decryptor = Cipher(algorithms.AES(key), mode).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        assert padded[: -padded[-1]] == plaintext and set(padded[-padded[-1] :]) == {padded[-1]}
    assert (
        crypto.decrypt_reply(vector["profile"], key, vector["response"], aad=crypto.reply_aad("M0001", "GATE-01", "20251201160000"))
        == plaintext
    )


# ---- emergency codes (D-YMT-EMERGENCY)


def _trust_keys() -> dict[bytes, ec.EllipticCurvePublicKey]:
    """The trust list, verified against the anchor with cryptography only."""
    emergency = DATA["emergency"]
    anchor = serialization.load_pem_public_key(emergency["trust_anchor_public_pem"].encode("ascii"))
    body = emergency["trust_list"]["trustList"]
    canonical = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    _raw_verify(anchor, base64.b64decode(emergency["trust_list"]["signature"]), canonical)
    out = {}
    for entry in body["keys"]:
        der = base64.b64decode(entry["certificate"])
        kid = base64.b64decode(entry["kid"])
        assert kid == hashlib.sha256(der).digest()[:8]
        out[kid] = x509.load_der_x509_certificate(der).public_key()
    return out


def test_the_trust_list_verifies_and_names_the_issuer_kid() -> None:
    keys = _trust_keys()
    assert list(keys) == [bytes.fromhex(DATA["emergency"]["kid_hex"])]


def _independent_verify(case: dict[str, Any]) -> str | None:
    """The failure the independent pipeline finds (the vectors' reason names), or None for a valid code."""
    text = case["PREFIX"]
    if not text.startswith(DATA["emergency"]["prefix"]):
        return "bad-prefix"
    try:
        compressed = b45.decode(text[len(DATA["emergency"]["prefix"]) :])
    except (ValueError, KeyError, IndexError):  # b45 (numpy-based) raises IndexError for a character outside the alphabet
        return "bad-base45"
    try:
        cose = zlib.decompress(compressed)
    except zlib.error:
        return "bad-zlib"
    message = CoseMessage.decode(cose)
    assert message.phdr.get(Algorithm) is Es256
    kid = message.phdr.get(KID)
    public = _trust_keys().get(kid)
    if public is None:
        return "unknown-kid"
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    message.key = EC2Key.from_pem_public_key(pem)
    if not message.verify_signature():
        return "bad-signature"
    # and once more with cryptography alone, over the Sig_structure
    tagged = cbor2.loads(cose)
    assert tagged.tag == 18
    protected, _, payload, signature = tagged.value
    try:
        _raw_verify(public, signature, cbor2.dumps(["Signature1", protected, b"", payload]))
    except InvalidSignature:
        return "bad-signature"
    claims = cbor2.loads(payload)
    moment = int(_clock(case).timestamp())
    if moment + DATA["emergency"]["leeway_seconds"] < claims[6]:
        return "not-yet-valid"
    if moment >= claims[4]:
        return "expired"
    return None


@pytest.mark.parametrize("name", list(CASES))
def test_emergency_case_independently(name: str) -> None:
    case = CASES[name]
    assert _independent_verify(case) == case["EXPECTEDFAILURE"]
    expected = case["EXPECTEDRESULTS"]
    if case["EXPECTEDFAILURE"] is None:
        assert all(expected.values())
    else:
        assert False in expected.values()


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if "CBOR" in c])
def test_every_stage_of_the_pipeline(name: str) -> None:
    case = CASES[name]
    prefix = DATA["emergency"]["prefix"]
    assert case["PREFIX"] == prefix + case["BASE45"]
    assert b45.decode(case["BASE45"]).hex() == case["COMPRESSED"]
    assert zlib.decompress(bytes.fromhex(case["COMPRESSED"])).hex() == case["COSE"]
    tagged = cbor2.loads(bytes.fromhex(case["COSE"]))
    assert tagged.tag == 18
    protected = cbor2.loads(tagged.value[0])
    assert protected[1] == -7
    assert protected[4] == hashlib.sha256(_cert(case).public_bytes(serialization.Encoding.DER)).digest()[:8]
    assert tagged.value[2].hex() == case["CBOR"]
    claims = cbor2.loads(bytes.fromhex(case["CBOR"]))
    json_claims = case["JSON"]
    assert claims[1] == json_claims["iss"] and claims[6] == json_claims["iat"] and claims[4] == json_claims["exp"]
    assert claims[-70001] == json_claims["ymt"]
    assert json_claims["ymt"]["em"] is True
    assert json_claims["ymt"]["nm"] == "*三" and json_claims["ymt"]["ic"] == "3**************4"
    assert json_claims["exp"] - json_claims["iat"] == 24 * 3600


@pytest.mark.parametrize("name", list(CASES))
def test_the_module_agrees_with_the_vectors(name: str) -> None:
    case = CASES[name]
    emergency = DATA["emergency"]
    anchor = serialization.load_pem_public_key(emergency["trust_anchor_public_pem"].encode("ascii"))
    trust = crypto.load_trust_list(emergency["trust_list"], anchor)
    if case["EXPECTEDFAILURE"] is None:
        result = crypto.verify_emergency(case["PREFIX"], trust, _clock(case))
        assert result.claims.as_json() == case["JSON"]
        assert result.issuer == "YMT-TEST-ISSUER"
    else:
        with pytest.raises(crypto.EmergencyCodeError) as info:
            crypto.verify_emergency(case["PREFIX"], trust, _clock(case))
        assert info.value.reason == case["EXPECTEDFAILURE"]


def test_negative_catalogue_is_complete() -> None:
    assert {c["EXPECTEDFAILURE"] for c in CASES.values()} == {
        None,
        "bad-prefix",
        "bad-base45",
        "bad-zlib",
        "bad-signature",
        "unknown-kid",
        "not-yet-valid",
        "expired",
    }


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command on this machine")
def test_openssl_verifies_the_rsa_signature(tmp_path: Path) -> None:
    """As a scene developer would check it: openssl dgst -sha256 -verify over the signing string."""
    vector = DATA["signing"][0]
    key = serialization.load_pem_private_key((HERE / DATA["keys"]["rsa"]).read_bytes(), password=None)
    (tmp_path / "pub.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(vector["sign"]))
    (tmp_path / "msg.txt").write_bytes(vector["signing_string"].encode("utf-8"))
    command = ["openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "msg.txt"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 and "Verified OK" in done.stdout
