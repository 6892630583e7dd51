"""YMT reference data: channel apps, people, merchants and their scanners, the platform's keys and its up/down switch.

The CLI (harness/ymt/cli.py) and the handlers share these functions. Each CLI command is one transaction; the handlers
record the same statements on the exchange's unit of work instead (so a refused exchange changes nothing).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from harness import idnumbers, masking, sealing
from harness.errors import HarnessError
from harness.journal import now_iso
from harness.store import Store
from harness.ymt import crypto

Statement = tuple[str, tuple[Any, ...]]

AUTH_CODE_TTL = 300  # D-YMT-AUTH
TOKEN_TTL = 7200  # D-YMT-AUTH
CODE_TTL = 60  # D-YMT-QR-VALUE
TRUST_LIST_DAYS = 7
ISSUER = "YMT-HARNESS-ISSUER"
CODE_PREFIX = "YMTQ"
MIN_RSA_BITS = 2048
SERVICE_TYPES = (10000, 20000, 30000)  # 001 §9.2 表1 (D-YMT-SERVICE-TYPES)
DECODE_SERVICE = 20000
DATA_FIELDS = ("userName", "idCard", "concealName", "concealCard", "tags", "mobile", "residence", "health", "talentLevel", "veteran")
SCENE_TYPES = (
    "一码出行",
    "一码通办",
    "一码入园",
    "一码入馆",
    "一码就医",
    "一码连心",
    "一码入学",
    "才金直通",
    "三色五益",
    "助残助学",
    "幸福计算器",
    "其他",
)
QRCODE_TYPES = {"generate_qrcode": "ymt", "channel_qrcode": "gj"}  # B.1 the 一码通 code; B.3 a channel's bus code (表B.3 公交码类型)
# The tag register (D-YMT-TAG-COLOURS: 1 red … 5 gold, 6 white, 7 black).
VETERAN_TAG = {"icon": "/ymt/icons/veteran.png", "no": 1, "text": "退役军人", "backgroundColor": 1, "fontColor": 6}
TALENT_TAG_NO = 4


class YmtError(HarnessError):
    """A YMT reference-data operation cannot be done (bad argument, unknown merchant …): one line, exit 2."""


def now() -> float:
    return time.time()  # POSIX seconds, as datetime.now(UTC).timestamp() (a tenth of its cost, on every exchange)


def server_time(epoch: float) -> str:
    """yyyy-MM-dd HH:mm:ss Beijing time (D-YMT-SERVER-TIME); the text of the last second asked is kept (every decode)."""
    second = int(epoch // 1)
    if _SERVER_TIME[0] != second:
        _SERVER_TIME[:] = [second, dt.datetime.fromtimestamp(second, crypto.BEIJING).strftime("%Y-%m-%d %H:%M:%S")]
    return _SERVER_TIME[1]


_SERVER_TIME: list[Any] = [None, ""]


# --- ID numbers (GB 11643) ---------------------------------------------------------------------------------------------
id_check_digit = idnumbers.check_char  # GB 11643 (harness/idnumbers.py)


def id_card_valid(number: str) -> bool:
    """An 18-character 居民身份证 number whose GB 11643 check digit is right."""
    return idnumbers.valid(number)


# --- keys -------------------------------------------------------------------------------------------------------------
def load_rsa_public(pem: str) -> rsa.RSAPublicKey:
    """An RSA public key of at least 2048 bits from PEM; :class:`YmtError` otherwise."""
    try:
        key = serialization.load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError, UnicodeError):
        raise YmtError("publicKey is not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise YmtError("publicKey is not an RSA key (D-YMT-SIGN: SHA256withRSA)")
    if key.key_size < MIN_RSA_BITS:
        raise YmtError(f"publicKey has {key.key_size} bits; at least {MIN_RSA_BITS} are required (D-YMT-SIGN)")
    return key


@lru_cache(maxsize=4096)
def cached_rsa_public(pem: str) -> rsa.RSAPublicKey:
    return load_rsa_public(pem)


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def public_pem(key: Any) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def _certificate(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "harness")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=3650))
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True)
class PlatformKeys:
    """The platform's own keys: the emergency-code issuer (P-256) and its certificate, the trust anchor (P-256) that
    signs the trust list, and the HMAC key that signs code values."""

    issuer: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    anchor: ec.EllipticCurvePrivateKey
    code_key: bytes

    @property
    def anchor_pem(self) -> str:
        return public_pem(self.anchor.public_key())


_KEYS: dict[str, PlatformKeys] = {}


def _key_rows(store: Store) -> dict[str, bytes]:
    """ymt_keys opened (sealed at rest; a value an older version kept in clear is read as it is)."""
    return {r["name"]: sealing.unseal(store, r["value"], f"ymt-key:{r['name']}") for r in store.query("SELECT name, value FROM ymt_keys")}


def platform_keys(store: Store) -> PlatformKeys:
    """The platform's keys, made on first use (INSERT OR IGNORE: when two processes race, the first set wins)."""
    cached = _KEYS.get(str(store.path))
    if cached is not None:
        return cached
    rows = _key_rows(store)
    if not {"issuer", "certificate", "anchor", "code"} <= set(rows):
        issuer = ec.generate_private_key(ec.SECP256R1())
        anchor = ec.generate_private_key(ec.SECP256R1())
        made = {
            "issuer": private_pem(issuer),
            "certificate": _certificate(issuer, ISSUER).public_bytes(serialization.Encoding.PEM),
            "anchor": private_pem(anchor),
            "code": os.urandom(32),
        }
        with store.transaction(changes_state=False) as conn:
            for name, value in made.items():
                sealed = sealing.seal(store, value, f"ymt-key:{name}").encode()  # the platform's own keys: sealed at rest
                conn.execute("INSERT OR IGNORE INTO ymt_keys (name, value, created) VALUES (?, ?, ?)", (name, sealed, now_iso()))
        rows = _key_rows(store)
    issuer_key = serialization.load_pem_private_key(rows["issuer"], None)
    anchor_key = serialization.load_pem_private_key(rows["anchor"], None)
    assert isinstance(issuer_key, ec.EllipticCurvePrivateKey) and isinstance(anchor_key, ec.EllipticCurvePrivateKey)
    keys = PlatformKeys(issuer_key, x509.load_pem_x509_certificate(rows["certificate"]), anchor_key, rows["code"])
    _KEYS[str(store.path)] = keys
    return keys


