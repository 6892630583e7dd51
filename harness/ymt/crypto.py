"""YMT 一码通 cryptography: the request signature, the reply encryption, masking and the offline emergency code.

The seed (001 表B.4) names an RSA ``sign`` and an AES-encrypted ``response`` but defines neither the signing input,
the key exchange nor the cipher mode, and it describes the emergency code (001 §3, §7.2.2) without a format. Every
choice below is harness-defined and recorded in ``specs/decisions.yaml``:

- D-YMT-SIGN: the signing string is every non-empty field but ``sign``, sorted by ASCII name, joined ``k=v&…``;
  ``sign`` = base64 of SHA256withRSA (PKCS#1 v1.5) over its UTF-8 bytes.
- D-YMT-TIME-WINDOW: ``time`` is yyyyMMddHHmmss Beijing time, within ±300 s of the platform clock; a repeated
  (merchantId, macId, time, sign) inside the window is a replay.
- D-YMT-AES: the reply is AES-256-GCM under the merchant's enrolment key, AAD = the signing string of
  ``macId``, ``merchantId`` and ``time`` of the request, text = base64(nonce ‖ ciphertext ‖ tag); AES-128-CBC with a
  zero IV and AES-128-ECB only for a merchant enrolled with them (weak, flagged).
- D-YMT-MASK: ``concealName`` / ``concealCard`` as the seed's examples show them.
- D-YMT-EMERGENCY: ``YMT1:`` + base45(zlib(COSE_Sign1(CWT))), ES256, kid = SHA-256(certificate DER)[:8], verified
  offline against a signed trust list (the layout the EU Digital COVID Certificate proved at scale).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import base45
import cbor2
import cwt
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harness.errors import HarnessError

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FORMAT = "%Y%m%d%H%M%S"  # the seed prints yyyyMMssHHmmss (001 表B.4); read as yyyyMMddHHmmss (D-YMT-TIME)
TIME_WINDOW_SECONDS = 300


class YmtCryptoError(HarnessError):
    """A YMT signature, cipher text, time or emergency code that does not verify."""


class SignatureError(YmtCryptoError):
    """The request's ``sign`` is missing, malformed or does not verify (D-YMT-SIGN)."""


class TimeWindowError(YmtCryptoError):
    """The request's ``time`` is malformed or outside the ±300 s window (D-YMT-TIME-WINDOW)."""


class ReplayError(YmtCryptoError):
    """The same signed request was seen inside the time window (D-YMT-TIME-WINDOW)."""


class CipherError(YmtCryptoError):
    """A reply cannot be encrypted or decrypted under the merchant's profile (D-YMT-AES)."""


# --------------------------------------------------------------------------------------------------------------
# The signing string and SHA256withRSA (D-YMT-SIGN)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def signing_string(fields: Mapping[str, Any]) -> str:
    """``k=v&…`` over every field but ``sign`` whose value is neither None nor empty, sorted by ASCII field name.

    Values are used as sent (no URL encoding); numbers and booleans as their JSON text, objects and arrays as compact
    JSON with sorted keys."""
    parts = []
    for name in sorted(fields):
        if name == "sign":
            continue
        value = fields[name]
        if value is None or value == "" or value == [] or value == {}:
            continue
        parts.append(f"{name}={_text(value)}")
    return "&".join(parts)


