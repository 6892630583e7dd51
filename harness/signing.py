"""JT/T timing-platform request signing, exactly as deployed platforms do it (000 附件四 URL; D-YXC-SIGN).

    H    = HASH(payload ‖ ts as an 8-byte big-endian integer)   HASH by v's suffix: e1 SHA-1, e2 SHA-256, e3 SHA-512
    sign = HEX_UPPER( RSA_private( 0x00 0x01 FF…FF 0x00 ‖ H ) )  PKCS#1 v1.5 block type 1, *no* DigestInfo

This is not a standard SHA256withRSA signature, so ``private_key.sign()`` cannot produce it: the signer pads
and exponentiates itself. Verification uses ``recover_data_from_signature`` and compares the recovered bytes with H.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from harness.errors import HarnessError

HASHES = {"e1": hashlib.sha1, "e2": hashlib.sha256, "e3": hashlib.sha512}
HASH_NAMES = {"e1": "SHA-1", "e2": "SHA-256", "e3": "SHA-512"}
DEFAULT_VERSION = "1.0.0.e2"
STRICT_VERSION = re.compile(r"^\d+\.\d+\.\d+\.e[123]$")


class SigningError(HarnessError, ValueError):
    """The signing parameters themselves are unusable (unknown hash suffix, bad ts)."""


def hash_for_version(version: str) -> str:
    """The hash suffix (e1/e2/e3) a version string selects; raises SigningError for anything else."""
    suffix = version[-2:] if version else ""
    if suffix not in HASHES:
        raise SigningError(f"v {version!r} must end in e1 (SHA-1), e2 (SHA-256) or e3 (SHA-512)")
    return suffix


def digest(payload: bytes, ts_ms: int, version: str) -> bytes:
    """H = HASH(payload ‖ ts as 8-byte big-endian)."""
    if not 0 <= ts_ms < 2**63:
        raise SigningError(f"ts {ts_ms} does not fit an 8-byte integer")
    return HASHES[hash_for_version(version)](payload + ts_ms.to_bytes(8, "big")).digest()


def _type1_pad(h: bytes, k: int) -> bytes:
    if len(h) > k - 11:
        raise SigningError("key too small for this hash")
    return b"\x00\x01" + b"\xff" * (k - len(h) - 3) + b"\x00" + h


def raw_sign(private_key: rsa.RSAPrivateKey, h: bytes) -> bytes:
    """RSA private-key operation over the type-1 padded H (what OpenSSL's pkeyutl -sign with pkcs1 padding does)."""
    numbers = private_key.private_numbers()
    n = numbers.public_numbers.n
    k = (n.bit_length() + 7) // 8
    m = int.from_bytes(_type1_pad(h, k), "big")
    # CRT for speed; result is identical to pow(m, d, n).
    m1 = pow(m, numbers.dmp1, numbers.p)
    m2 = pow(m, numbers.dmq1, numbers.q)
    hq = (numbers.iqmp * (m1 - m2)) % numbers.p
    s = m2 + hq * numbers.q
    return s.to_bytes(k, "big")


def verify_signature(public_key: rsa.RSAPublicKey, payload: bytes, ts_ms: int, version: str, sign_hex: str) -> bool:
    """True when ``sign_hex`` is the signature of (payload, ts) under ``version``'s hash for this key."""
    try:
        signature = bytes.fromhex(sign_hex)
        expected = digest(payload, ts_ms, version)
        recovered = public_key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except (ValueError, InvalidSignature, SigningError):
        return False
    return hmac.compare_digest(recovered, expected)


# DER DigestInfo prefixes (RFC 8017 §9.2 note 1): what a standard "SHA256withRSA" signer puts before the hash.
DIGEST_INFO = {
    "SHA-1": (bytes.fromhex("3021300906052b0e03021a05000414"), hashlib.sha1),
    "SHA-256": (bytes.fromhex("3031300d060960864801650304020105000420"), hashlib.sha256),
    "SHA-512": (bytes.fromhex("3051300d060960864801650304020305000440"), hashlib.sha512),
}


def diagnose_signature(public_key: rsa.RSAPublicKey, payload: bytes, ts_ms: int, version: str, sign_hex: str) -> str | None:
    """Why a signature that does not verify fails, when the key shows it: a standard PKCS#1 v1.5 signature with DigestInfo.

    A standard ``SHA256withRSA`` signature (``openssl dgst -sha256 -sign``, Java's ``Signature``, ``key.sign()``) is
    block type 1 over DigestInfo ‖ hash; this scheme signs the raw H with no DigestInfo. Returns one sentence for the
    refusal, or None when the recovered block says nothing useful.
    """
    try:
        recovered = public_key.recover_data_from_signature(bytes.fromhex(sign_hex), padding.PKCS1v15(), None)
        expected = digest(payload, ts_ms, version)
    except (ValueError, InvalidSignature, SigningError):
        return None
    for name, (prefix, hash_function) in DIGEST_INFO.items():
        if not recovered.startswith(prefix):
            continue
        inner = recovered[len(prefix) :]
        if inner == hash_function(payload + ts_ms.to_bytes(8, "big")).digest():
            over = f"{name} over the payload and ts"
        elif inner == hash_function(payload).digest():
            over = f"{name} over the payload alone (without the 8-byte ts)"
        else:
            over = f"{name} over other bytes"
        return (
            f"the signature verifies as PKCS#1 v1.5 with DigestInfo ({over}: a standard SHA256withRSA-style signature); "
            f"this platform signs the raw H = {HASH_NAMES[hash_for_version(version)]}(payload ‖ ts as 8-byte big-endian) "
            "in a block type 1 without DigestInfo (D-YXC-SIGN: `openssl pkeyutl -sign -pkeyopt rsa_padding_mode:pkcs1` over H)"
        )
    if len(recovered) != len(expected):
        return f"the signature holds {len(recovered)} bytes where H for v {version} has {len(expected)}: check the hash the suffix of v selects"
    return None


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Signer:
    """Client-side signer for vendors and for the harness's own simulators.

    >>> signer = Signer.from_pem_files("A0001.key.pem", "A0001.cert.pem")   # doctest: +SKIP
    >>> params = signer.query(body_bytes)                                     # doctest: +SKIP
    >>> httpx.post(url, params=params, content=body_bytes, headers={"Content-Type": "application/json"})
    """

    private_key: rsa.RSAPrivateKey
    serial_hex: str
    version: str = DEFAULT_VERSION

    @classmethod
    def from_pem_files(cls, key_path: str | Path, cert_path: str | Path, version: str = DEFAULT_VERSION) -> Signer:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SigningError("the private key must be RSA")
        return cls(key, cert_serial_hex(cert), version)

    @classmethod
    def from_pkcs12(cls, p12_path: str | Path, password: str | None, version: str = DEFAULT_VERSION) -> Signer:
        key, cert, _ = pkcs12.load_key_and_certificates(Path(p12_path).read_bytes(), password.encode() if password else None)
        if not isinstance(key, rsa.RSAPrivateKey) or cert is None:
            raise SigningError("the PKCS#12 file must hold an RSA key and its certificate")
        return cls(key, cert_serial_hex(cert), version)

    @classmethod
    def from_dir(cls, directory: str | Path, version: str = DEFAULT_VERSION) -> Signer:
        """Load the key and certificate that ``harness vendor add --out DIR`` wrote."""
        directory = Path(directory)
        keys = sorted(directory.glob("*.key.pem"))
        if not keys:
            raise SigningError(f"no *.key.pem in {directory}")
        key = keys[0]
        return cls.from_pem_files(key, key.with_name(key.name.replace(".key.pem", ".cert.pem")), version)

    def sign(self, payload: bytes, ts_ms: int) -> str:
        return raw_sign(self.private_key, digest(payload, ts_ms, self.version)).hex().upper()

    def query(self, payload: bytes, ts_ms: int | None = None) -> dict[str, str]:
        """The four signing query parameters for one request."""
        ts_ms = now_ms() if ts_ms is None else ts_ms
        return {"v": self.version, "ts": str(ts_ms), "sign": self.sign(payload, ts_ms), "user": self.serial_hex}


def cert_serial_hex(cert: x509.Certificate) -> str:
    """The `user` value: the certificate's serial number in uppercase hex."""
    return format(cert.serial_number, "X")