def trust_list(store: Store, at: float | None = None) -> dict[str, Any]:
    """The signed trust list of the issuer keys (D-YMT-EMERGENCY), valid for a week from ``at``."""
    keys = platform_keys(store)
    issued = int(at if at is not None else now())
    return crypto.make_trust_list(
        [(ISSUER, keys.certificate)], keys.anchor, version=1, issued_at=issued, expires_at=issued + TRUST_LIST_DAYS * 86400
    )


# --- code values (D-YMT-QR-VALUE) ---------------------------------------------------------------------------------------
def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def new_code_value(code_key: bytes) -> str:
    """YMTQ + 24 base32 characters: 10 random bytes and the first 5 bytes of their HMAC-SHA256 under the platform's
    code key. Opaque and personal-data-free; the tag lets B.4 refuse a forged value before any lookup."""
    nonce = os.urandom(10)
    return CODE_PREFIX + _b32(nonce + hmac.new(code_key, nonce, hashlib.sha256).digest()[:5])


_B32_AS_INT = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv")  # RFC 4648 → int(…, 32)
_B32_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def code_value_signed(code_key: bytes, value: str) -> bool:
    """Whether ``value`` is YMTQ + 24 base32 characters whose last 5 bytes are the HMAC tag of the first 10. Checked on
    every decode before any lookup: 24 base32 characters are exactly 15 bytes, read as one integer (a tenth of the
    cost of base64.b32decode)."""
    if len(value) != len(CODE_PREFIX) + 24 or not value.startswith(CODE_PREFIX):
        return False
    text = value[len(CODE_PREFIX) :]
    if not _B32_LETTERS.issuperset(text):
        return False
    raw = int(text.translate(_B32_AS_INT), 32).to_bytes(15, "big")
    keyed = _CODE_MACS.get(code_key)
    if keyed is None:
        keyed = _CODE_MACS[code_key] = hmac.new(code_key, digestmod="sha256")
    mac = keyed.copy()  # the key's HMAC state made once: a copy, not a new key schedule, per decode
    mac.update(raw[:10])
    return hmac.compare_digest(raw[10:], mac.digest()[:5])


