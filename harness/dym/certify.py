"""Certify role ``dym-enterprise-client --app-id ID``: a logistics enterprise's client (TMS) of /dym, graded from the
journal of one certification session (or ``--since``).

The harness served the vendor's calls (``harness serve``, /dym) and journaled each with its request (personal data and
tokens as keyed hashes), its reply and the verdict of every rule the reference evaluated. This role reads the calls the
app signed, and the driver-side calls about it (consents granted to it, acceptances of its waybills' QR codes), and
grades:

* DYM-EC-VERIFIES  drivers verified through the interface the enterprise applied for: at least one answered driver
                   lookup with the capacity code or scan under consent (004 §一(二)4(1); §二(二)2(1), 2(2));
* DYM-EC-SIGNED    every call signed and fresh: a registered app, sign verifies, timestamp within ±300 s, nonce never
                   reused (D-DYM-SIGN, D-DYM-TIMESTAMP, D-DYM-NONCE); uppercase hex is a WARNING (a SHOULD verdict);
* DYM-EC-CONSENT   every verification made under the driver's consent covering the items asked (004 §二(二)2(2)
                   获得司机授权; D-DYM-CONSENT): a scan refused 3003 is a verification attempted without consent;
* DYM-EC-MINIMAL   no personal data asked beyond need (SHOULD): a driver lookup by one key field, a consent scope no
                   wider than the items the app then verified;
* DYM-EC-WAYBILL   the waybill lifecycle legal: push → accept → status; a waybill number pushed once, no status or QR of
                   a waybill not pushed, no QR refresh after acceptance (the final state), and every waybill code the app
                   shared accepted as issued (004 §二(二)1(2)–(4), 2(6); D-DYM-WAYBILL, D-DYM-WAYBILL-QR);
* DYM-EC-CALLS     every other verdict of the app's calls, by its level: a failed MUST verdict fails naming its clause,
                   a failed SHOULD verdict is a WARNING naming its decision; a refusal no rule explains fails;
* DYM-EC-OUTCOMES  (REVIEW) verifications refused for what the person presented (a capacity code typed wrong, a QR
                   that is no driver code: the platform's check worked, the TMS did nothing wrong) and consents granted
                   through the app's own SDK, for a person to judge.

``run(seed)`` yields the engine's events (harness.conformance.model).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness import faults
from harness.conformance.engine import CheckSet, failed, passed, review, skipped
from harness.conformance.findings import Finding, call_evidence, capped, journal_url, verdict_finding
from harness.conformance.model import Event, Evidence
from harness.conformance.roles import SINCE_OPTION, CommonOptions, RoleOption, grade_journal, open_subject_store
from harness.conformance.sessions import Window
from harness.journal import Journal
from harness.store import Store

GATE_RULES = frozenset({"DYM-APP-KNOWN", "DYM-TIMESTAMP", "DYM-SIGN", "DYM-NONCE"})
GATE_FIELDS = frozenset({"app_id", "timestamp", "nonce", "sign"})  # a SCHEMA verdict on these is the gate's concern
CONSENT_RULES = frozenset({"DYM-CONSENT"})
# Refusals for what the person presented (a capacity code typed wrong, a QR that is no driver code): the platform's
# check worked; whether the TMS told the dispatcher is for a person to judge (DYM-EC-OUTCOMES), not a fault of the TMS.
OUTCOME_RULES = frozenset({"DYM-CAPACITY-CODE", "DYM-CODE-QR"})
VERIFY_OPS = ("driver_lookup", "scan_verify")
WAYBILL_RULES = frozenset({"DYM-WAYBILL-KIND-DRIVER", "DYM-WAYBILL-UNIQUE", "DYM-WAYBILL-KNOWN", "DYM-WAYBILL-STATE", "DYM-WAYBILL-QR"})
WAYBILL_OPS = ("waybill_push", "waybill_status", "waybill_qr")
LOOKUP_KEYS = ("id_no", "mobile", "plate")
SPEC_FILES = ("dym/platform.yaml", "dym/requirements.yaml", "decisions.yaml")
SECRET_FIELDS = frozenset({"secret", "driver_token", "sign"})
# Plates identify a driver (the ledger commits them, D-DYM-LEDGER); the journal keeps them, a report does not.
PERSONAL_FIELDS = frozenset({"plate", "trailer_plate", "plates"})

CHECKS = CheckSet()


@dataclass
class Call:
    id: int
    at: float
    operation: str
    body: dict[str, Any]
    reply: dict[str, Any]
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""  # as sent, session prefix included (journal_url)

    @property
    def ok(self) -> bool:
        return self.reply.get("code") == "0"

    @property
    def code(self) -> str:
        return str(self.reply.get("code"))

    def failing(self, rules: frozenset[str] | None = None) -> list[dict[str, Any]]:
        return [v for v in self.verdicts if not v.get("held") and (rules is None or _topic(v) in rules)]

    def held(self, rule: str) -> bool:
        return any(v.get("rule") == rule and v.get("held") for v in self.verdicts)

    def evidence(self, note: str = "") -> Evidence:
        return call_evidence(
            self.id, self.operation, self.url or self.operation, self.body, self.reply, note, hidden=SECRET_FIELDS, when_set=PERSONAL_FIELDS
        )


def _topic(verdict: dict[str, Any]) -> str:
    """The rule a verdict is graded under: its own, or DYM-SIGN for a schema verdict on a gate field (sign's pattern)."""
    rule = str(verdict.get("rule"))
    fld = str(verdict.get("field") or "").removeprefix("body.")
    if rule == "SCHEMA" and fld in GATE_FIELDS:
        return (
            "DYM-SIGN" if fld == "sign" else "DYM-TIMESTAMP" if fld == "timestamp" else "DYM-NONCE" if fld == "nonce" else "DYM-APP-KNOWN"
        )
    return rule


def waybill_of_qr(content: Any) -> tuple[str, str] | None:
    """(app_id, waybill_no) a waybill QR names (D-DYM-WAYBILL-QR), read without its key: the platform judged the tag."""
    parts = content.split(".") if isinstance(content, str) else []
    return (parts[1], parts[2]) if len(parts) == 5 and parts[0] == "DYMW1" else None


@dataclass
class Traffic:
    """One app's calls and the driver-side calls about it, oldest first."""

    app_id: str
    calls: list[Call] = field(default_factory=list)  # signed by the app (or naming it as app_id)
    grants: list[Call] = field(default_factory=list)  # consent_grant to the app, by any app
    accepts: list[Call] = field(default_factory=list)  # waybill_accept of a QR naming the app's waybill, by any app

    def of(self, *operations: str) -> list[Call]:
        return [c for c in self.calls if c.operation in operations]


def load_traffic(store: Store, app_id: str, window: Window | None = None) -> Traffic:
    window = window or Window()
    traffic = Traffic(app_id)
    for entry in Journal(store).query(platform="dym", where=window.sql(), limit=None, ascending=True):
        if not faults.answered_by_platform(entry):  # a drill fault answered it, not the platform (docs/faults.md)
            continue
        try:
            body = json.loads(entry["request_body"] or "null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(entry["reply"], dict):
            continue
        at = dt.datetime.fromisoformat(entry["at"]).timestamp()
        call = Call(entry["id"], at, entry["operation"] or "", body, entry["reply"], entry["verdicts"], journal_url(entry))
        if body.get("app_id") == app_id:
            traffic.calls.append(call)
        # The driver's acts about the app, through the driver's own app or the app's own SDK (its calls too, then).
        if call.operation == "consent_grant" and body.get("grantee") == app_id:
            traffic.grants.append(call)
        elif call.operation == "waybill_accept" and (waybill_of_qr(body.get("qr_content")) or ("",))[0] == app_id:
            traffic.accepts.append(call)
    return traffic


def _verdict_findings(calls: list[Call], rules: frozenset[str] | None, who: str) -> list[Finding]:
    """A failed verdict of ``rules`` (all, when None) per call: FAILED for MUST, WARNING naming the decision for SHOULD."""
    out: list[Finding] = []
    for c in calls:
        seen: set[tuple[str, str, Any]] = set()
        for v in c.failing(rules):
            key = (_topic(v), str(v.get("level", "MUST")), v.get("decision"))
            if key in seen:  # one departure, two verdicts (the sign's pattern and the signature rule): reported once
                continue
            seen.add(key)
            out.append(verdict_finding(v, f"{who} {c.operation} (code {c.code})", c.evidence(), reading=True))
    return out


# --- verifying drivers at all -----------------------------------------------------------------------------------------
@CHECKS.check(
    "DYM-EC-VERIFIES",
    title="the enterprise verifies drivers through the interface it applied for: a lookup with the capacity code or a scan under consent",
    clause="004 §一(二)4(1) 申请滇运码数据核验及交换赋能接口; §二(二)2(1) 步骤一 输入关键字段获取司机信息及运力验证码核验; 2(2) 步骤二 获得司机授权，快速核验",
    requirements=("DYM-EC-VERIFIES",),
    level="MUST",
)
def verifies(t: Traffic) -> Any:
    if not t.calls:
        return skipped(f"no call of app {t.app_id} (DYM-EC-SIGNED reports it)")
    tried = t.of(*VERIFY_OPS)
    done = [c for c in tried if c.ok]
    if not done:
        return failed(
            f"app {t.app_id} made {len(t.calls)} call(s) and {len(tried)} driver verification(s), none answered: the session "
            "shows nothing of the verification interface (a driver lookup with the capacity code, or a scan under consent) "
            "to certify",
            *(c.evidence() for c in tried[:3]),
        )
    lookups, scans = sum(1 for c in done if c.operation == "driver_lookup"), sum(1 for c in done if c.operation == "scan_verify")
    return passed(f"{lookups} driver lookup(s) and {scans} scan verification(s) answered")


# --- signed and fresh ------------------------------------------------------------------------------------------------
@CHECKS.check(
    "DYM-EC-SIGNED",
    title="every call is signed by a registered app, fresh (timestamp ±300 s) and under a nonce never reused",
    clause="004 §一(二)3, 4 申请…接口; D-DYM-SIGN, D-DYM-TIMESTAMP, D-DYM-NONCE",
    requirements=("DYM-SIGNED", "DYM-SIGN-LOWERCASE", "DYM-FRESH", "DYM-EC-SIGNED"),
    level="MUST",
)
def signed_and_fresh(t: Traffic) -> Any:
    if not t.calls:
        return failed(f"no call of app {t.app_id} in the journal: nothing signed to grade (harness certify start, then run the client)")
    findings = _verdict_findings(t.calls, GATE_RULES, f"app {t.app_id}")
    seen: dict[str, Call] = {}  # the first accepted call under each nonce: it consumed the nonce
    refused: dict[str, Call] = {}  # the first refused call under a nonce no accepted call has used (yet)
    for c in t.calls:  # never reused at all in the session, whatever the platform's memory (D-DYM-NONCE)
        nonce = c.body.get("nonce")
        if not isinstance(nonce, str):
            continue
        if nonce in seen and not c.failing(frozenset({"DYM-NONCE"})):
            message = f"nonce {nonce[:32]!r} of journal #{seen[nonce].id} used again by journal #{c.id}"
            findings.append(("failed", message, (c.evidence(),), "004 §一(二)3, 4 申请…接口; D-DYM-NONCE (never reused)", None))
        elif nonce in refused:
            # D-DYM-NONCE: a refused request does not consume its nonce, so a retry under it is the design's; a fresh
            # nonce per attempt is advice (a replay of the refused request cannot then be told from the retry).
            first = refused[nonce]
            message = (
                f"nonce {nonce[:32]!r} of journal #{first.id} (refused, code {first.code}) used again by journal #{c.id}: "
                "a refused request does not consume its nonce, so the platform accepts the retry (D-DYM-NONCE); "
                "advice beyond the design: sign every attempt under a fresh nonce"
            )
            findings.append(("warning", message, (c.evidence(),), "D-DYM-NONCE (a refused request does not consume it)", "D-DYM-NONCE"))
        if c.ok:
            seen.setdefault(nonce, c)
            refused.pop(nonce, None)
        elif nonce not in seen:
            refused.setdefault(nonce, c)
    if findings:
        return capped(CHECKS.get("DYM-EC-SIGNED"), findings)
    verified = sum(1 for c in t.calls if c.held("DYM-SIGN"))
    if not verified:
        return skipped("no call reached the signature check")
    return passed(f"{verified} call(s) signed, fresh and under distinct nonces")


# --- consent before every verification -----------------------------------------------------------------------------
@CHECKS.check(
    "DYM-EC-CONSENT",
    title="every scan-to-verify is made under the driver's consent covering every item asked",
    clause="004 §二(二)1(1) 扫码验证; §二(二)2(2) 获得司机授权; D-DYM-CONSENT",
    requirements=("DYM-CONSENT", "DYM-EC-CONSENT"),
    level="MUST",
)
def consent_first(t: Traffic) -> Any:
    scans = t.of("scan_verify")
    if not scans:
        return skipped(f"app {t.app_id} verified no driver (no scan_verify)")
    findings = _verdict_findings(scans, CONSENT_RULES, f"app {t.app_id}")
    if findings:
        return capped(CHECKS.get("DYM-EC-CONSENT"), findings)
    done = [c for c in scans if c.ok]
    if not done:
        return skipped("no verification was answered")
    return passed(f"{len(done)} verification(s), each under a live consent covering the items asked")


# --- no personal data beyond need ------------------------------------------------------------------------------------
@CHECKS.check(
    "DYM-EC-MINIMAL",
    title="no personal data asked beyond need: one key field per lookup, consent scopes no wider than what is verified",
    clause="004 §二(二)2(1) 输入关键字段; §二(二)2(2) 获得司机授权; D-DYM-CONSENT",
    requirements=("DYM-EC-MINIMAL",),
    level="SHOULD",
)
def minimal(t: Traffic) -> Any:
    findings: list[Finding] = []
    lookups = [c for c in t.of("driver_lookup") if c.ok]
    for c in lookups:
        keys = [k for k in LOOKUP_KEYS if k in c.body]
        if len(keys) > 1:
            message = f"driver lookup sent {', '.join(keys)} where one key field and the capacity code identify the driver"
            findings.append(("warning", message, (c.evidence(),), "004 §二(二)2(1) 输入关键字段", "D-DYM-CAPACITY-CODE"))
    used: dict[str, set[str]] = {}  # consent id → the items the scans it answered asked for
    asked: dict[str, set[str]] = {}  # driver code → the items every scan of the driver asked for, answered or refused
    for c in t.of("scan_verify"):
        fields = {str(f) for f in c.body.get("fields") or [] if isinstance(f, str)}
        for cid in (c.reply.get("data") or {}).get("consent_ids") or [] if c.ok else []:
            used.setdefault(str(cid), set()).update(fields)
        qr = c.body.get("qr_content")
        if isinstance(qr, str) and qr.startswith("DYM1:D:"):
            asked.setdefault(qr.removeprefix("DYM1:D:"), set()).update(fields)
    grants = [g for g in t.grants if g.ok]
    for g in grants:
        data = g.reply.get("data") or {}
        scope = set(data.get("scope") or g.body.get("scope") or [])
        needed = used.get(str(data.get("consent_id")), set()) | asked.get(str(g.body.get("driver_code")), set())
        wider = sorted(scope - needed)
        if wider:
            message = f"consent {data.get('consent_id')} asked the driver for {', '.join(wider)}, which the app never asked to verify"
            findings.append(("warning", message, (g.evidence(),), "004 §二(二)2(2) 获得司机授权", "D-DYM-CONSENT"))
    if findings:
        return capped(CHECKS.get("DYM-EC-MINIMAL"), findings)
    if not lookups and not grants:
        return skipped("no driver lookup and no consent to the app: no personal data was asked for")
    return passed(f"{len(lookups)} lookup(s) by one key field; {len(grants)} consent scope(s) no wider than the items verified")


# --- the waybill lifecycle -------------------------------------------------------------------------------------------
@CHECKS.check(
    "DYM-EC-WAYBILL",
    title="the waybill lifecycle is legal: push → accept → status; no waybill pushed twice, queried before its push, "
    "refreshed after acceptance, or shared under a code the push did not answer",
    clause="004 §二(二)1(2)–(4) 运单任务推送, 扫码接单, 查看后续运单状态; §二(二)2(6); D-DYM-WAYBILL, D-DYM-WAYBILL-QR",
    requirements=("DYM-WAYBILL", "DYM-WAYBILL-SCAN", "DYM-EC-WAYBILL"),
    level="MUST",
)
def waybill_lifecycle(t: Traffic) -> Any:
    findings = _verdict_findings(t.of(*WAYBILL_OPS), WAYBILL_RULES, f"app {t.app_id}")
    issued: dict[str, set[str]] = {}  # waybill_no → the QR codes the platform answered for it
    for c in t.of("waybill_push", "waybill_qr"):
        if c.ok and isinstance((c.reply.get("data") or {}).get("qr_content"), str):
            issued.setdefault(str(c.body.get("waybill_no")), set()).add(c.reply["data"]["qr_content"])
    accepted: set[str] = set()
    for a in t.accepts:
        _, no = waybill_of_qr(a.body.get("qr_content")) or ("", "")
        if a.ok:
            accepted.add(no)
        elif a.failing(frozenset({"DYM-WAYBILL-QR"})) or a.body.get("qr_content") not in issued.get(no, set()):
            message = (
                f"a driver scanned a waybill code of app {t.app_id} for {no or '?'} that the platform never answered "
                f"(refused {a.code}): the app shared a code it built or altered"
            )
            findings.append(("failed", message, (a.evidence(),), "004 §二(二)2(6) 运单码生成及分享; D-DYM-WAYBILL-QR", None))
    if findings:
        return capped(CHECKS.get("DYM-EC-WAYBILL"), findings)
    pushed = [c for c in t.of("waybill_push") if c.ok]
    if not pushed:
        return skipped(f"app {t.app_id} pushed no waybill")
    followed = {str(c.body.get("waybill_no")) for c in t.of("waybill_status") if c.ok}
    return passed(
        f"{len(pushed)} waybill(s) pushed once each; {len(accepted)} accepted under the code the push answered; "
        f"{len(followed & accepted)} followed after acceptance"
    )


# --- every other verdict ---------------------------------------------------------------------------------------------
@CHECKS.check(
    "DYM-EC-CALLS",
    title="every other rule holds on every call of the app, refused calls included (graded by each verdict's level)",
    clause="004 §一(二)4(1) 数据核验及交换赋能接口; §二(二)2 接口对接 (the harness's design, D-DYM-DESIGNED: specs/dym/platform.yaml "
    "request schemas; D-DYM-CODES; D-DYM-ID-CHECK, D-DYM-USCC, D-DYM-CODE-FORMAT)",
    requirements=(
        "DYM-SCHEMA",
        "DYM-ID-CHECK",
        "DYM-ID-UPPER-X",
        "DYM-USCC-CHECK",
        "DYM-CLAIM-ONCE",
        "DYM-REGULATOR-ONLY",
        "DYM-EC-CALLS",
    ),
    level="MUST",
)
def other_verdicts(t: Traffic) -> Any:
    if not t.calls:
        return skipped(f"no call of app {t.app_id}")
    graded_elsewhere = GATE_RULES | CONSENT_RULES | WAYBILL_RULES | OUTCOME_RULES
    findings: list[Finding] = []
    for c in t.calls:
        rest = [v for v in c.failing() if _topic(v) not in graded_elsewhere]
        findings += _verdict_findings([Call(c.id, c.at, c.operation, c.body, c.reply, rest, c.url)], None, f"app {t.app_id}")
        if not c.ok and not c.failing():
            message = f"app {t.app_id} {c.operation} refused with code {c.code} but no rule verdict failed"
            findings.append(("failed", message, (c.evidence(),), "D-DYM-CODES", None))
    if findings:
        return capped(CHECKS.get("DYM-EC-CALLS"), findings)
    return passed(f"{len(t.calls)} call(s); every other rule held")


# --- what a person judges --------------------------------------------------------------------------------------------
@CHECKS.check(
    "DYM-EC-OUTCOMES",
    title="verifications refused for what the person presented, and consents granted through the app's own SDK (a person judges)",
    clause="004 §二(二)2(1) 运力验证码核验; §二(二)1(1) 扫码验证; §二(二)2(2) 获得司机授权; D-DYM-CONSENT",
    requirements=("DYM-CAPACITY-CODE", "DYM-EC-OUTCOMES"),
    level="REVIEW",
)
def outcomes(t: Traffic) -> Any:
    refused = [c for c in t.of(*VERIFY_OPS) if not c.ok and c.failing(OUTCOME_RULES)]
    own = [g for g in t.grants if g.ok and g.body.get("app_id") == t.app_id]
    if not refused and not own:
        return skipped("no verification refused for what the person presented, no consent granted through the app itself")
    parts = []
    if refused:
        codes = ", ".join(sorted({f"{c.code} {c.failing(OUTCOME_RULES)[0].get('rule')}" for c in refused}))
        parts.append(f"{len(refused)} verification(s) refused for what the person presented ({codes}): did the TMS tell the dispatcher?")
    if own:
        parts.append(
            f"{len(own)} consent(s) to app {t.app_id} granted through the app itself (the driver's token, in the app's own "
            "SDK, 004 §一 SDK植入使用场景): did the driver consent?"
        )
    return review(" ".join(parts), *(c.evidence() for c in [*refused, *own][:3]))


class EnterpriseClientRole:
    """``harness certify dym-enterprise-client --app-id ID``: the checks, as conformance-engine events."""

    name = "dym-enterprise-client"
    platform = "dym"
    checks = CHECKS

    def __init__(self, store: Store, app_id: str, *, after_id: int | None = None, window: Window | None = None) -> None:
        self.store = store
        self.app_id = app_id
        self.window = window or Window(after_id=after_id)

    def run(self, seed: int) -> Iterator[Event]:
        traffic = load_traffic(self.store, self.app_id, self.window)
        yield from grade_journal(
            self, target=f"journal: app {self.app_id}", context=traffic, seed=seed, options={"app_id": self.app_id}, spec_files=SPEC_FILES
        )


class EnterpriseClientRoleCommand(EnterpriseClientRole):
    """The role as ``harness certify dym-enterprise-client`` builds it (harness/conformance/roles.py)."""

    summary = "Grade a logistics enterprise's client of /dym (TMS) from the journal of one certification session."
    description = (
        "Grade what an enterprise app sent to `harness serve` under /dym: drivers verified at all (004 §一(二)4(1)), "
        "every call signed and fresh (D-DYM-SIGN, "
        "D-DYM-TIMESTAMP, D-DYM-NONCE), consent obtained before every verification (004 §二(二)2(2)), no personal data "
        "asked beyond need, a legal waybill lifecycle (push → accept → status), and every other verdict by its level. "
        "A conforming client to compare with: harness dym tms --target URL."
    )
    options = (
        RoleOption("app_id", "The enterprise's app_id (printed by harness dym enterprise-add).", required=True),
        SINCE_OPTION,
    )

    def __init__(self, common: CommonOptions, app_id: str, since: int | None = None, window: Window | None = None) -> None:
        missing = f"no DYM app {app_id!r} in {common.db} (harness dym enterprise-add)"
        store = open_subject_store(common, "SELECT 1 FROM dym_apps WHERE app_id = ?", (app_id,), missing)
        super().__init__(store, app_id, after_id=since, window=window)