def sign_request(fields: Mapping[str, Any], private_key: rsa.RSAPrivateKey) -> str:
    """The ``sign`` for a request: base64 (standard alphabet, padded) of SHA256withRSA over the signing string."""
    signature = private_key.sign(signing_string(fields).encode("utf-8"), asym_padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def _signature_candidates(text: str, *, tolerant: bool) -> list[bytes]:
    """The byte strings ``sign`` may stand for: standard base64 only, or under the tolerant reading (D-YMT-SIGN) also
    URL-safe or unpadded base64 and hex (a hex string is also valid base64, so every reading is tried)."""
    out = []
    try:
        out.append(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        pass
    if tolerant:
        if len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text):
            out.append(bytes.fromhex(text))
        try:
            out.append(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            pass
    if not out:
        raise SignatureError("sign is not standard base64" if not tolerant else "sign is neither base64 nor hex")
    return out


_PKCS1, _SHA256 = asym_padding.PKCS1v15(), hashes.SHA256()  # stateless: made once, not per verification


def verify_request(fields: Mapping[str, Any], public_key: rsa.RSAPublicKey, *, tolerant: bool = False) -> None:
    """Raise :class:`SignatureError` unless ``fields['sign']`` verifies over the signing string of ``fields``."""
    sign = fields.get("sign")
    if not isinstance(sign, str) or not sign:
        raise SignatureError("sign is missing")
    message = signing_string(fields).encode("utf-8")
    for signature in _signature_candidates(sign, tolerant=tolerant):
        try:
            public_key.verify(signature, message, _PKCS1, _SHA256)
            return
        except InvalidSignature:
            continue
    raise SignatureError("sign does not verify over the signing string")


# --------------------------------------------------------------------------------------------------------------
# time and replay (D-YMT-TIME, D-YMT-TIME-WINDOW)


def format_time(moment: datetime) -> str:
    """yyyyMMddHHmmss in Beijing time."""
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """A request ``time`` (yyyyMMddHHmmss, Beijing time) as an aware datetime; :class:`TimeWindowError` if malformed."""
    if not isinstance(text, str) or len(text) != 14 or not text.isdigit() or not text.isascii():
        raise TimeWindowError("time is not 14 digits yyyyMMddHHmmss")
    try:  # the constructor, not strptime (a tenth of its cost, on every decode): the same moments, the same refusals
        return datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]), int(text[12:14]), tzinfo=BEIJING)
    except ValueError:
        raise TimeWindowError("time is not a real yyyyMMddHHmmss moment") from None


def check_time(text: str, now: datetime, window: int = TIME_WINDOW_SECONDS) -> datetime:
    """Parse ``time`` and raise :class:`TimeWindowError` when it is more than ``window`` seconds from ``now``."""
    moment = parse_time(text)
    skew = abs((moment - now).total_seconds())
    if skew > window:
        raise TimeWindowError(f"time is {int(skew)} s from the platform clock (window ±{window} s)")
    return moment


def literal_pattern_reading(text: str, now: datetime, window: int = TIME_WINDOW_SECONDS) -> str | None:
    """When ``text`` reads as 表B.4's printed pattern yyyyMMssHHmmss taken literally (year, month, the seconds where
    the day belongs, hour, minute, seconds: both ss equal, and with today's day in place of the first ss the moment
    lies inside the window of ``now``), one line saying so and naming D-YMT-TIME; else None."""
    if not (isinstance(text, str) and len(text) == 14 and text.isascii() and text.isdigit()) or text[6:8] != text[12:14]:
        return None
    today = now.astimezone(BEIJING)
    try:
        moment = datetime(int(text[0:4]), int(text[4:6]), today.day, int(text[8:10]), int(text[10:12]), int(text[12:14]), tzinfo=BEIJING)
    except ValueError:
        return None
    if abs((moment - now).total_seconds()) > window or int(text[6:8]) == today.day:
        return None
    return (
        f"time {text} reads as yyyyMMssHHmmss, 表B.4's printed pattern taken literally (the seconds {text[6:8]} where the day "
        f"belongs); D-YMT-TIME reads the pattern as yyyyMMddHHmmss, Beijing time (today: {today.strftime('%Y%m%d')}…)"
    )


_DAYS: dict[str, int] = {}  # yyyyMMdd → POSIX seconds of that Beijing midnight (a real date, read by parse_time once)


def time_seconds(text: str) -> int:
    """A request ``time`` as POSIX seconds: :func:`parse_time` (its refusals, in its words), with the date read once
    per day (every decode asks)."""
    if type(text) is str and len(text) == 14 and text.isascii() and text.isdigit():
        day = _DAYS.get(text[:8])
        hour, minute, second = int(text[8:10]), int(text[10:12]), int(text[12:14])
        if day is not None and hour < 24 and minute < 60 and second < 60:
            return day + hour * 3600 + minute * 60 + second
    moment = parse_time(text)
    if len(_DAYS) >= 1000:
        _DAYS.clear()
    _DAYS[text[:8]] = int(moment.replace(hour=0, minute=0, second=0).timestamp())
    return int(moment.timestamp())