_CODE_MACS: dict[bytes, Any] = {}  # code key → its HMAC-SHA256 before any message (one per store the process serves)


def code_statements(user_id: str, app_id: str, qrcode_type: str, scope: Sequence[str], value: str, at: float) -> list[Statement]:
    """A new code revokes the person's previous code of the same type and app (D-YMT-QR-VALUE)."""
    return [
        (
            "UPDATE ymt_codes SET revoked = 1 WHERE user_id = ? AND app_id = ? AND qrcode_type = ? AND revoked = 0",
            (user_id, app_id, qrcode_type),
        ),
        (
            "INSERT INTO ymt_codes (value, user_id, app_id, qrcode_type, scope, issued, expires) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (value, user_id, app_id, qrcode_type, json.dumps(list(scope)), at, at + CODE_TTL),
        ),
    ]


def issue_code(store: Store, user_id: str, app_id: str, qrcode_type: str = "ymt", *, expired: bool = False) -> str:
    """A fresh code value for a person, as B.1 makes it (for `harness ymt code` and tests); ``expired``: one whose 60 s
    have already passed (for a certification scenario's expired-code scan)."""
    consent = store.query_one("SELECT scope FROM ymt_consents WHERE user_id = ? AND app_id = ?", (user_id, app_id))
    if consent is None:
        raise YmtError(f"user {user_id} has not consented to app {app_id} (harness ymt user-add --app {app_id} --scope …)")
    value = new_code_value(platform_keys(store).code_key)
    with store.transaction() as conn:
        at = now() - (CODE_TTL + 1 if expired else 0)
        for sql, params in code_statements(user_id, app_id, qrcode_type, json.loads(consent["scope"]), value, at):
            conn.execute(sql, params)
    return value


# --- people, apps, consent, tokens ----------------------------------------------------------------------------------------
def tags_for(user: Any) -> list[dict[str, Any]]:
    """The person's identity tags (001 表B.2; §6 d): 退役军人, and a talent level as 'E类人才'."""
    tags = []
    if user["veteran"]:
        tags.append(dict(VETERAN_TAG))
    if user["talent_level"]:
        text = f"{user['talent_level']}类人才"
        tags.append({"icon": "/ymt/icons/talent.png", "no": TALENT_TAG_NO, "text": text, "backgroundColor": 5, "fontColor": 7})
    return tags


NAME_PURPOSE, ID_CARD_PURPOSE, MOBILE_PURPOSE = "ymt-user-name", "ymt-user-id-card", "ymt-user-mobile"  # sealing's associated data
_INDEX_KEYS: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


def id_card_index(store: Store, id_card: str) -> str:
    """The blind index of an ID number (``ymt_users.id_card_index``): HMAC-SHA256 of the normalised number (trimmed,
    upper case) under a key derived from the store's sealing key, so equal numbers find each other and the index alone
    reveals nothing (the 18-digit space is small enough to enumerate an unkeyed hash)."""
    key = _INDEX_KEYS.get(store)
    if key is None:
        key = _INDEX_KEYS[store] = hmac.digest(sealing.seal_key(store), b"harness ymt id_card blind index v1", "sha256")
    return hmac.digest(key, id_card.strip().upper().encode("utf-8"), "sha256").hex()


def sealed_person(store: Store, name: str, id_card: str, mobile: str | None) -> tuple[str, str, str | None, str]:
    """(name, ID number, mobile) sealed for ``ymt_users`` and the ID number's blind index."""
    return (
        sealing.seal(store, name, NAME_PURPOSE),
        sealing.seal(store, id_card, ID_CARD_PURPOSE),
        sealing.seal(store, mobile, MOBILE_PURPOSE) if mobile is not None else None,
        id_card_index(store, id_card),
    )


