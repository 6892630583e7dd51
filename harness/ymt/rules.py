"""YMT rules, each tied to its clause in seed 001 or to the decision (specs/decisions.yaml) that fills the seed's gap.

The first failing rule answers with its own code (``code=``, x-return-codes of specs/ymt/platform.yaml; the codes are
harness-defined pending the seed's missing 附录C, D-YMT-CODES). Rules of one operation run in registration order; for
B.4 that is the documented order: platform up → merchant and device (PY2004, PY2005) → time (PY2002) → signature
(PY2001) → replay (PY2003) → the code (PY3xxx). Schema refusals (PY1xxx) come before every rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness import masking
from harness.errors import PlatformError, Violation
from harness.platform import ErrorKind, current_exchange
from harness.rules import STOP_AT_FIRST, Fail, RuleSet
from harness.store import Store
from harness.ymt import admin, crypto

RULES = RuleSet("ymt", policy=STOP_AT_FIRST, code_kinds={"PY1003": "malformed"})
rule = RULES.rule

DECODE = ("decode_qrcode",)
CHANNEL_CODES = ("generate_qrcode", "channel_qrcode")
TOKEN_OPS = ("generate_qrcode", "user_tags", "channel_qrcode", "emergency_code")
# While the platform is marked down (harness ymt down) these answer PY9002; the emergency code, the trust list and the
# enrolment interfaces stay up: they are what a scanner and an app need to work offline (001 §7.2.2).
UP_OPS = ("generate_qrcode", "user_tags", "channel_qrcode", "decode_qrcode", "exchange_authorisation_code", "realname", "consent")
REPLAY_PURGE_SECONDS = 60


def install(rules: RuleSet) -> RuleSet:
    return rules.extend(RULES)


@dataclass
class YmtContext:
    """What the rules of one exchange see: the store, the platform's keys, the clock, and what earlier rules found."""

    store: Store
    operation: str
    now: float
    down: bool = False
    merchant: Any = None
    device: Any = None
    # The platform's cache of merchants and scanners (YmtPlatform.enrolment): rows and parsed keys; None reads the store.
    enrolment: Any = None
    code: Any = None
    token: Any = None
    user: Any = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def moment(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now, dt.UTC)


def code_value(body: dict[str, Any]) -> str:
    """The scanned code: qrcod, or qrcode under the tolerant reading (D-YMT-QRCOD)."""
    return str(body.get("qrcod") or body.get("qrcode") or "")


