"""DYM rules, each tied to the guide's section it serves (seed 004) and to the decision that designs it (D-DYM-…).

The gate (``DYM-APP-KNOWN`` → ``DYM-TIMESTAMP`` → ``DYM-SIGN`` → ``DYM-NONCE``) runs in ``authenticate`` before the
schema; the operation's rules then run in registration order and the first failure answers with its own code
(D-DYM-CODES). A rule reads what :class:`DymContext` loaded for the exchange; it never writes.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.dym import ids, signing
from harness.rules import STOP_AT_FIRST, Fail, RuleSet

RULES = RuleSet("dym", policy=STOP_AT_FIRST, code_kinds={"1001": "malformed"})
CODES = RULES.codes
rule = RULES.rule

ALL_OPS = (
    "driver_claim",
    "enterprise_claim",
    "vehicle_bind",
    "code_status",
    "violation_report",
    "violation_handle",
    "consent_grant",
    "consent_revoke",
    "scan_verify",
    "driver_lookup",
    "waybill_push",
    "waybill_accept",
    "waybill_status",
    "waybill_qr",
)
DRIVER_SIDE = ("vehicle_bind", "consent_grant", "consent_revoke", "waybill_accept")
DRIVER_OPS = (*DRIVER_SIDE, "code_status", "violation_report", "scan_verify", "driver_lookup", "waybill_push")
REGULATOR_OPS = ("violation_report", "violation_handle")


@dataclass
class DymContext:
    """What the rules of one exchange see, loaded once by the platform before they run."""

    operation: str
    now: float
    body: Any
    app: dict[str, Any] | None = None
    raw: bytes | str | None = None  # the body as sent (the gate: numbers' JSON text for the tolerant signature reading)
    driver: dict[str, Any] | None = None
    driver_code: str | None = None  # the code the request names (directly, by its QR, or by key fields)
    lookup_problem: str | None = None  # driver/lookup: why the key fields name no single driver
    consents: list[dict[str, Any]] = field(default_factory=list)  # the driver's live consents to the caller
    consent: dict[str, Any] | None = None  # consent/revoke: the consent named
    issue: dict[str, Any] | None = None  # violation/handle: the issue named
    grantee: dict[str, Any] | None = None  # consent/grant: the app consented to
    waybill: dict[str, Any] | None = None
    waybill_ref: tuple[str, str] | None = None  # waybill/accept: (app_id, waybill_no) of a valid QR
    qr_problem: str = ""
    claimed: bool = False  # driver/enterprise claim: the ID number or credit code already holds a code
    nonce_seen: bool = False  # the gate: the app used this nonce within NONCE_MEMORY seconds


def install(rules: RuleSet) -> RuleSet:
    return rules.extend(RULES)


# -- the gate (authenticate, before the schema) ------------------------------------------------------------------------


@rule(
    "DYM-APP-KNOWN",
    kind="certificate",
    code="2001",
    operations=ALL_OPS,
    clause="004 §一(二)3, 4 申请…接口 (app_id: D-DYM-SIGN)",
    title="app_id names a registered application",
)
def app_known(ctx: DymContext, body: Any) -> Iterator[Fail]:
    if not isinstance(ctx.body, dict) or not isinstance(ctx.body.get("app_id"), str):
        yield Fail("the body must be a JSON object naming its app_id", "app_id")
    elif ctx.app is None:
        yield Fail(f"app_id {ctx.body['app_id'][:40]!r} is not registered (harness dym enterprise-add)", "app_id")


@rule(
    "DYM-TIMESTAMP",
    kind="timestamp",
    code="2003",
    operations=ALL_OPS,
    clause="004 §一(二)3, 4 申请…接口; §二(二)2 注册申请接口开放对接 (the guide sets no time rule: D-DYM-TIMESTAMP, epoch seconds within ±300 s)",
    title="timestamp within ±300 s of the platform clock",
)
def timestamp_fresh(ctx: DymContext, body: Any) -> Iterator[Fail]:
    ts = ctx.body.get("timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool):
        yield Fail("timestamp must be an integer of epoch seconds", "timestamp")
    elif abs(ts - ctx.now) > signing.TIME_WINDOW:
        if abs(ts / 1000 - ctx.now) <= signing.TIME_WINDOW:  # the commonest slip: Date.now() / System.currentTimeMillis()
            yield Fail(f"timestamp {ts} looks like milliseconds; the timestamp is epoch seconds (D-DYM-TIMESTAMP)", "timestamp")
        else:
            yield Fail(f"timestamp {ts} is {int(ts - ctx.now)} s from the platform clock (±{signing.TIME_WINDOW} s allowed)", "timestamp")


@rule(
    "DYM-SIGN",
    kind="certificate",
    code="2002",
    operations=ALL_OPS,
    decision="D-DYM-SIGN",
    clause="004 §一(二)3, 4 申请…接口; §二(二)2 注册申请接口开放对接 (the guide names no signature: D-DYM-SIGN, HMAC-SHA256 over the ASCII-sorted k=v& signing string)",
    title="sign is the HMAC-SHA256 of the signing string under the app's secret",
)
def signature(ctx: DymContext, body: Any) -> Iterator[Fail]:
    sent = ctx.body.get("sign")
    if not isinstance(sent, str):
        yield Fail("sign is missing", "sign")
        return
    want = signing.sign(ctx.body, ctx.app["secret"])
    if hmac.compare_digest(sent.encode("utf-8", "replace"), want.encode()):
        return
    if hmac.compare_digest(sent.lower().encode("utf-8", "replace"), want.encode()):
        yield Fail("sign is uppercase hex; the design writes lowercase (it verifies)", "sign", level="SHOULD", decision="D-DYM-SIGN")
        return
    as_sent = signing.signing_string_as_sent(ctx.raw, ctx.body) if ctx.raw is not None else None
    if as_sent is not None and hmac.compare_digest(
        sent.lower().encode("utf-8", "replace"), signing.hmac_hex(as_sent, ctx.app["secret"]).encode()
    ):
        yield Fail(
            "sign verifies over the numbers' JSON text as sent; the design writes numbers in their RFC 8785 form "
            "(12500.0 and 1.25e4 as 12500, 12500.50 as 12500.5)",
            "sign",
            level="SHOULD",
            decision="D-DYM-SIGN",
        )
        return
    yield Fail("sign does not verify over the signing string (ASCII-sorted k=v&…, sign and empty values left out)", "sign")


@rule(
    "DYM-NONCE",
    kind="timestamp",
    code="2004",
    operations=ALL_OPS,
    clause="004 §一(二)3, 4 申请…接口; §二(二)2 注册申请接口开放对接 (the guide names no replay rule: D-DYM-NONCE, never reused within 600 s)",
    title="the app has not used this nonce within 600 s",
)
def nonce_fresh(ctx: DymContext, body: Any) -> Iterator[Fail]:
    nonce = ctx.body.get("nonce")
    if not isinstance(nonce, str) or not nonce:
        yield Fail("nonce is missing", "nonce")
    elif ctx.nonce_seen:
        yield Fail(f"nonce {nonce[:64]!r} was used by this app within the last {signing.NONCE_MEMORY} s", "nonce")


# -- the operations' rules (Platform.enforce, after the schema) --------------------------------------------------------


@rule(
    "DYM-CALLER-KIND",
    code="2005",
    operations=REGULATOR_OPS,
    decision="D-DYM-ISSUES",
    clause="004 §一(三) 行管部门规定时限 (D-DYM-ISSUES: the regulator reports and closes issues)",
    title="only a regulator app reports and closes issues",
)
def caller_kind(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.app is None or ctx.app["kind"] != "regulator":
        yield Fail(
            f"an app of kind {ctx.app['kind'] if ctx.app else '?'} may not {ctx.operation.replace('_', ' ')}: regulator only", "app_id"
        )


@rule(
    "DYM-ID-CHECK",
    code="1003",
    operations=("driver_claim", "driver_lookup"),
    decision="D-DYM-ID-CHECK",
    clause="004 §二(一) 步骤三 身份证号 (GB 11643 check digit: D-DYM-ID-CHECK)",
    title="the ID number has a valid GB 11643 check digit and birth date",
)
def id_check(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if "id_no" in body:
        problem = ids.id_problem(body["id_no"])
        if problem:
            yield Fail(problem, "id_no")


@rule(
    "DYM-USCC-CHECK",
    code="1004",
    operations=("enterprise_claim",),
    decision="D-DYM-USCC",
    clause="004 §一(二)1 物流企业…真实的基础信息 (GB 32100 check character: D-DYM-USCC)",
    title="the unified social credit code has a valid GB 32100 check character",
)
def uscc_check(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    problem = ids.uscc_problem(body["uscc"])
    if problem:
        yield Fail(problem, "uscc")


@rule(
    "DYM-CLAIM-UNIQUE",
    code="3002",
    operations=("driver_claim", "enterprise_claim"),
    decision="D-DYM-CODE-FORMAT",
    clause="004 §二(一); §一(二)1 申领 (one code per holder: D-DYM-CODE-FORMAT)",
    title="the ID number or credit code does not hold a code yet",
)
def claim_unique(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.claimed:
        what = "this ID number" if ctx.operation == "driver_claim" else "this unified social credit code"
        yield Fail(f"{what} already holds a 滇运码", "id_no" if ctx.operation == "driver_claim" else "uscc")


@rule(
    "DYM-CODE-QR",
    code="3004",
    operations=("scan_verify",),
    decision="D-DYM-CODE-FORMAT",
    clause="004 §二(二)1(1) 第一步 司机亮码 (DYM1:D:<driver_code>: D-DYM-CODE-FORMAT)",
    title="the scanned content is a driver code QR",
)
def code_qr(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.driver_code is None:
        yield Fail("qr_content is not a driver code QR (DYM1:D:DYMD + 16 hex digits)", "qr_content")


@rule(
    "DYM-DRIVER-KNOWN",
    code="3001",
    operations=DRIVER_OPS,
    clause="004 §二(一) 生成运力码 (driver_code names a claimed code: D-DYM-CODE-FORMAT)",
    title="the driver code (or the key fields) names a claimed code",
)
def driver_known(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.operation == "driver_lookup":
        if ctx.driver is None:
            key = next((f for f in ("id_no", "mobile", "plate") if f in body), "id_no")
            yield Fail(ctx.lookup_problem or "no driver holds a code under these key fields", key)
    elif ctx.driver_code is not None and ctx.driver is None:
        yield Fail(f"no 滇运码 {ctx.driver_code}", "driver_code")


@rule(
    "DYM-DRIVER-TOKEN",
    code="2006",
    operations=DRIVER_SIDE,
    decision="D-DYM-DRIVER-TOKEN",
    clause="004 §二(二)2(2) 获得司机授权 (the driver's own token: D-DYM-DRIVER-TOKEN)",
    title="driver-side acts carry the driver's token",
)
def driver_token(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.driver is not None and not hmac.compare_digest(signing.token_hash(body["driver_token"]), ctx.driver["token_hash"]):
        yield Fail("driver_token is not this driver's", "driver_token")


@rule(
    "DYM-GRANTEE-KNOWN",
    code="1005",
    operations=("consent_grant",),
    decision="D-DYM-CONSENT",
    clause="004 §二(二)2(2) 获得司机授权 (grantee: a registered app, D-DYM-CONSENT)",
    title="the grantee is a registered application",
)
def grantee_known(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.grantee is None:
        yield Fail(f"grantee {body['grantee']} is not a registered app", "grantee")


@rule(
    "DYM-CONSENT-KNOWN",
    code="3007",
    operations=("consent_revoke",),
    decision="D-DYM-CONSENT",
    clause="004 §二(二)2(2) 司机授权 (revocation: D-DYM-CONSENT)",
    title="the consent revoked is a live consent of this driver",
)
def consent_known(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.consent is None:
        yield Fail(f"{body['consent_id']} is not a consent of this driver", "consent_id")
    elif ctx.consent["revoked"] is not None:
        yield Fail(f"{body['consent_id']} is already revoked", "consent_id")


@rule(
    "DYM-CONSENT",
    code="3003",
    operations=("scan_verify",),
    decision="D-DYM-CONSENT",
    clause="004 §二(二)1(1) 扫码验证; §二(二)2(2) 获得司机授权 (D-DYM-CONSENT)",
    title="an unexpired, unrevoked consent of the driver to the caller covers every item asked",
)
def consent_covers(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.driver is None:
        return
    covered = {item for c in ctx.consents for item in c["scope"]}
    missing = [f for f in body["fields"] if f not in covered]
    if not ctx.consents:
        yield Fail("the driver has not consented to this app (or the consent expired or was revoked)", "fields")
    elif missing:
        yield Fail(f"the driver's consent does not cover {', '.join(missing)}", "fields")


@rule(
    "DYM-CAPACITY-CODE",
    code="3005",
    operations=("driver_lookup",),
    decision="D-DYM-CAPACITY-CODE",
    clause="004 §二(二)2(1) 运力验证码核验 (D-DYM-CAPACITY-CODE)",
    title="the capacity verification code is the driver's current one",
)
def capacity(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.driver is not None and not signing.capacity_code_ok(ctx.driver["token_hash"], body["capacity_code"], ctx.now):
        yield Fail("capacity_code is not the driver's current capacity verification code", "capacity_code")


@rule(
    "DYM-ISSUE-OPEN",
    code="3006",
    operations=("violation_handle",),
    decision="D-DYM-ISSUES",
    clause="004 §一(三) 需要处理 (D-DYM-ISSUES)",
    title="the issue handled exists and is open",
)
def issue_open(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.issue is None:
        yield Fail(f"no issue {body['issue_id']}", "issue_id")
    elif ctx.issue["handled"] is not None:
        yield Fail(f"issue {body['issue_id']} is already handled", "issue_id")


@rule(
    "DYM-WAYBILL-KIND-DRIVER",
    code="1005",
    operations=("waybill_push",),
    decision="D-DYM-WAYBILL",
    clause="004 §二(二)1(2) 专属运单; 1(3) 公共运单 (D-DYM-WAYBILL)",
    title="an exclusive waybill names its driver, a public one none",
)
def kind_driver(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    named = bool(body.get("driver_code"))  # "" is no driver (D-DYM-WAYBILL, tolerant)
    if body["kind"] == "exclusive" and not named:
        yield Fail("an exclusive waybill (专属运单) names its driver_code", "driver_code")
    elif body["kind"] == "public" and named:
        yield Fail("a public waybill (公共运单) names no driver: the first driver to accept it gets it", "driver_code")


@rule(
    "DYM-WAYBILL-UNIQUE",
    code="4002",
    operations=("waybill_push",),
    decision="D-DYM-WAYBILL",
    clause="004 §二(二)1(2) 运单任务推送 (a waybill number once per app: D-DYM-WAYBILL)",
    title="the app has not pushed this waybill number before",
)
def waybill_unique(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.waybill is not None:
        yield Fail(f"waybill {body['waybill_no']} was already pushed", "waybill_no")


@rule(
    "DYM-WAYBILL-KNOWN",
    code="4001",
    operations=("waybill_status", "waybill_qr"),
    decision="D-DYM-WAYBILL",
    clause="004 §二(二)1(2) 第四步 查看后续运单状态 (D-DYM-WAYBILL)",
    title="the waybill is one this app pushed",
)
def waybill_known(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.waybill is None:
        yield Fail(f"this app pushed no waybill {body['waybill_no']}", "waybill_no")


@rule(
    "DYM-WAYBILL-QR",
    code="4003",
    operations=("waybill_accept",),
    decision="D-DYM-WAYBILL-QR",
    clause="004 §二(二)1(4) 扫描运单二维码 (D-DYM-WAYBILL-QR)",
    title="the scanned content is a valid, unexpired waybill QR of a pushed waybill",
)
def waybill_qr_valid(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.waybill_ref is None:
        yield Fail(ctx.qr_problem, "qr_content")
    elif ctx.waybill is None:
        yield Fail("the waybill QR names no pushed waybill", "qr_content")


@rule(
    "DYM-WAYBILL-STATE",
    code="4004",
    operations=("waybill_accept", "waybill_qr"),
    decision="D-DYM-WAYBILL",
    clause="004 §二(二)1(2) 第二步 查看或接单 (pushed → accepted: D-DYM-WAYBILL)",
    title="the waybill is open for acceptance",
)
def waybill_state(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    if ctx.waybill is not None and ctx.waybill["status"] != "pushed":
        yield Fail(
            f"the waybill is {ctx.waybill['status']}, no longer open for acceptance", "qr_content" if "qr_content" in body else "waybill_no"
        )


@rule(
    "DYM-WAYBILL-DRIVER",
    code="4005",
    operations=("waybill_accept",),
    decision="D-DYM-WAYBILL",
    clause="004 §二(二)1(2) 专属运单 (only its driver accepts it: D-DYM-WAYBILL)",
    title="an exclusive waybill is accepted by its assigned driver",
)
def waybill_driver(ctx: DymContext, body: dict[str, Any]) -> Iterator[Fail]:
    w = ctx.waybill
    if w is not None and w["kind"] == "exclusive" and w["driver_code"] != body["driver_code"]:
        yield Fail("this exclusive waybill (专属运单) is assigned to another driver", "driver_code")