def find_user_by_card(store: Store, id_card: str) -> dict[str, Any] | None:
    """The person with this ID number (through the blind index), opened, or None."""
    row = store.query_one("SELECT * FROM ymt_users WHERE id_card_index = ?", (id_card_index(store, id_card),))
    return user_row(store, row) if row is not None else None


def user_row(store: Store, row: Any) -> dict[str, Any]:
    """A person's row (or a row carrying their columns) with name, ID number and mobile opened (they are sealed at
    rest, harness/sealing.py; a value an older store kept in clear is read as it is)."""
    user = dict(row)
    user["name"] = sealing.unseal(store, user["name"], NAME_PURPOSE).decode("utf-8")
    user["id_card"] = sealing.unseal(store, user["id_card"], ID_CARD_PURPOSE).decode("utf-8")
    if user.get("mobile") is not None:
        user["mobile"] = sealing.unseal(store, user["mobile"], MOBILE_PURPOSE).decode("utf-8")
    return user


def find_user(store: Store, user_id: str) -> dict[str, Any] | None:
    """The person ``user_id``, opened (:func:`user_row`), or None."""
    row = store.query_one("SELECT * FROM ymt_users WHERE id = ?", (user_id,))
    return user_row(store, row) if row is not None else None


def add_app(store: Store, app_id: str, name: str = "") -> None:
    if store.query_one("SELECT 1 FROM ymt_apps WHERE id = ?", (app_id,)) is not None:
        raise YmtError(f"channel app {app_id} already exists")
    store.execute("INSERT INTO ymt_apps (id, name, created) VALUES (?, ?, ?)", (app_id, name or app_id, now_iso()))


def user_id_for(store: Store, id_card: str) -> str:
    """The platform's id for a person: a keyed hash of the ID number under the platform's code key, so the same person
    checked twice (even by two racing requests) gets the same id, and the id reveals nothing of the number."""
    return "U" + hmac.new(platform_keys(store).code_key, b"user:" + id_card.encode("ascii"), hashlib.sha256).hexdigest()[:16]


def user_statements(
    store: Store, user_id: str, name: str, id_card: str, mobile: str | None, veteran: bool, talent: str | None
) -> list[Statement]:
    """The person's row: name, ID number and mobile sealed, the ID number's blind index beside them."""
    stamp = now_iso()
    sealed_name, sealed_card, sealed_mobile, index = sealed_person(store, name, id_card, mobile)
    return [
        (
            "INSERT INTO ymt_users (id, name, id_type, id_card, mobile, veteran, talent_level, realname_at, created, id_card_index)"
            " VALUES (?, ?, '01', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",  # the same person checked twice at once
            (user_id, sealed_name, sealed_card, sealed_mobile, int(veteran), talent, stamp, stamp, index),
        )
    ]


def consent_statements(user_id: str, app_id: str, scope: Iterable[str]) -> list[Statement]:
    return [
        (
            "INSERT INTO ymt_consents (user_id, app_id, scope, at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, app_id) DO UPDATE SET scope = excluded.scope, at = excluded.at",
            (user_id, app_id, json.dumps(sorted(set(scope))), now_iso()),
        )
    ]


def token_statements(store: Store, token: str, user_id: str, app_id: str, scope: Sequence[str], at: float) -> list[Statement]:
    return [
        (
            "INSERT INTO ymt_tokens (token_hash, user_id, app_id, scope, expires) VALUES (?, ?, ?, ?, ?)",
            (masking.hide(store, token), user_id, app_id, json.dumps(list(scope)), at + TOKEN_TTL),
        )
    ]