def check_time_at(text: str, now: float, window: int = TIME_WINDOW_SECONDS) -> None:
    """:func:`check_time` against ``now`` in POSIX seconds, as the same moment to the microsecond (the rounding of
    ``datetime.fromtimestamp``), without building datetimes: the same decisions and words."""
    moment = time_seconds(text)
    fraction, whole = math.modf(now)
    micros = round(fraction * 1e6)  # half to even, as datetime.fromtimestamp rounds
    skew = abs((moment - int(whole)) * 1_000_000 - micros) / 1_000_000
    if skew > window:
        raise TimeWindowError(f"time is {int(skew)} s from the platform clock (window ±{window} s)")


@dataclass
class ReplayGuard:
    """Remembers signed requests for the time window: a second (merchantId, macId, time, sign) is a replay."""

    window: int = TIME_WINDOW_SECONDS
    _seen: dict[tuple[str, str, str, str], datetime] = field(default_factory=dict)

    def check(self, fields: Mapping[str, Any], now: datetime) -> None:
        cutoff = now - timedelta(seconds=2 * self.window)
        for key in [k for k, seen in self._seen.items() if seen < cutoff]:
            del self._seen[key]
        key = (str(fields.get("merchantId", "")), str(fields.get("macId", "")), str(fields.get("time", "")), str(fields.get("sign", "")))
        if key in self._seen:
            raise ReplayError("this signed request was already received inside the time window")
        self._seen[key] = now


# --------------------------------------------------------------------------------------------------------------
# reply encryption (D-YMT-AES)

AES_256_GCM = "AES-256-GCM"
AES_128_CBC = "AES-128-CBC"  # legacy: zero IV, PKCS#7 (weak: equal plaintexts give equal cipher texts)
AES_128_ECB = "AES-128-ECB"  # legacy: PKCS#7 (weak: no IV at all)
AES_PROFILES = (AES_256_GCM, AES_128_CBC, AES_128_ECB)
WEAK_PROFILES = frozenset({AES_128_CBC, AES_128_ECB})
KEY_SIZES = {AES_256_GCM: 32, AES_128_CBC: 16, AES_128_ECB: 16}
GCM_NONCE_BYTES = 12


def reply_aad(merchant_id: str, mac_id: str, time: str) -> bytes:
    """The GCM additional data: the signing string of the request's macId, merchantId and time, UTF-8."""
    return signing_string({"merchantId": merchant_id, "macId": mac_id, "time": time}).encode("utf-8")


def _check_key(profile: str, key: bytes) -> None:
    if profile not in KEY_SIZES:
        raise CipherError(f"unknown AES profile {profile!r} (known: {', '.join(AES_PROFILES)})")
    if len(key) != KEY_SIZES[profile]:
        raise CipherError(f"{profile} needs a {KEY_SIZES[profile]}-byte key, not {len(key)} bytes")


@lru_cache(maxsize=1024)
def _gcm(key: bytes) -> AESGCM:
    """The AES-GCM cipher of a merchant's reply key, made once per key (every decode seals its answer with one)."""
    return AESGCM(key)