# --- the platform is up ------------------------------------------------------------------------------------------------
@rule(
    "YMT-UP",
    code="PY9002",
    operations=UP_OPS,
    decision="D-YMT-EMERGENCY",
    clause="001 §7.2.2 在突发状况下可提供应急码; §3 应急码 (PY9002, D-YMT-CODES)",
    title="the platform is up (while it is down, scanners fall back to the emergency code)",
)
def platform_up(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.down:
        yield Fail("the platform is marked down (harness ymt up brings it back): verify the emergency code offline")


# --- who is calling ------------------------------------------------------------------------------------------------------
@rule(
    "YMT-APP",
    code="PY2008",
    operations=("exchange_authorisation_code", "realname", "consent"),
    decision="D-YMT-FLOW",
    clause="001 表B.5 appId 应用唯一标(识) (PY2008, D-YMT-CODES)",
    title="appId names a registered channel app",
)
def app_known(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.store.query_one("SELECT 1 FROM ymt_apps WHERE id = ?", (body["appId"],)) is None:
        yield Fail(f"no channel app {body['appId']} (harness ymt app-add)", "appId")


@rule(
    "YMT-MERCHANT",
    code="PY2004",
    operations=("decode_qrcode", "register_device", "trust_list"),
    decision="D-YMT-ENROL",
    clause="001 表B.4 merchantId 商户id; §8.1.1 备案登记 (PY2004)",
    title="merchantId names a registered merchant whose registration covers the service type",
)
def merchant_known(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    lookup = ctx.enrolment or admin.Enrolment(ctx.store)
    ctx.merchant = lookup.merchant(str(body["merchantId"]))
    if ctx.merchant is None:
        yield Fail(f"no merchant {body['merchantId']} (POST /merchant/register or harness ymt merchant-add)", "merchantId")
    elif ctx.operation == "decode_qrcode" and admin.DECODE_SERVICE not in ctx.merchant.service_types:
        yield Fail(f"merchant {body['merchantId']} did not register service type 20000 (二维码解码, 001 §9.2 表1)", "merchantId")


@rule(
    "YMT-DEVICE",
    code="PY2005",
    operations=DECODE,
    decision="D-YMT-ENROL",
    clause="001 表B.4 macId 设备编号; §8.1.2 硬件设备 (PY2005)",
    title="macId names a scanner enrolled under the merchant",
)
def device_known(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    ctx.device = (ctx.enrolment or admin.Enrolment(ctx.store)).device(str(body["merchantId"]), str(body["macId"]))
    if ctx.device is None:
        yield Fail(f"scanner {body['macId']} is not enrolled under merchant {body['merchantId']} (harness ymt device-add)", "macId")


# --- the signed request (D-YMT-TIME-WINDOW, D-YMT-SIGN) -------------------------------------------------------------------
@rule(
    "YMT-TIME",
    code="PY2002",
    operations=DECODE,
    decision="D-YMT-TIME-WINDOW",
    clause="001 表B.4 time 时间字符串yyyyMMssHHmmss; D-YMT-TIME, D-YMT-TIME-WINDOW (±300 s, PY2002)",
    title="time is yyyyMMddHHmmss Beijing time within ±300 s of the platform clock",
)
def time_fresh(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    try:
        crypto.check_time_at(str(body["time"]), ctx.now)  # crypto.check_time against ctx.moment, without datetimes
    except crypto.TimeWindowError as exc:
        literal = crypto.literal_pattern_reading(str(body["time"]), dt.datetime.fromtimestamp(ctx.now, dt.UTC))
        yield Fail(literal or str(exc), "time")


@rule(
    "YMT-SIGN",
    code="PY2001",
    operations=DECODE,
    decision="D-YMT-SIGN",
    clause="001 表B.4 sign RSA签名; D-YMT-SIGN (SHA256withRSA over the signing string, PY2001)",
    title="sign is SHA256withRSA over the signing string, by the device's key or else the merchant's",
)
def signature_valid(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    own = ctx.device is not None and ctx.device.public_key is not None
    key = ctx.device.public_key if own else ctx.merchant.public_key  # parsed once, when the row was cached
    whose = "the scanner's" if own else "the merchant's"
    if key is None:
        yield Fail(f"{whose} registered publicKey is not a usable RSA public key: register it again", "sign")
        return
    try:
        crypto.verify_request(body, key)
        return
    except crypto.SignatureError as exc:
        strict_reason = str(exc)
    try:
        crypto.verify_request(body, key, tolerant=True)
    except crypto.SignatureError:
        string = crypto.signing_string(body)
        yield Fail(f"{strict_reason} with {whose} registered key (signing string {string!r})", "sign")
        return
    yield Fail(
        "sign verifies only as hex, URL-safe or unpadded base64; the strict reading is standard padded base64",
        "sign",
        level="SHOULD",
        decision="D-YMT-SIGN",
    )


@rule(
    "YMT-REPLAY",
    code="PY2003",
    operations=DECODE,
    decision="D-YMT-TIME-WINDOW",
    clause="001 表B.4 time, sign; D-YMT-TIME-WINDOW (the same signed request twice, PY2003)",
    title="a signed decode request is used once",
)
def not_replayed(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    """A request seen before (committed) is refused here, in the documented order. A first one is *claimed* on the
    exchange's unit of work: the row is inserted with the journal row, in the group commit, and the table's PRIMARY KEY
    decides there between two exchanges racing with one signed request (the same process or two workers): the one
    whose claim adds no row is answered PY2003 by this rule's refusal and journaled so (harness.unit_of_work). A
    refused exchange records nothing: the same refusal can be had again, and a success only once."""
    key = (str(body["merchantId"]), str(body["macId"]), str(body["time"]), hashlib.sha256(str(body["sign"]).encode("utf-8")).hexdigest())
    # One statement asks both this rule's question and YMT-CODE's (the code with its person), which comes next.
    value = code_value(body)
    signed = admin.code_value_signed(admin.platform_keys(ctx.store).code_key, value)  # a forged value: no look-up
    row = ctx.store.query_one(LOOKUP_SQL, (*key, value if signed else None))
    if row["seen"] is not None:
        yield Fail(REPLAY_MESSAGE, "sign")
        return
    ctx.facts[LOOKED_UP] = row if row["value"] is not None and row["user_id_found"] is not None else None
    exchange = current_exchange.get()
    if exchange is None:  # outside an exchange (a direct call): the synchronous write decides
        with ctx.store.transaction(changes_state=False) as conn:
            inserted = conn.execute(CLAIM_SQL, (*key, ctx.now)).rowcount
        if not inserted:
            yield Fail(REPLAY_MESSAGE, "sign")
        return
    exchange.exchange.work.claim(CLAIM_SQL, (*key, ctx.now), replay_refusal)  # no cache holds the table
    last = _purged.get(str(ctx.store.path), 0.0)
    if ctx.now - last > REPLAY_PURGE_SECONDS:
        _purged[str(ctx.store.path)] = ctx.now
        exchange.exchange.work.write(PURGE_SQL, (ctx.now - 2 * crypto.TIME_WINDOW_SECONDS,), cached=True)


SEEN_SQL = "SELECT 1 FROM ymt_seen_requests WHERE merchant_id = ? AND mac_id = ? AND time = ? AND sign_sha256 = ?"
CLAIM_SQL = (
    "INSERT INTO ymt_seen_requests (merchant_id, mac_id, time, sign_sha256, at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (time, merchant_id, mac_id, sign_sha256) DO NOTHING"  # the table's key (harness/ymt/state.py step 3)
)
PURGE_SQL = "DELETE FROM ymt_seen_requests WHERE at < ?"
REPLAY_MESSAGE = "this signed request was already received inside the time window: sign a retry afresh with a new time"
_REPLAY_RULE = RULES.get("YMT-REPLAY")


def replay_refusal() -> PlatformError:
    """What a decode whose claim was lost at commit is answered: the rule's own refusal (PY2003)."""
    violation = Violation(_REPLAY_RULE.id, _REPLAY_RULE.clause, REPLAY_MESSAGE, "sign")
    return PlatformError(ErrorKind.FAILED, [violation], code=RULES.codes[_REPLAY_RULE.id])


_purged: dict[str, float] = {}


CODE_SQL = (  # the code with the person it names (their columns as admin.user_row reads them)
    "SELECT c.value, c.user_id, c.qrcode_type, c.scope, c.expires, c.revoked,"
    " u.name, u.id_card, u.veteran, u.talent_level FROM ymt_codes c JOIN ymt_users u ON u.id = c.user_id WHERE c.value = ?"
)
# What a decode reads, one statement: whether the signed request was seen (YMT-REPLAY) and CODE_SQL's row (YMT-CODE),
# always one row (its code columns NULL when there is no such code or person: the inner join of CODE_SQL).
LOOKUP_SQL = (
    "SELECT (" + SEEN_SQL + ") AS seen, c.value, c.user_id, c.qrcode_type, c.scope, c.expires, c.revoked,"
    " u.name, u.id_card, u.veteran, u.talent_level, u.id AS user_id_found"
    " FROM (SELECT 1 AS one) AS here LEFT JOIN ymt_codes c ON c.value = ? LEFT JOIN ymt_users u ON u.id = c.user_id"
)
LOOKED_UP = "ymt-code-row"  # YmtContext.facts key: the code row YMT-REPLAY's statement found (None: none)


# --- the code -------------------------------------------------------------------------------------------------------------
@rule(
    "YMT-CODE",
    code="PY3001",
    operations=DECODE,
    decision="D-YMT-QR-VALUE",
    clause="001 表B.4 qrcod 二维码值; §8.3.1 识别由一码通平台生成的简码; D-YMT-QR-VALUE (PY3001)",
    title="the scanned code is one this platform issued",
)
def code_issued(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    if LOOKED_UP in ctx.facts:  # read with the seen-request look-up (YMT-REPLAY)
        row = ctx.facts[LOOKED_UP]
    else:
        value = code_value(body)
        keys = admin.platform_keys(ctx.store)
        row = ctx.store.query_one(CODE_SQL, (value,)) if admin.code_value_signed(keys.code_key, value) else None
    if row is None:
        yield Fail("not a code this platform issued (send the QR content unchanged as qrcod)", "qrcod")
        return
    ctx.code = row


@rule(
    "YMT-CODE-EXPIRED",
    code="PY3002",
    operations=DECODE,
    decision="D-YMT-QR-VALUE",
    clause="001 表B.4 qrcod; D-YMT-QR-VALUE (a code lives 60 s, PY3002)",
    title="the scanned code has not expired",
)
def code_fresh(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.now >= ctx.code["expires"]:
        yield Fail(f"the code expired {int(ctx.now - ctx.code['expires'])} s ago (codes live {admin.CODE_TTL} s)", "qrcod")


@rule(
    "YMT-CODE-REVOKED",
    code="PY3003",
    operations=DECODE,
    decision="D-YMT-QR-VALUE",
    clause="001 表B.4 qrcod; D-YMT-QR-VALUE (a newer code revokes the previous one, PY3003)",
    title="the scanned code was not revoked",
)
def code_current(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.code["revoked"]:
        yield Fail("the code was revoked: the person has made a newer one", "qrcod")


@rule(
    "YMT-SCENE-TYPE",
    code="PY3004",
    operations=DECODE,
    decision="D-YMT-ENROL",
    clause="001 §8.1.1 获取二维码使用类型 (PY3004)",
    title="the merchant registered the code's type",
)
def scene_type(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    types = ctx.merchant.qrcode_types
    if ctx.code["qrcode_type"] not in types:
        yield Fail(f"the code is of type {ctx.code['qrcode_type']}; merchant {body['merchantId']} registered {types}", "qrcod")


# --- channel tokens and consent ----------------------------------------------------------------------------------------------
@rule(
    "YMT-TOKEN",
    code="PY2006",
    operations=TOKEN_OPS,
    decision="D-YMT-AUTH",
    clause="001 表B.1/B.2/B.3 accessToken 用户授权后的渠道令牌; D-YMT-AUTH (PY2006)",
    title="accessToken was issued by B.5, has not expired and was not revoked",
)
def token_valid(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    row = ctx.store.query_one("SELECT * FROM ymt_tokens WHERE token_hash = ?", (masking.hide(ctx.store, str(body["accessToken"])),))
    if row is None:
        yield Fail("accessToken was not issued by this platform (B.5 /oauth/token)", "accessToken")
    elif row["revoked"]:
        yield Fail("accessToken was revoked (its authorisation code was presented twice, D-YMT-AUTH)", "accessToken")
    elif ctx.now >= row["expires"]:
        yield Fail("accessToken has expired: exchange a new authorisation code", "accessToken")
    else:
        ctx.token = row
        ctx.user = admin.find_user(ctx.store, row["user_id"])


@rule(
    "YMT-CONSENT",
    code="PY3005",
    operations=("channel_qrcode",),
    decision="D-YMT-FLOW",
    clause="001 §7.1.2 个人信息授权; 表B.3 userName, idCard (PY3005)",
    title="the person consented to the data the interface returns",
)
def consented(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    missing = sorted({"userName", "idCard"} - set(json.loads(ctx.token["scope"])))
    if missing:
        yield Fail(f"B.3 returns the full name and ID number; the person did not consent to {missing}", "accessToken")


@rule(
    "YMT-AUTH-CODE",
    code="PY2007",
    operations=("exchange_authorisation_code",),
    decision="D-YMT-AUTH",
    clause="001 表B.5 code 第三方授权code; D-YMT-AUTH (single use, 300 s, bound to the appId; PY2007)",
    title="the authorisation code is known, unexpired, of this appId, and exchanged once",
)
def authorisation_code(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    code_hash = masking.hide(ctx.store, str(body["code"]))
    row = ctx.store.query_one("SELECT * FROM ymt_auth_codes WHERE code_hash = ?", (code_hash,))
    if row is None:
        yield Fail("the authorisation code was not issued by this platform (POST /user/consent)", "code")
        return
    if row["app_id"] != body["appId"]:
        yield Fail(f"the authorisation code was issued to another app, not {body['appId']}", "code")
        return
    if row["used_at"] is None and ctx.now >= row["expires"]:
        yield Fail(f"the authorisation code expired (codes live {admin.AUTH_CODE_TTL} s)", "code")
        return
    token = admin.new_secret()
    # A synchronous transaction: of two exchanges racing with one code, exactly one claims it; a second presentation
    # revokes what the first issued (D-YMT-AUTH, as RFC 6749 §4.1.2), which must stick although the exchange is refused.
    with ctx.store.transaction(changes_state=False) as conn:
        claimed = conn.execute(
            "UPDATE ymt_auth_codes SET used_at = ?, token_hash = ? WHERE code_hash = ? AND used_at IS NULL",
            (ctx.now, masking.hide(ctx.store, token), code_hash),
        ).rowcount
        if claimed:
            for sql, params in admin.token_statements(ctx.store, token, row["user_id"], row["app_id"], json.loads(row["scope"]), ctx.now):
                conn.execute(sql, params)
        else:
            conn.execute(
                "UPDATE ymt_tokens SET revoked = 1 WHERE token_hash = (SELECT token_hash FROM ymt_auth_codes WHERE code_hash = ?)",
                (code_hash,),
            )
    if not claimed:
        yield Fail("the authorisation code was already exchanged; the accessToken it issued is now revoked", "code")
        return
    ctx.facts["token"] = token
    ctx.facts["scope"] = json.loads(row["scope"])


# --- the flows (D-YMT-FLOW) --------------------------------------------------------------------------------------------------
@rule(
    "YMT-IDCARD",
    code="PY1003",
    operations=("realname",),
    decision="D-YMT-FLOW",
    clause="001 §6 a) 证件号码; §7.1.1 实名认证 (GB 11643 check digit, PY1003)",
    title="the ID number's GB 11643 check digit is right",
)
def id_card_valid(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    if not admin.id_card_valid(str(body["idCard"])):
        yield Fail("the ID number's check digit is wrong (GB 11643)", "idCard")


@rule(
    "YMT-REALNAME",
    code="PY3006",
    operations=("realname", "consent"),
    decision="D-YMT-FLOW",
    clause="001 §7.1.1 所有使用一码通服务的用户,需要通过应用软件进行实名认证 (PY3006)",
    title="the person passed the real-name check",
)
def realname(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.operation == "consent":
        ctx.user = admin.find_user(ctx.store, str(body["userId"]))
        if ctx.user is None:
            yield Fail(f"no person {body['userId']} passed the real-name check (POST /user/realname)", "userId")
        return
    ctx.user = admin.find_user_by_card(ctx.store, str(body["idCard"]))  # through the blind index: the number is sealed
    if ctx.user is not None and ctx.user["name"] != body["name"]:
        yield Fail("the name does not match the one registered for this ID number", "name")


# --- enrolment (D-YMT-ENROL) ---------------------------------------------------------------------------------------------------
@rule(
    "YMT-MERCHANT-KEY",
    code="PY1003",
    operations=("register_merchant",),
    decision="D-YMT-SIGN",
    clause="001 表B.4 sign RSA签名; D-YMT-SIGN (an RSA public key of at least 2048 bits, PY1003)",
    title="publicKey is a PEM RSA public key of at least 2048 bits",
)
def merchant_key(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    try:
        admin.load_rsa_public(str(body["publicKey"]))
    except admin.YmtError as exc:
        yield Fail(str(exc), "publicKey")


@rule(
    "YMT-DEVICE-KEY",
    code="PY1003",
    operations=("register_device",),
    decision="D-YMT-ENROL",
    clause="D-YMT-ENROL (a scanner's own key: PEM RSA of at least 2048 bits, PY1003)",
    title="a scanner's publicKey, when given, is a PEM RSA public key of at least 2048 bits",
)
def device_key(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    if body.get("publicKey"):
        try:
            admin.load_rsa_public(str(body["publicKey"]))
        except admin.YmtError as exc:
            yield Fail(str(exc), "publicKey")


@rule(
    "YMT-AES-STRONG",
    kind="advisory",
    operations=("decode_qrcode", "register_merchant"),
    decision="D-YMT-AES",
    clause="001 表B.4 response AES加密; D-YMT-AES (AES-128-CBC with a zero IV and AES-128-ECB are weak)",
    title="the merchant's reply profile is AES-256-GCM, not a weak legacy profile",
)
def aes_strong(ctx: YmtContext, body: dict[str, Any]) -> Iterator[Fail]:
    profile = ctx.merchant["aes_profile"] if ctx.merchant is not None else body.get("aesProfile", crypto.AES_256_GCM)
    if profile in crypto.WEAK_PROFILES:
        yield Fail(f"{profile} is weak: equal answers give equal cipher texts and nothing authenticates them", "aesProfile")