def new_secret() -> str:
    """An authorisation code or accessToken: 32 url-safe characters (表B.5 code, 表B.1 accessToken)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class NewUser:
    user_id: str
    app_id: str | None
    scope: tuple[str, ...]
    access_token: str | None


def add_user(
    store: Store,
    name: str,
    id_card: str,
    *,
    mobile: str | None = None,
    veteran: bool = False,
    talent: str | None = None,
    app_id: str | None = None,
    scope: Sequence[str] = (),
) -> NewUser:
    """A person who passed the real-name check; with ``app_id`` also their consent to ``scope`` for that app and an
    accessToken (as if the app had exchanged the authorisation code, B.5). One transaction."""
    id_card = id_card.upper()
    if not 2 <= len(name) <= 20:
        raise YmtError("the name must have 2 to 20 characters (001 §6 a) 姓名)")
    if not id_card_valid(id_card):
        raise YmtError("the ID number is not an 18-character 居民身份证 number with a right GB 11643 check digit")
    unknown = sorted(set(scope) - set(DATA_FIELDS))
    if unknown:
        raise YmtError(f"unknown data fields {unknown}; known: {', '.join(DATA_FIELDS)}")
    if store.query_one("SELECT 1 FROM ymt_users WHERE id_card_index = ?", (id_card_index(store, id_card),)) is not None:
        raise YmtError("a user with this ID number already exists")
    if app_id is not None and store.query_one("SELECT 1 FROM ymt_apps WHERE id = ?", (app_id,)) is None:
        raise YmtError(f"no channel app {app_id} (harness ymt app-add {app_id})")
    user_id = user_id_for(store, id_card)
    statements = user_statements(store, user_id, name, id_card, mobile, veteran, talent)
    token = None
    if app_id is not None:
        token = new_secret()
        statements += consent_statements(user_id, app_id, scope)
        statements += token_statements(store, token, user_id, app_id, sorted(set(scope)), now())
    with store.transaction() as conn:
        for sql, params in statements:
            conn.execute(sql, params)
    return NewUser(user_id, app_id, tuple(sorted(set(scope))), token)


# --- merchants and devices ------------------------------------------------------------------------------------------------
def new_merchant_id(store: Store) -> str:
    while True:
        merchant_id = "M" + "".join(secrets.choice("0123456789") for _ in range(8))
        if store.query_one("SELECT 1 FROM ymt_merchants WHERE id = ?", (merchant_id,)) is None:
            return merchant_id


@dataclass(frozen=True)
class NewMerchant:
    merchant_id: str
    aes_profile: str
    aes_key: bytes
    aes_key_wrapped: str

    @property
    def weak(self) -> bool:
        return self.aes_profile in crypto.WEAK_PROFILES


AES_KEY_PURPOSE = "ymt-merchant-aes-key"  # the associated data a merchant's sealed reply key is bound to


def reply_key(store: Store, merchant: Any) -> bytes:
    """A merchant row's AES reply key, unsealed."""
    return sealing.unseal(store, merchant["aes_key"], AES_KEY_PURPOSE)


def merchant_statements(
    merchant_id: str,
    *,
    scene_name: str,
    scene_type: str,
    service_types: Iterable[int],
    qrcode_types: Iterable[str],
    fields: Iterable[str],
    public_key: str,
    aes_profile: str,
    aes_key: bytes,
    store: Store,
) -> list[Statement]:
    """The merchant's row; its AES reply key is kept sealed (harness/sealing.py), never in clear in the store."""
    kinds = sorted({10000 if int(t) == 1000 else int(t) for t in service_types})  # 1000: 表1's misprint (D-YMT-SERVICE-TYPES)
    return [
        (
            "INSERT INTO ymt_merchants (id, scene_name, scene_type, service_types, qrcode_types, fields, public_key, aes_profile,"
            " aes_key, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                merchant_id,
                scene_name,
                scene_type,
                json.dumps(kinds),
                json.dumps(list(dict.fromkeys(qrcode_types))),
                json.dumps(sorted(set(fields))),
                public_key,
                aes_profile,
                sealing.seal(store, aes_key, AES_KEY_PURPOSE).encode("ascii"),
                now_iso(),
            ),
        )
    ]