def encrypt_reply(profile: str, key: bytes, plaintext: bytes, *, aad: bytes = b"", nonce: bytes | None = None) -> str:
    """The ``response`` text: base64 of (nonce ‖ ciphertext ‖ tag) for GCM, of the PKCS#7-padded ciphertext otherwise."""
    _check_key(profile, key)
    if profile == AES_256_GCM:
        nonce = os.urandom(GCM_NONCE_BYTES) if nonce is None else nonce
        if len(nonce) != GCM_NONCE_BYTES:
            raise CipherError("the GCM nonce must be 12 bytes")
        return base64.b64encode(nonce + _gcm(key).encrypt(nonce, plaintext, aad)).decode("ascii")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    mode = modes.CBC(bytes(16)) if profile == AES_128_CBC else modes.ECB()
    encryptor = Cipher(algorithms.AES(key), mode).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def decrypt_reply(profile: str, key: bytes, text: str, *, aad: bytes = b"") -> bytes:
    """Inverse of :func:`encrypt_reply`; :class:`CipherError` for bad base64, a bad tag, bad padding or a wrong key."""
    _check_key(profile, key)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CipherError("response is not base64") from None
    if profile == AES_256_GCM:
        if len(data) < GCM_NONCE_BYTES + 16:
            raise CipherError("response is too short for nonce and tag")
        try:
            return AESGCM(key).decrypt(data[:GCM_NONCE_BYTES], data[GCM_NONCE_BYTES:], aad)
        except InvalidTag:
            raise CipherError("response does not authenticate (wrong key, AAD or tampered)") from None
    if not data or len(data) % 16:
        raise CipherError("response is not a whole number of AES blocks")
    mode = modes.CBC(bytes(16)) if profile == AES_128_CBC else modes.ECB()
    decryptor = Cipher(algorithms.AES(key), mode).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    try:
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise CipherError("response has bad PKCS#7 padding (wrong key or tampered)") from None


def new_reply_key(profile: str = AES_256_GCM) -> bytes:
    """A fresh random key for a merchant enrolling with ``profile``."""
    _check_key(profile, bytes(KEY_SIZES.get(profile, 0)))
    return os.urandom(KEY_SIZES[profile])


def wrap_key(public_key: rsa.RSAPublicKey, key: bytes) -> str:
    """``aesKeyWrapped``: base64 of RSA-OAEP (SHA-256, MGF1-SHA-256, no label) of the key under the merchant's public key."""
    oaep = asym_padding.OAEP(mgf=asym_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return base64.b64encode(public_key.encrypt(key, oaep)).decode("ascii")


def unwrap_key(private_key: rsa.RSAPrivateKey, text: str) -> bytes:
    """The merchant's side of :func:`wrap_key`; :class:`CipherError` if it does not unwrap."""
    oaep = asym_padding.OAEP(mgf=asym_padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    try:
        return private_key.decrypt(base64.b64decode(text, validate=True), oaep)
    except (ValueError, binascii.Error):
        raise CipherError("aesKeyWrapped does not unwrap with this private key") from None


# --------------------------------------------------------------------------------------------------------------
# masking (D-YMT-MASK)

CARD_STARS = 14  # 表B.1/B.3 examples: 5**************4, 3**************X (first and last kept, 14 stars)


def conceal_name(name: str) -> str:
    """张三 → *三: every character but the last becomes ``*`` (表B.3 example); a one-character name → ``*``."""
    if len(name) <= 1:
        return "*" * len(name)
    return "*" * (len(name) - 1) + name[-1]


def conceal_card(number: str) -> str:
    """330102199001011234 → 3**************4: first and last character kept, exactly 14 stars between (表B.1/B.3)."""
    if len(number) <= 2:
        return "*" * len(number)
    return number[0] + "*" * CARD_STARS + number[-1]


# --------------------------------------------------------------------------------------------------------------
# the emergency code (D-YMT-EMERGENCY)

PREFIX = "YMT1:"
COSE_SIGN1_TAG = 18
ES256 = -7
HDR_ALG, HDR_KID = 1, 4
CLAIM_ISS, CLAIM_EXP, CLAIM_IAT = 1, 4, 6
CLAIM_YMT = -70001  # harness-defined private CWT claim: the masked identity, tags and the emergency flag
DEFAULT_LIFETIME = timedelta(hours=24)
CLOCK_LEEWAY_SECONDS = 60


class EmergencyCodeError(YmtCryptoError):
    """An emergency code that does not verify offline; ``reason`` names the stage (see the subclasses)."""

    reason = "invalid"


class BadPrefix(EmergencyCodeError):
    reason = "bad-prefix"


class BadBase45(EmergencyCodeError):
    reason = "bad-base45"


class BadZlib(EmergencyCodeError):
    reason = "bad-zlib"


class BadCose(EmergencyCodeError):
    reason = "bad-cose"


class BadClaims(EmergencyCodeError):
    reason = "bad-claims"


class UnknownKid(EmergencyCodeError):
    reason = "unknown-kid"


class BadSignature(EmergencyCodeError):
    reason = "bad-signature"


class NotYetValid(EmergencyCodeError):
    reason = "not-yet-valid"


class Expired(EmergencyCodeError):
    reason = "expired"


class BadTrustList(EmergencyCodeError):
    reason = "bad-trust-list"


def kid_for_certificate(certificate: x509.Certificate | bytes) -> bytes:
    """The first 8 bytes of SHA-256 over the certificate's DER encoding."""
    der = certificate if isinstance(certificate, bytes) else certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).digest()[:8]


@dataclass(frozen=True)
class EmergencyClaims:
    """What an emergency code asserts: already masked, so a lost screenshot reveals no full name or ID number."""

    issuer: str
    issued_at: int  # epoch seconds
    expires_at: int
    conceal_name: str
    conceal_card: str
    tags: tuple[int, ...] = ()
    emergency: bool = True

    def as_json(self) -> dict[str, Any]:
        """The claims as the vectors' JSON stage shows them (names, not CWT integer keys)."""
        return {
            "iss": self.issuer,
            "iat": self.issued_at,
            "exp": self.expires_at,
            "ymt": {"nm": self.conceal_name, "ic": self.conceal_card, "tg": list(self.tags), "em": self.emergency},
        }

    def as_cwt(self) -> dict[int, Any]:
        return {
            CLAIM_ISS: self.issuer,
            CLAIM_IAT: self.issued_at,
            CLAIM_EXP: self.expires_at,
            CLAIM_YMT: {"nm": self.conceal_name, "ic": self.conceal_card, "tg": list(self.tags), "em": self.emergency},
        }

    @classmethod
    def from_cwt(cls, claims: Any) -> EmergencyClaims:
        try:
            ymt = claims[CLAIM_YMT]
            out = cls(
                issuer=claims[CLAIM_ISS],
                issued_at=claims[CLAIM_IAT],
                expires_at=claims[CLAIM_EXP],
                conceal_name=ymt["nm"],
                conceal_card=ymt["ic"],
                tags=tuple(ymt.get("tg", ())),
                emergency=ymt["em"],
            )
        except (KeyError, TypeError) as exc:
            raise BadClaims(f"the CWT lacks a required claim ({exc})") from None
        ok = (
            isinstance(out.issuer, str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in (out.issued_at, out.expires_at))
            and isinstance(out.conceal_name, str)
            and isinstance(out.conceal_card, str)
            and all(isinstance(t, int) and not isinstance(t, bool) for t in out.tags)
            and out.emergency is True
        )
        if not ok:
            raise BadClaims("a CWT claim has the wrong type, or the emergency flag is not true")
        return out


def emergency_claims(
    issuer: str, name: str, card: str, tags: Iterable[int], issued_at: datetime, lifetime: timedelta = DEFAULT_LIFETIME
) -> EmergencyClaims:
    """Claims for a person's emergency code, masking the name and ID number here."""
    iat = int(issued_at.timestamp())
    return EmergencyClaims(issuer, iat, iat + int(lifetime.total_seconds()), conceal_name(name), conceal_card(card), tuple(tags))


@dataclass(frozen=True)
class EmergencyStages:
    """Every stage of the pipeline, for the golden vectors and for debugging a scanner."""

    cbor: bytes  # the CWT claims
    cose: bytes  # COSE_Sign1, tag 18
    compressed: bytes  # zlib
    base45: str
    text: str  # PREFIX + base45: what the QR code holds


def _ecdsa(deterministic: bool) -> ec.ECDSA:
    """ES256's signature algorithm; RFC 6979 nonces (cryptography ≥ 44) only when asked, for reproducible vectors."""
    return ec.ECDSA(hashes.SHA256(), deterministic_signing=True) if deterministic else ec.ECDSA(hashes.SHA256())


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def encode_emergency(
    claims: EmergencyClaims, private_key: ec.EllipticCurvePrivateKey, kid: bytes, *, deterministic: bool = False
) -> EmergencyStages:
    """Sign ``claims`` as a COSE_Sign1 (ES256, kid in the protected header), compress, base45 and prefix.

    ``deterministic`` signs per RFC 6979 so the golden vectors rebuild byte for byte; codes in service are signed with
    a random nonce (the default)."""
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise EmergencyCodeError("emergency codes are signed ES256 with a P-256 key")
    payload = cbor2.dumps(claims.as_cwt())
    protected = cbor2.dumps({HDR_ALG: ES256, HDR_KID: kid})
    der = private_key.sign(_sig_structure(protected, payload), _ecdsa(deterministic))
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    cose = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]))
    compressed = zlib.compress(cose, 9)
    text45 = base45.b45encode(compressed).decode("ascii")
    return EmergencyStages(payload, cose, compressed, text45, PREFIX + text45)