def add_merchant(
    store: Store,
    *,
    public_key: str,
    scene_name: str = "scene",
    scene_type: str = "其他",
    service_types: Sequence[int] = (DECODE_SERVICE,),
    qrcode_types: Sequence[str] = ("ymt", "gj"),
    fields: Sequence[str] = ("concealName", "concealCard"),
    aes_profile: str = crypto.AES_256_GCM,
    merchant_id: str | None = None,
) -> NewMerchant:
    """Register a scene side (001 §8.1.1) and issue its AES reply key, wrapped under its public key. One transaction."""
    key = load_rsa_public(public_key)
    if aes_profile not in crypto.AES_PROFILES:
        raise YmtError(f"unknown AES profile {aes_profile!r}; known: {', '.join(crypto.AES_PROFILES)}")
    if scene_type not in SCENE_TYPES:
        raise YmtError(f"unknown scene type {scene_type!r}; known: {', '.join(SCENE_TYPES)}")
    bad = [t for t in service_types if int(t) not in (*SERVICE_TYPES, 1000)]
    if bad:
        raise YmtError(f"unknown service types {bad}; known: 10000, 20000, 30000 (001 §9.2 表1)")
    unknown = sorted(set(fields) - set(DATA_FIELDS))
    if unknown:
        raise YmtError(f"unknown data fields {unknown}; known: {', '.join(DATA_FIELDS)}")
    if merchant_id is not None and store.query_one("SELECT 1 FROM ymt_merchants WHERE id = ?", (merchant_id,)) is not None:
        raise YmtError(f"merchant {merchant_id} already exists")
    merchant_id = merchant_id or new_merchant_id(store)
    aes_key = crypto.new_reply_key(aes_profile)
    statements = merchant_statements(
        merchant_id,
        scene_name=scene_name,
        scene_type=scene_type,
        service_types=service_types,
        qrcode_types=qrcode_types,
        fields=fields,
        public_key=public_key,
        aes_profile=aes_profile,
        aes_key=aes_key,
        store=store,
    )
    with store.transaction() as conn:
        for sql, params in statements:
            conn.execute(sql, params)
    return NewMerchant(merchant_id, aes_profile, aes_key, crypto.wrap_key(key, aes_key))


def device_statements(merchant_id: str, mac_id: str, public_key: str | None) -> list[Statement]:
    return [
        (
            "INSERT INTO ymt_devices (merchant_id, mac_id, public_key, created) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (merchant_id, mac_id) DO UPDATE SET public_key = excluded.public_key",
            (merchant_id, mac_id, public_key, now_iso()),
        )
    ]


def add_device(store: Store, merchant_id: str, mac_id: str, public_key: str | None = None) -> None:
    """Enrol a scanner under its merchant (001 §8.1.2), optionally with its own RSA key (D-YMT-ENROL). One transaction."""
    if store.query_one("SELECT 1 FROM ymt_merchants WHERE id = ?", (merchant_id,)) is None:
        raise YmtError(f"no merchant {merchant_id} (harness ymt merchant-add)")
    if not mac_id or len(mac_id) > 64 or not all(c.isalnum() or c in "_:.-" for c in mac_id) or not mac_id.isascii():
        raise YmtError("macId must be 1–64 characters of A–Z, a–z, 0–9 and _:.- (表B.4 macId)")
    if public_key is not None:
        load_rsa_public(public_key)
    with store.transaction() as conn:
        for sql, params in device_statements(merchant_id, mac_id, public_key):
            conn.execute(sql, params)


# --- what a decode reads on every request: merchants, scanners, the up/down switch ----------------------------------------
class Merchant:
    """A merchant row with what the decode needs of it parsed once: service and code types, fields, the public key and
    (on first use) the unsealed AES reply key. ``merchant["column"]`` reads the row."""

    def __init__(self, store: Store, row: Any) -> None:
        self.store = store
        self.row = dict(row)
        self.service_types = frozenset(json.loads(self.row["service_types"]))
        self.qrcode_types: list[str] = json.loads(self.row["qrcode_types"])
        self.fields = frozenset(json.loads(self.row["fields"]))
        self.public_key = _public_or_none(self.row["public_key"])
        self._reply_key: bytes | None = None

    def __getitem__(self, name: str) -> Any:
        return self.row[name]

    @property
    def reply_key(self) -> bytes:
        if self._reply_key is None:
            self._reply_key = reply_key(self.store, self.row)
        return self._reply_key


class Device:
    """A scanner row with its own public key parsed once (None: it signs with its merchant's)."""

    def __init__(self, row: Any) -> None:
        self.row = dict(row)
        self.public_key = _public_or_none(self.row["public_key"]) if self.row["public_key"] else None

    def __getitem__(self, name: str) -> Any:
        return self.row[name]


def _public_or_none(pem: str) -> rsa.RSAPublicKey | None:
    try:
        return cached_rsa_public(pem)
    except YmtError:
        return None


class Enrolment:
    """Merchants, scanners, the up/down switch and the people codes name, as the decode reads them. ``cached``: kept in
    process memory while the store reports no change at all, as DUDU's device cache (harness/dudu/platform.py): a
    commit by another connection, worker or CLI moves the store's ``data_version`` (asked once per event-loop
    iteration); any state change through this handle calls ``Store.on_state_change``; each empties the cache, so a
    rotated key, a removed scanner, a changed person or the platform marked down takes effect with the next request.
    Seen requests and codes are never cached: their writes do not empty it."""

    SIZE = 20000  # entries of each table (enrolment; people); a table is emptied when full

    def __init__(self, store: Store, *, cached: bool = False) -> None:
        self.store = store
        self.cached = cached
        self._entries: dict[Any, Any] = {}
        self._people: dict[Any, Any] = {}  # kept apart: a crowd of people does not push the merchants out
        self._version = -1
        self._asked: int | None = None
        if cached:
            store.on_state_change(self.forget)

    def forget(self) -> None:
        self._entries.clear()
        self._people.clear()

    def _forget_asked(self) -> None:
        self._asked = None

    def _get(self, key: Any, load: Any, entries: dict[Any, Any] | None = None) -> Any:
        if not self.cached:
            return load()
        version = self._asked
        if version is None:
            version = self.store.data_version()
            try:
                asyncio.get_running_loop().call_soon(self._forget_asked)
                self._asked = version
            except RuntimeError:  # outside an event loop: asked every time
                pass
        if version != self._version:
            self.forget()
            self._version = version
        if entries is None:
            entries = self._entries
        try:
            return entries[key]
        except KeyError:
            pass
        value = load()
        if len(entries) >= self.SIZE:
            entries.clear()
        entries[key] = value
        return value

    def person(self, row: Any, masker: Any) -> OpenPerson:
        """The person whose columns ``row`` carries (a code row of rules.CODE_SQL), opened once (:class:`OpenPerson`).
        The key holds the stored (sealed) values themselves, so a changed row is never answered from an older entry,
        even before the store's change hooks have emptied the table."""
        key = (row["user_id"], row["name"], row["id_card"], row["veteran"], row["talent_level"])
        return self._get(key, lambda: OpenPerson(self.store, row, masker), self._people)

    def merchant(self, merchant_id: str) -> Merchant | None:
        def load() -> Merchant | None:
            row = self.store.query_one("SELECT * FROM ymt_merchants WHERE id = ?", (merchant_id,))
            return Merchant(self.store, row) if row is not None else None

        return self._get(("m", merchant_id), load)

    def device(self, merchant_id: str, mac_id: str) -> Device | None:
        def load() -> Device | None:
            row = self.store.query_one("SELECT * FROM ymt_devices WHERE merchant_id = ? AND mac_id = ?", (merchant_id, mac_id))
            return Device(row) if row is not None else None

        return self._get(("d", merchant_id, mac_id), load)

    def down(self) -> bool:
        return self._get(("down",), lambda: is_down(self.store))


class OpenPerson:
    """What a decode answers of a person, opened once: the name and ID number unsealed (process memory only; the store
    keeps them sealed), their concealed forms, the identity tags, and the keyed hashes the journal keeps in their place
    (harness.masking)."""

    __slots__ = ("conceal_card", "conceal_name", "id_card", "masked", "name", "tags")

    def __init__(self, store: Store, row: Any, masker: Any) -> None:
        user = user_row(store, row)
        self.name: str = user["name"]
        self.id_card: str = user["id_card"]
        self.conceal_name = crypto.conceal_name(self.name)
        self.conceal_card = crypto.conceal_card(self.id_card)
        self.tags = tags_for(user)
        self.masked = {"userName": masker.secret(self.name), "idCard": masker.secret(self.id_card)}