def make_emergency(
    claims: EmergencyClaims, private_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate, *, deterministic: bool = False
) -> str:
    """The QR text of an emergency code signed by the issuer key of ``certificate``."""
    return encode_emergency(claims, private_key, kid_for_certificate(certificate), deterministic=deterministic).text


@dataclass(frozen=True)
class TrustedKey:
    kid: bytes
    issuer: str
    certificate: x509.Certificate

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        key = self.certificate.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return key


@dataclass(frozen=True)
class TrustList:
    """The issuer keys a scanner trusts, as it fetched them ahead of time."""

    version: int
    issued_at: int
    expires_at: int
    keys: dict[bytes, TrustedKey]


def _canonical(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def make_trust_list(
    entries: Iterable[tuple[str, x509.Certificate]],
    anchor_key: ec.EllipticCurvePrivateKey,
    *,
    version: int,
    issued_at: int,
    expires_at: int,
    deterministic: bool = False,
) -> dict[str, Any]:
    """A trust list: ``{"trustList": {...}, "signature": base64(r ‖ s)}``, ES256 over the canonical JSON of trustList
    (sorted keys, no spaces, UTF-8). Each key: ``{kid, issuer, certificate}`` (kid and DER certificate in base64)."""
    keys = []
    for issuer, certificate in entries:
        der = certificate.public_bytes(serialization.Encoding.DER)
        keys.append({"kid": _b64(kid_for_certificate(der)), "issuer": issuer, "certificate": _b64(der)})
    body = {"version": version, "issuedAt": issued_at, "expiresAt": expires_at, "keys": keys}
    der_sig = anchor_key.sign(_canonical(body), _ecdsa(deterministic))
    r, s = decode_dss_signature(der_sig)
    return {"trustList": body, "signature": _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}


def load_trust_list(document: Mapping[str, Any], anchor: ec.EllipticCurvePublicKey, now: datetime | None = None) -> TrustList:
    """Verify a trust list against the anchor key the scanner was provisioned with; :class:`BadTrustList` if not."""
    try:
        body = document["trustList"]
        raw = base64.b64decode(document["signature"], validate=True)
        if len(raw) != 64:
            raise ValueError("signature is not 64 bytes")
        anchor.verify(
            encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
            _canonical(body),
            ec.ECDSA(hashes.SHA256()),
        )
        keys: dict[bytes, TrustedKey] = {}
        for entry in body["keys"]:
            der = base64.b64decode(entry["certificate"], validate=True)
            kid = base64.b64decode(entry["kid"], validate=True)
            if kid != kid_for_certificate(der):
                raise ValueError("a kid does not match its certificate")
            certificate = x509.load_der_x509_certificate(der)
            public = certificate.public_key()
            if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
                raise ValueError("an issuer key is not P-256")
            keys[kid] = TrustedKey(kid, str(entry["issuer"]), certificate)
        trust = TrustList(int(body["version"]), int(body["issuedAt"]), int(body["expiresAt"]), keys)
    except InvalidSignature:
        raise BadTrustList("the trust list's signature does not verify against the anchor") from None
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise BadTrustList(f"the trust list is malformed ({exc})") from None
    if now is not None and int(now.timestamp()) > trust.expires_at:
        raise BadTrustList("the trust list has expired: fetch a new one")
    return trust


@dataclass(frozen=True)
class EmergencyResult:
    """A verified emergency code."""

    kid: bytes
    issuer: str
    claims: EmergencyClaims


def _decode_structure(text: str) -> tuple[bytes, dict[Any, Any], Any, bytes, bytes]:
    """Unprefix, base45, zlib and COSE_Sign1 parse: (COSE bytes, protected header, unprotected, payload, kid)."""
    if not isinstance(text, str) or not text.startswith(PREFIX):
        raise BadPrefix(f"the code does not start with {PREFIX}")
    try:
        compressed = base45.b45decode(text[len(PREFIX) :])
    except ValueError:
        raise BadBase45("the code is not base45") from None
    try:
        cose = zlib.decompress(compressed)
    except zlib.error:
        raise BadZlib("the base45 payload is not zlib data") from None
    try:
        message = cbor2.loads(cose)
    except Exception:  # cbor2 raises CBORDecodeError and, for some truncations, other ValueErrors
        raise BadCose("the decompressed payload is not CBOR") from None
    if isinstance(message, cbor2.CBORTag):
        if message.tag != COSE_SIGN1_TAG:
            raise BadCose(f"CBOR tag {message.tag} is not COSE_Sign1 (18)")
        message = message.value
    if not (isinstance(message, list) and len(message) == 4 and isinstance(message[0], bytes) and isinstance(message[2], bytes)):
        raise BadCose("not a COSE_Sign1 array [protected, unprotected, payload, signature]")
    protected_bytes, unprotected, payload, signature = message
    try:
        protected = cbor2.loads(protected_bytes) if protected_bytes else {}
    except Exception:
        raise BadCose("the protected header is not CBOR") from None
    if not isinstance(protected, dict) or not isinstance(unprotected, dict) or not isinstance(signature, bytes):
        raise BadCose("COSE headers are not maps")
    if protected.get(HDR_ALG) != ES256:
        raise BadCose("the protected header does not name ES256 (-7)")
    kid = protected.get(HDR_KID, unprotected.get(HDR_KID))
    if not isinstance(kid, bytes):
        raise BadCose("no kid in the COSE headers")
    return cose, protected, unprotected, payload, kid


def verify_emergency(text: str, trust_list: TrustList, now: datetime, *, leeway: int = CLOCK_LEEWAY_SECONDS) -> EmergencyResult:
    """Verify an emergency code offline. Raises the :class:`EmergencyCodeError` subclass naming the failed stage:
    bad prefix, base45, zlib, COSE, claims, unknown kid, bad signature, not yet valid (``now`` more than ``leeway``
    seconds before issue) or expired (``now`` at or after ``exp``)."""
    cose, _, _, payload, kid = _decode_structure(text)
    trusted = trust_list.keys.get(kid)
    if trusted is None:
        raise UnknownKid(f"kid {kid.hex()} is not in the trust list")
    pem = trusted.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    key = cwt.COSEKey.from_pem(pem, alg="ES256", kid=kid)
    try:
        cwt.COSE.new().decode(cose, key)
    except cwt.VerifyError:
        raise BadSignature("the COSE signature does not verify with the trusted key") from None
    except cwt.DecodeError as exc:
        raise BadCose(f"the COSE message cannot be verified ({exc})") from None
    try:
        claims = EmergencyClaims.from_cwt(cbor2.loads(payload))
    except BadClaims:
        raise
    except Exception:
        raise BadClaims("the COSE payload is not a CBOR claims map") from None
    moment = int(now.timestamp())
    if moment + leeway < claims.issued_at:
        raise NotYetValid(f"issued at {claims.issued_at}, the clock says {moment}")
    if moment >= claims.expires_at:
        raise Expired(f"expired at {claims.expires_at}, the clock says {moment}")
    return EmergencyResult(kid, trusted.issuer, claims)


def decode_emergency_unverified(text: str) -> dict[str, Any]:
    """The stages of a code without verifying it (for reports and debugging): kid and claims as JSON-ready values."""
    _, protected, _, payload, kid = _decode_structure(text)
    try:
        claims = EmergencyClaims.from_cwt(cbor2.loads(payload)).as_json()
    except Exception:
        claims = None
    return {"kid": kid.hex(), "alg": protected.get(HDR_ALG), "claims": claims}


def utc(epoch: int) -> datetime:
    """An epoch second as an aware UTC datetime (the vectors' validation clocks)."""
    return datetime.fromtimestamp(epoch, UTC)