def remove_device(store: Store, merchant_id: str, mac_id: str) -> bool:
    """Withdraw a scanner's enrolment (its decodes are then refused PY2005); whether it was enrolled."""
    with store.transaction() as conn:
        return conn.execute("DELETE FROM ymt_devices WHERE merchant_id = ? AND mac_id = ?", (merchant_id, mac_id)).rowcount > 0


# --- up / down (001 §7.2.2) -----------------------------------------------------------------------------------------------
def set_down(store: Store, down: bool) -> None:
    store.execute(
        "INSERT INTO ymt_status (name, value, at) VALUES ('down', ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, at = excluded.at",
        ("1" if down else "0", now_iso()),
    )


def is_down(store: Store) -> bool:
    row = store.query_one("SELECT value FROM ymt_status WHERE name = 'down'")
    return row is not None and row["value"] == "1"


# --- a gate for the load test (loadtests/ymt_gate.py) ------------------------------------------------------------------
GATE_APP = "gate-app"


def gate_world(store: Store, out_dir: Any, *, devices: int, people: int, merchant_id: str | None = None) -> dict[str, Any]:
    """A merchant with ``devices`` scanners GATE-0001… and ``people`` people (with accessTokens of the app gate-app)
    for loadtests/ymt_gate.py; writes merchant.json, merchant-key.pem and people.json (the tokens) into ``out_dir``.
    One transaction for the store."""
    from pathlib import Path

    out = Path(out_dir)
    if (out / "merchant.json").exists():
        raise YmtError(f"{out / 'merchant.json'} exists: choose another --out")
    key = new_rsa_key()
    merchant_id = merchant_id or new_merchant_id(store)
    if store.query_one("SELECT 1 FROM ymt_merchants WHERE id = ?", (merchant_id,)) is not None:
        raise YmtError(f"merchant {merchant_id} already exists")
    aes_key = crypto.new_reply_key(crypto.AES_256_GCM)
    statements = merchant_statements(
        merchant_id,
        scene_name="gate",
        scene_type="一码出行",
        service_types=[DECODE_SERVICE],
        qrcode_types=["ymt"],
        fields=["concealName", "concealCard", "userName"],
        public_key=public_pem(key.public_key()),
        aes_profile=crypto.AES_256_GCM,
        aes_key=aes_key,
        store=store,
    )
    macs = [f"GATE-{n:04d}" for n in range(1, devices + 1)]
    for mac in macs:
        statements += device_statements(merchant_id, mac, None)
    if store.query_one("SELECT 1 FROM ymt_apps WHERE id = ?", (GATE_APP,)) is None:
        statements.append(("INSERT INTO ymt_apps (id, name, created) VALUES (?, ?, ?)", (GATE_APP, GATE_APP, now_iso())))
    tokens = []
    at = now()
    scope = ["concealName", "userName"]
    for n in range(people):
        day = dt.date(1990, 1, 1) + dt.timedelta(days=n // 1000)
        first17 = f"110105{day:%Y%m%d}{n % 1000:03d}"
        id_card = first17 + id_check_digit(first17)
        if store.query_one("SELECT 1 FROM ymt_users WHERE id_card_index = ?", (id_card_index(store, id_card),)) is not None:
            continue
        user_id, token = user_id_for(store, id_card), new_secret()
        statements += user_statements(store, user_id, f"乘客{n:05d}", id_card, None, False, None)
        statements += consent_statements(user_id, GATE_APP, scope)
        statements += token_statements(store, token, user_id, GATE_APP, scope, at)
        tokens.append(token)
    with store.transaction() as conn:
        for sql, params in statements:
            conn.execute(sql, params)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "merchantId": merchant_id,
        "aesProfile": crypto.AES_256_GCM,
        "aesKey": base64.b64encode(aes_key).decode("ascii"),
        "privateKeyFile": "merchant-key.pem",
        "devices": macs,
    }
    for name, data in (
        ("merchant-key.pem", private_pem(key)),
        ("merchant.json", json.dumps(config).encode()),
        ("people.json", json.dumps(tokens).encode()),
    ):
        fd = os.open(out / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    return {"merchantId": merchant_id, "devices": len(macs), "people": len(tokens), "dir": str(out)}
