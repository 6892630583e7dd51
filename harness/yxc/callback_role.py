"""Role ``yxc-callback``: the vendor as server — its training QR (000 附件一) and its scan callback (000 附件二).

The harness plays the province: it checks the QR, then POSTs scan reports to the QR's ``redirect_uri`` and grades
the replies. Scenario checks first (valid sign-in and sign-out accepted; malformed, incomplete, mistyped, wrongly
labelled and unknown-callback requests refused), then Schemathesis property-based and negative testing from
``specs/yxc/timing-callback.yaml``, then the reply checks over every exchange of the run (general reply shape,
``errorcode`` an int from the table, HTTP 200). Every check names its clause; decisions are in specs/decisions.yaml.

Levels follow the seed's words: what 附件一/附件二 oblige (the QR's format, accepting a valid scan, the general reply,
its int errorcode from the table, refusing a body that cannot be parsed: 返回码 200) is MUST; refusing what the seed
does not forbid (a missing or mistyped field, another media type, an unknown callback) is SHOULD, a WARNING. A form
only the tolerant reading of a decision accepts is a WARNING naming that decision, under either profile.

HTTPS on a public domain name is required (000 2.1.1). ``allow_insecure_http`` lets a developer test http://127.0.0.1
or https://localhost: the HTTPS and domain checks are then skipped (D-YXC-CALLBACK-INSECURE). Whether the run counts
for certification is :func:`harness.conformance.validity.target_validity`'s judgement of the callback URL (https, a
public name, a certificate chaining to a trusted root); the report names the reasons of a development run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema

from harness import limits
from harness.config import Settings
from harness.conformance import catalogue, engine, negative
from harness.conformance.engine import CheckSet, TargetUnreachable, failed, passed, review, skipped
from harness.conformance.model import Event, Evidence, NonFatalError, Requirement, RunStarted
from harness.conformance.roles import CommonOptions, RoleOption
from harness.conformance.validity import Validity, target_validity
from harness.errors import ConfigError
from harness.schema import open_store
from harness.specs import load_spec, resolve_ref, spec_sha256
from harness.store import Store
from harness.yxc import codes, qr
from harness.yxc import qr as yxc_qr  # the module, where the constructor's `qr` argument shadows it
from harness.yxc.scan import (
    CLAUSE_ERRORCODE_INT,
    CLAUSE_HTTP,
    CLAUSE_REPLY,
    CLAUSE_TABLE,
    CODE_TABLE,
    JSON_TYPE,
    Exchange,
    Unreachable,
    callback_body_bytes,
    grade_reply,
    post,
    tls_verify,
)

SPEC = "yxc/timing-callback.yaml"
SPEC_FILES = (SPEC, "yxc/requirements.yaml", "decisions.yaml")
SPEC_PATH = "/yxc/callback"  # the placeholder path in the spec, replaced by the QR's redirect_uri path
CLAUSE_BODY = "000 附件二 1 请求报文格式"
CLAUSE_UNKNOWN = "000 附件一 3 callback (计时平台提供,后续原封不动发送回计时平台)"
CLAUSE_MALFORMED = "000 附件二 返回码 200 (数据格式错误,无法正确解析)"
CLAUSE_SIGNOUT = "000 2.1.2 1) (计时设备在学员签到/签退时显示培训二维码)"
RECEIVER_CHECKS = "D-YXC-CALLBACK-RECEIVER-CHECKS"  # refusing what the seed does not forbid is advice: the WARNING names it
FIELDS = ("code", "expirationtime", "stunum", "callback")

CALLBACK_REQUIREMENT_IDS = (
    "YXC-CB-ACCEPT-SIGNIN",
    "YXC-CB-ACCEPT-SIGNOUT",
    "YXC-CB-REJECT-MALFORMED",
    "YXC-CB-REJECT-INCOMPLETE",
    "YXC-CB-REJECT-CONTENT-TYPE",
    "YXC-CB-REJECT-UNKNOWN-CALLBACK",
    "YXC-CB-HTTP-STATUS",
    "YXC-CB-REPLY-SHAPE",
    "YXC-CB-ERRORCODE-INT",
    "YXC-CB-ERRORCODE-TABLE",
    "YXC-CB-SPEC",
    "YXC-CB-SPEC-NEGATIVE",
)
# Everything this role enforces, as the requirement catalogue (specs/yxc/requirements.yaml) states it.
REQUIREMENTS: tuple[Requirement, ...] = (
    *qr.REQUIREMENTS,
    *(catalogue.by_id("yxc")[rid] for rid in CALLBACK_REQUIREMENT_IDS),
)
REPLY_REQUIREMENTS = ("YXC-CB-REPLY-SHAPE", "YXC-CB-ERRORCODE-INT", "YXC-CB-ERRORCODE-TABLE")


# The catalogue (specs/yxc/requirements.yaml) states some of these rules more coarsely; a check enforcing one of the
# rules above also enforces the catalogue's, so the report's coverage of the catalogue is complete.
# The callback address filed with the province (000 2.1.1) is the QR's redirect_uri, so these QR checks enforce it too.
REGISTERED_ADDRESS = {"YXC-QR-REDIRECT-HTTPS": ("YXC-REG-CALLBACK-URL",), "YXC-QR-REDIRECT-DOMAIN": ("YXC-REG-CALLBACK-URL",)}


def _reqs(*ids: str) -> tuple[str, ...]:
    """Requirement ids in order, without repeats."""
    return tuple(dict.fromkeys(ids))


@dataclass
class CallbackContext:
    """What every check of one run shares: the options, the decoded QR, the HTTP client and every exchange made."""

    qr_source: str
    logout_qr_source: str | None
    profile: str
    allow_insecure_http: bool
    max_examples: int
    seed: int
    store: Store
    client: httpx.Client
    report: qr.QrReport | None = None
    tolerant_report: qr.QrReport | None = None  # the same QR under the tolerant readings (a WARNING where only they accept)
    logout_callback: str | None = None
    stunum: str = ""
    exchanges: list[tuple[str, Exchange]] = field(default_factory=list)  # (check id, exchange)

    @property
    def ready(self) -> str | None:
        """Why scenarios cannot run, or None."""
        if self.report is None or not self.report.redirect_uri or self.report.callback is None:
            return "the QR gave no usable redirect_uri and callback"
        scheme = urlsplit(self.report.redirect_uri).scheme
        if scheme != "https" and not (self.allow_insecure_http and scheme == "http"):
            return f"the callback is {scheme}://, not https:// (use --allow-insecure-http for a development run)"
        return None

    def send(self, check_id: str, body: bytes, content_type: str | None = JSON_TYPE) -> Exchange:
        assert self.report is not None and self.report.redirect_uri is not None
        try:
            exchange = post(self.client, self.report.redirect_uri, body, content_type)
        except Unreachable as exc:
            raise TargetUnreachable(str(exc)) from exc
        self.exchanges.append((check_id, exchange))
        return exchange

    def valid_body(self, kind: str = "login", callback: str | None = None) -> dict[str, str]:
        assert self.report is not None and self.report.callback is not None
        callback = self.report.callback if callback is None else callback
        code = codes.issue(self.store, self.stunum, kind, Settings().code_ttl_seconds, callback, source="certify-yxc-callback")
        return code.callback_body(callback)


def evidence(exchange: Exchange, note: str = "") -> Evidence:
    return Evidence(note, exchange.request_evidence(), exchange.reply_evidence())


def _errorcode(exchange: Exchange) -> int | None:
    """The errorcode read leniently ("0" counts as 0) so each scenario grades only its own rule; the reply checks grade the type."""
    code = exchange.errorcode
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and limits.ascii_digits(code.strip().lstrip("-"), limits.MAX_DIGIT_STRING):
        return int(code)
    return None


CHECKS = CheckSet()


# --- QR checks: one per rule of 000 附件一 --------------------------------------------------------------------------
def _qr_check(requirement: Requirement) -> None:
    check_id = "qr-" + requirement.id.removeprefix("YXC-QR-").lower()

    @CHECKS.check(
        check_id,
        title=requirement.text,
        clause=requirement.clause,
        requirements=_reqs(requirement.id, *REGISTERED_ADDRESS.get(requirement.id, ())),
        level=requirement.level,
    )
    def qr_rule(ctx: CallbackContext) -> Any:
        assert ctx.report is not None
        outcome = ctx.report.outcomes.get(requirement.id)
        note = Evidence(f"QR content: {ctx.report.text}") if ctx.report.text else Evidence("QR given as an image")
        if outcome is None:
            return skipped("not evaluated", note)
        if outcome.status == "failed":
            lenient = ctx.tolerant_report.outcomes.get(requirement.id) if ctx.tolerant_report else None
            if requirement.decision and lenient is not None and lenient.status == "passed":
                # Only the strict reading of the decision refuses it: the vendor followed the tolerant one.
                check = CHECKS.get(check_id)
                message = f"{outcome.message}; the tolerant reading of {requirement.decision} accepts it ({lenient.message})"
                return check.result("warning", message, note, clause=outcome.clause, decision=requirement.decision)
            return failed(f"{outcome.message} [{outcome.clause}]", note)
        return (outcome.status, outcome.message, (note,))


for _requirement in qr.REQUIREMENTS:
    _qr_check(_requirement)


# --- scenario checks ------------------------------------------------------------------------------------------------
def _accept(ctx: CallbackContext, check_id: str, kind: str, callback: str | None) -> Any:
    if ctx.ready:
        return skipped(ctx.ready)
    body = ctx.valid_body(kind, callback)
    exchange = ctx.send(check_id, callback_body_bytes(body))
    code = _errorcode(exchange)
    label = "sign-in" if kind == "login" else "sign-out"
    if code == 0:
        return passed(f"valid {label} accepted (errorcode 0)", evidence(exchange))
    what = f"errorcode {code} ({CODE_TABLE.get(code, 'not in the table')})" if code is not None else "no readable errorcode"
    if kind == "logout" and callback is None and code is not None:
        # No sign-out QR was given, so the sign-out reused the sign-in QR's callback. The seed shows a QR at each step
        # (2.1.2 1)) and never says the sign-in QR serves the sign-out: that reuse is the harness's own decision, and
        # a vendor whose QR is accepted once followed the seed. Not a failure; with --logout-qr it is judged.
        return CHECKS.get(check_id).result(
            "warning",
            f"a sign-out scan that reused the sign-in QR's callback was refused: {what}. The seed shows a training QR at "
            f"sign-in and at sign-out ({CLAUSE_SIGNOUT}) and never says the sign-in QR is scanned again; reusing it is "
            "D-YXC-CALLBACK-SIGNOUT. Pass the QR the terminal shows for sign-out with --logout-qr to have the sign-out "
            "judged (with it, a refused valid sign-out fails the run).",
            evidence(exchange, "sign-out with the sign-in QR's callback (no --logout-qr given)"),
            clause=f"{CLAUSE_SIGNOUT}; 000 附件二 1",
            decision="D-YXC-CALLBACK-SIGNOUT",
        )
    qr_used = "the sign-out QR's (--logout-qr)" if kind == "logout" and callback is not None else "the QR's own"
    return failed(f"a valid {label} scan with {qr_used} callback was refused: {what}", evidence(exchange))


@CHECKS.check(
    "accept-signin",
    title="A valid sign-in scan is accepted",
    clause="000 附件二 1; 000 2.1.2 2)",
    requirements=_reqs("YXC-CB-ACCEPT-SIGNIN"),
    level="MUST",
)
def accept_signin(ctx: CallbackContext) -> Any:
    return _accept(ctx, "accept-signin", "login", None)


@CHECKS.check(
    "accept-signout",
    title="A valid sign-out scan is accepted",
    clause="000 附件二 1; 000 2.1.2 1); D-YXC-CALLBACK-SIGNOUT",
    requirements=_reqs("YXC-CB-ACCEPT-SIGNOUT"),
    level="MUST",
)
def accept_signout(ctx: CallbackContext) -> Any:
    if ctx.logout_qr_source and ctx.logout_callback is None and not ctx.ready:
        return skipped("the sign-out QR (--logout-qr) gave no usable callback, so no sign-out could be sent")
    return _accept(ctx, "accept-signout", "logout", ctx.logout_callback)


@CHECKS.check(
    "terminal-prompt",
    title="The terminal shows a clear sign-in prompt once the scan reached the platform (a person confirms)",
    clause="000 2.1.2 3) (应在终端设备签到页面给出清晰提示); 2.1.2 1) (无须再输入学员相关信息)",
    requirements=_reqs("YXC-CB-TERMINAL-PROMPT"),
    level="REVIEW",
)
def terminal_prompt(ctx: CallbackContext) -> Any:
    accepted = [(cid, ex) for cid, ex in ctx.exchanges if cid in ("accept-signin", "accept-signout") and _errorcode(ex) == 0]
    if not accepted:
        return skipped("no sign-in or sign-out scan was accepted, so there was nothing for the terminal to show")
    stunum = ctx.stunum
    return review(
        f"confirm on the timing terminal that showed this QR: after each accepted scan below, its sign-in page gave a clear "
        f"prompt for learner {stunum} and training could start without entering the learner's details again",
        *(evidence(ex, f"{cid}: accepted at the vendor's callback") for cid, ex in accepted),
    )


def _refusals(
    ctx: CallbackContext,
    check_id: str,
    cases: list[tuple[str, bytes, str | None]],
    expected: tuple[int, ...],
    per_case: dict[str, tuple[int, ...]] | None = None,
) -> Any:
    """POST each (label, body, content type); each must be refused with a non-zero code (``expected``, or the codes
    ``per_case`` gives for that label).

    - not refused (errorcode 0, or none readable): FAILED for the MUST check (the seed's 200 for a body it cannot
      parse), a WARNING naming D-YXC-CALLBACK-RECEIVER-CHECKS for the SHOULD ones (refusing is advice);
    - refused with another code *of the table* than ``expected``: a WARNING naming D-YXC-CALLBACK-ERRORCODES (the seed
      does not say which code answers which refusal), under either profile;
    - refused with a code the table does not define (返回码定义): that decision does not cover it. The MUST check
      fails, citing the table (the seed defines 200 for this very case); a SHOULD check counts the request as refused,
      since what it judges is the refusal, and leaves the code to reply-errorcode-table, which fails the run for it.
    """
    if ctx.ready:
        return skipped(ctx.ready)
    check = CHECKS.get(check_id)
    problems: list[Evidence] = []
    other_code: list[Evidence] = []
    outside: list[Evidence] = []
    outside_codes: set[int] = set()
    seen: list[Evidence] = []
    want = " or ".join(str(e) for e in expected)
    for label, body, content_type in cases:
        codes = (per_case or {}).get(label, expected)
        exchange = ctx.send(check_id, body, content_type)
        code = _errorcode(exchange)
        if code is None:
            problems.append(evidence(exchange, f"{label}: the reply has no readable errorcode"))
        elif code == 0:
            problems.append(evidence(exchange, f"{label}: accepted with errorcode 0"))
        elif code not in CODE_TABLE:
            outside_codes.add(code)
            outside.append(evidence(exchange, f"{label}: refused with {code}, which is no code of the table (expected {want})"))
        elif code not in codes:
            other_code.append(evidence(exchange, f"{label}: refused with {code}, expected {' or '.join(map(str, codes))}"))
        else:
            seen.append(evidence(exchange, f"{label}: refused with {code}"))
    results = []
    advice = check.level != "MUST"
    if problems:
        results.append(
            check.result(
                "failed",
                f"{len(problems)} of {len(cases)} not refused: " + "; ".join(p.note for p in problems),
                *problems[:3],
                decision=RECEIVER_CHECKS if advice else None,
            )
        )
    if outside and not advice:
        message = (
            f"{len(outside)} of {len(cases)} refused with a code 返回码定义 does not define, where the seed gives {want} "
            "for this case: " + "; ".join(p.note for p in outside)
        )
        results.append(check.result("failed", message, *outside[:3], clause=f"{CLAUSE_TABLE}; {check.clause}"))
    if other_code:
        message = f"{len(other_code)} of {len(cases)} refused with another code: " + "; ".join(p.note for p in other_code)
        results.append(check.result("warning", message, *other_code[:3], decision="D-YXC-CALLBACK-ERRORCODES"))
    if not results:
        if outside:
            message = (
                f"{len(cases)} request(s) refused; {len(outside)} with a code that is not in the table "
                f"({', '.join(map(str, sorted(outside_codes)))}): reply-errorcode-table judges it"
            )
            results.append(check.result("passed", message, *(seen[:1] + outside[:1])))
        else:
            results.append(check.result("passed", f"{len(cases)} request(s) refused with {want}", *seen[:2]))
    return results


@CHECKS.check(
    "reject-malformed-json",
    title="A body that is not UTF-8 JSON is refused",
    clause=f"{CLAUSE_MALFORMED}; 000 附件二 1 (body 采用 UTF-8 编码)",
    requirements=_reqs("YXC-CB-REJECT-MALFORMED"),
    level="MUST",  # 附件二 defines 200 数据格式错误,无法正确解析 for exactly this case
)
def reject_malformed_json(ctx: CallbackContext) -> Any:
    if ctx.ready:
        return skipped(ctx.ready)
    good = callback_body_bytes(ctx.valid_body())
    # The QR's own callback in a GBK body: only the encoding is wrong, so a vendor must not take it as a scan.
    # "粤" in GBK is D4 C1, which is not UTF-8 (C1 is no continuation byte), so the body cannot decode by accident.
    gbk = json.dumps({**ctx.valid_body(), "stunum": "粤" + ctx.stunum[1:]}, ensure_ascii=False).encode("gbk")
    cases = [
        ("truncated JSON", good[: len(good) // 2], JSON_TYPE),
        ("GBK, not UTF-8", gbk, JSON_TYPE),
        ("not JSON", b"code=1&stunum=2", JSON_TYPE),
    ]
    return _refusals(ctx, "reject-malformed-json", cases, (200,))


@CHECKS.check(
    "reject-missing-fields",
    title="A body missing any of code, expirationtime, stunum, callback is refused",
    clause=f"{CLAUSE_BODY}; {CLAUSE_MALFORMED}",
    requirements=_reqs("YXC-CB-REJECT-INCOMPLETE"),
    level="SHOULD",  # the seed's table gives 默认值 null and no 必填 column: refusing is advice beyond it
)
def reject_missing_fields(ctx: CallbackContext) -> Any:
    if ctx.ready:
        return skipped(ctx.ready)
    cases = []
    for name in FIELDS:
        body = ctx.valid_body()
        del body[name]
        cases.append((f"without {name}", callback_body_bytes(body), JSON_TYPE))
    return _refusals(ctx, "reject-missing-fields", cases, (200,))


@CHECKS.check(
    "reject-wrong-types",
    title="A body with a field of the wrong JSON type is refused",
    clause=f"{CLAUSE_BODY} (类型 string); {CLAUSE_MALFORMED}; D-YXC-CALLBACK-TYPE",
    requirements=_reqs("YXC-CB-REJECT-INCOMPLETE"),
    level="SHOULD",  # the seed types the fields but does not oblige the vendor to refuse another type
)
def reject_wrong_types(ctx: CallbackContext) -> Any:
    if ctx.ready:
        return skipped(ctx.ready)
    wrong: dict[str, Any] = {"code": 12345678, "expirationtime": 1700000000, "stunum": int("1" * 16), "callback": {"value": 1}}
    cases = []
    for name, value in wrong.items():
        body: dict[str, Any] = ctx.valid_body()
        body[name] = value
        cases.append((f"{name} as {type(value).__name__}", callback_body_bytes(body), JSON_TYPE))
    cases.append(("a JSON array", callback_body_bytes([ctx.valid_body()]), JSON_TYPE))
    # 附件二 1's table types callback as object (D-YXC-CALLBACK-TYPE): an object is the seed's own form of the field, a
    # callback the vendor never issued, so 1 or 100 (unknown callback) answers it as well as 200 (format).
    return _refusals(ctx, "reject-wrong-types", cases, (200,), per_case={"callback as dict": (200, 1, 100)})


@CHECKS.check(
    "reject-content-type",
    title="A body not labelled application/json is refused",
    clause=f"000 附件二 1 (UTF-8 JSON); {CLAUSE_MALFORMED}; D-YXC-CALLBACK-ERRORCODES",
    requirements=_reqs("YXC-CB-REJECT-CONTENT-TYPE"),
    level="SHOULD",  # 附件二 1 says what the mini-program sends; it does not oblige the vendor to refuse anything else
)
def reject_content_type(ctx: CallbackContext) -> Any:
    if ctx.ready:
        return skipped(ctx.ready)
    body = callback_body_bytes(ctx.valid_body())
    cases = [("text/plain", body, "text/plain; charset=utf-8"), ("form", body, "application/x-www-form-urlencoded")]
    return _refusals(ctx, "reject-content-type", cases, (200,))


@CHECKS.check(
    "reject-unknown-callback",
    title="A callback value the vendor never issued is refused",
    clause=f"{CLAUSE_UNKNOWN}; D-YXC-CALLBACK-ERRORCODES",
    requirements=_reqs("YXC-CB-REJECT-UNKNOWN-CALLBACK"),
    level="SHOULD",  # 附件一 3 says the callback comes back unchanged; refusing a foreign one is advice beyond it
)
def reject_unknown_callback(ctx: CallbackContext) -> Any:
    if ctx.ready:
        return skipped(ctx.ready)
    rng = random.Random(ctx.seed)
    forged = f"harness-never-issued-{rng.getrandbits(48):012x}"
    cases = [("a forged callback", callback_body_bytes(ctx.valid_body(callback=forged)), JSON_TYPE)]
    assert ctx.report is not None and ctx.report.callback is not None
    if ctx.report.callback:
        # The QR's callback with one character changed: a vendor must compare the whole value, byte for byte.
        altered = ctx.report.callback[:-1] + ("x" if ctx.report.callback[-1] != "x" else "y")
        cases.append(
            ("the QR's callback with its last character changed", callback_body_bytes(ctx.valid_body(callback=altered)), JSON_TYPE)
        )
    return _refusals(ctx, "reject-unknown-callback", cases, (1, 100))


# --- Schemathesis: property-based and negative testing from the spec -------------------------------------------------
def _generated_cases(ctx: CallbackContext, mode_name: str) -> list[tuple[dict[str, Any], str | None]]:
    import schemathesis  # lazily: importing it is slow and patches things
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from schemathesis.generation import GenerationMode

    assert ctx.report is not None and ctx.report.redirect_uri is not None
    parts = urlsplit(ctx.report.redirect_uri)
    origin = f"{parts.scheme}://{parts.netloc}"
    spec = load_spec(SPEC, ctx.profile)
    spec["paths"] = {parts.path or "/": spec["paths"][SPEC_PATH]}
    spec["servers"] = [{"url": origin}]
    schema = schemathesis.openapi.from_dict(spec)
    schema.config.update(base_url=origin)
    operation = next(iter(schema.get_all_operations())).ok()
    strategy = operation.as_strategy(generation_mode=GenerationMode(mode_name))
    collected: list[Any] = []

    @hypothesis_seed(ctx.seed)
    @settings(
        max_examples=ctx.max_examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(strategy)
    def collect(case: Any) -> None:
        collected.append(case)

    collect()
    return [(case.as_transport_kwargs(base_url=origin), _mutation(case)) for case in collected[: ctx.max_examples]]


def _mutation(case: Any) -> str | None:
    """Schemathesis's own account of how it made a case (e.g. "violates `required` at /properties/callback"), kept
    beside the harness's reading of what the case breaks."""
    phase = getattr(getattr(case, "meta", None), "phase", None)
    description = getattr(getattr(phase, "data", None), "description", None)
    return str(description) if description else None


def _case_body(kwargs: dict[str, Any]) -> tuple[bytes, Any]:
    """The bytes to send and the JSON value they carry (or a sentinel when they are not JSON)."""
    if "json" in kwargs:
        value = kwargs["json"]
        try:
            return json.dumps(value, ensure_ascii=False).encode("utf-8"), value
        except UnicodeEncodeError:
            return json.dumps(value).encode("ascii"), value
    # A registered JSON serializer (harness.fuzz, loaded through schemathesis.toml) hands over bytes instead.
    data = kwargs.get("data", b"")
    raw = data if isinstance(data, bytes) else str(data).encode("utf-8")
    try:
        return raw, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return raw, _NOT_JSON


_NOT_JSON = object()


def _request_schema() -> dict[str, Any]:
    """The request body schema the generated cases come from (the spec has one profile for this body)."""
    spec = load_spec(SPEC, "strict")
    return resolve_ref(spec, spec["components"]["schemas"]["ScanCallback"])


def _reply_validator(profile: str) -> jsonschema.protocols.Validator:
    spec = load_spec(SPEC, "strict")
    schema = dict(spec["components"]["schemas"]["GeneralReply"])
    if profile == "tolerant":
        schema["required"] = ["errorcode"]  # D-YXC-CALLBACK-REPLY
    # OpenAPI 3.0 `nullable` is not JSON Schema: spell it as a type list for the validator.
    properties = {}
    for name, node in schema["properties"].items():
        node = dict(node)
        if node.pop("nullable", False):
            node["type"] = [node["type"], "null"]
        properties[name] = node
    schema["properties"] = properties
    return jsonschema.Draft4Validator(schema)


def _short(raw: bytes, limit: int = 40) -> str:
    """What a body that is not JSON was, in words a reader can check: empty, N bytes that are not UTF-8 (the first
    ones escaped), or the text as a JSON string literal (so that blanks and control characters show)."""
    if not raw:
        return "an empty body (0 bytes)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        head = raw[:limit].hex(" ")
        return f"{len(raw)} bytes that are not UTF-8, starting {head}{' …' if len(raw) > limit else ''}"
    shown = json.dumps(text if len(text) <= limit else text[:limit], ensure_ascii=False)
    return f"{len(raw)} bytes of UTF-8 text that is not JSON: {shown}{'…' if len(text) > limit else ''}"


def _broken(schema: dict[str, Any], body: bytes, value: Any, content_type: str) -> list[dict[str, str]]:
    """What a generated case breaks: the schema's constraints (negative.broken_constraints), a body that is not JSON,
    or a media type other than application/json."""
    if value is _NOT_JSON:
        broken = [{"field": "body", "keyword": "type", "expected": "UTF-8 JSON", "sent": _short(body)}]
    else:
        broken = negative.broken_constraints(schema, value)
    if not content_type.lower().startswith("application/json"):
        broken.append({"field": "header Content-Type", "keyword": "media type", "expected": "application/json", "sent": content_type})
    return broken


def _spec_check(ctx: CallbackContext, check_id: str, mode: str) -> Any:
    if ctx.ready:
        return skipped(ctx.ready)
    check = CHECKS.get(check_id)
    cases = _generated_cases(ctx, mode)
    schema = _request_schema()
    # Shape beyond the tolerant reading (message or data left out) is reply-shape's WARNING, not a failure here.
    reply_schema = _reply_validator("tolerant")
    problems: list[Evidence] = []
    foreign: list[Evidence] = []
    judged: list[Evidence] = []
    not_negative = 0
    for kwargs, mutation in cases:
        body, value = _case_body(kwargs)
        content_type = kwargs.get("headers", {}).get("Content-Type", JSON_TYPE)
        broken = _broken(schema, body, value, content_type)
        if mode == "negative" and not broken:
            not_negative += 1  # Schemathesis sometimes yields a case that breaks nothing the schema says: not a negative case
            continue
        exchange = ctx.send(check_id, body, content_type)
        why = []
        if not isinstance(exchange.document, dict):
            why.append("the reply is not a JSON object")
        else:
            errors = sorted(reply_schema.iter_errors(exchange.document), key=lambda e: list(e.path))
            why += [f"reply {'/'.join(str(p) for p in e.path) or 'body'}: {e.message}" for e in errors[:2]]
        code = _errorcode(exchange)
        request = exchange.request_evidence()
        if mode == "negative":
            request["broken"] = broken
            if mutation:
                request["schemathesis"] = mutation  # the generator's own words for the mutation
            what = f"broke {negative.describe(broken)}"
            if code == 0:
                why.append(f"an invalid request was accepted (errorcode 0) [{CLAUSE_MALFORMED}]")
            elif code is not None and why:
                # Refused: what this check judges. The reply's own form (errorcode "200" as a string…) is the reply checks'
                # (reply-errorcode-int, reply-shape), never counted here as accepting a bad case.
                what += f" (refused; the reply's form is graded by reply-errorcode-int / reply-shape: {why[0]})"
                why = []
        else:
            what = "valid request" if not broken else f"generated request that broke {negative.describe(broken)}"
            if code == 0 and isinstance(value, dict) and value.get("callback") != (ctx.report.callback if ctx.report else None):
                foreign.append(
                    Evidence(
                        f"{what}: a callback the vendor never issued was accepted [{CLAUSE_UNKNOWN}]", request, exchange.reply_evidence()
                    )
                )
        item = Evidence(
            f"{what}: " + ("; ".join(why) if why else f"refused with {code}" if code else "accepted"), request, exchange.reply_evidence()
        )
        (problems if why else judged).append(item)
    sent = len(problems) + len(judged)
    uncounted = (
        f"; {not_negative} generated case(s) broke no constraint of the request schema and were not counted as negative"
        if not_negative
        else ""
    )
    if not sent:
        return skipped(f"no generated {mode} case to send{uncounted}")
    # Negative cases: every one is evidence, so a finding names the constraint the generated request broke.
    shown = (problems + judged) if mode == "negative" else (problems[:3] or judged[:1])
    results = []
    if problems:
        first = problems[0].note
        results.append(
            check.result(
                "failed",
                f"{len(problems)} of {sent} generated {mode} case(s) failed{uncounted}; first: {first}",
                *shown,
                decision=RECEIVER_CHECKS if check.level != "MUST" else None,
            )
        )
    else:
        results.append(check.result("passed", f"{sent} generated {mode} case(s) answered with the general reply{uncounted}", *shown))
    if foreign:
        results.append(
            check.result(
                "warning",
                f"{len(foreign)} generated case(s) with a callback the vendor never issued were accepted (refusing a "
                f"foreign callback is advice beyond the seed, as reject-unknown-callback says)",
                *foreign[:3],
                clause=CLAUSE_UNKNOWN,
                decision=RECEIVER_CHECKS,
            )
        )
    return results


@CHECKS.check(
    "spec-positive",
    title="Generated valid requests get the general reply (Schemathesis, positive)",
    clause="000 附件二 (specs/yxc/timing-callback.yaml)",
    requirements=_reqs("YXC-CB-SPEC", *REPLY_REQUIREMENTS),
    level="MUST",
)
def spec_positive(ctx: CallbackContext) -> Any:
    return _spec_check(ctx, "spec-positive", "positive")


@CHECKS.check(
    "spec-negative",
    title="Generated invalid requests are refused with the general reply (Schemathesis, negative)",
    clause=f"000 附件二 (specs/yxc/timing-callback.yaml); {CLAUSE_MALFORMED}",
    requirements=_reqs("YXC-CB-SPEC-NEGATIVE"),
    level="SHOULD",  # most constraints the cases break (lengths, patterns, types) are ones the seed does not oblige the vendor to enforce
)
def spec_negative(ctx: CallbackContext) -> Any:
    return _spec_check(ctx, "spec-negative", "negative")


# --- reply checks over every exchange of the run --------------------------------------------------------------------
# Each judges only the replies that carry what it judges and says how many that was; nothing to judge is skipped.
def _findings(exchange: Exchange, requirement: str, profile: str) -> list[Any]:
    return [f for f in grade_reply(exchange, profile) if f.requirement == requirement]


@CHECKS.check(
    "reply-http-status",
    title="Every reply is HTTP 200",
    clause=CLAUSE_HTTP,
    requirements=_reqs("YXC-CB-HTTP-STATUS"),
    level="SHOULD",  # the seed names no HTTP status (D-HTTP-STATUS)
)
def reply_http_status(ctx: CallbackContext) -> Any:
    if not ctx.exchanges:
        return skipped(ctx.ready or "no exchange was made")
    bad = [evidence(ex, f"{cid}: HTTP {ex.status}") for cid, ex in ctx.exchanges if ex.status != 200]
    total = len(ctx.exchanges)
    if bad:
        message = f"{len(bad)} of {total} replies were not HTTP 200 (the seed names no status; D-HTTP-STATUS); first: {bad[0].note}"
        return CHECKS.get("reply-http-status").result("failed", message, *bad[:3], decision="D-HTTP-STATUS")
    return passed(f"{total} of {total} replies were HTTP 200", evidence(ctx.exchanges[0][1]))


@CHECKS.check(
    "reply-shape",
    title="Every reply is the general reply {errorcode, message, data}",
    clause=f"{CLAUSE_REPLY}; D-YXC-CALLBACK-REPLY",
    requirements=_reqs("YXC-CB-REPLY-SHAPE"),
    level="MUST",
)
def reply_shape(ctx: CallbackContext) -> Any:
    """The presence check: a reply that is no JSON object, or carries no errorcode, fails; one that leaves out message
    or data (the tolerant reading of D-YXC-CALLBACK-REPLY) is a WARNING naming the decision."""
    if not ctx.exchanges:
        return skipped(ctx.ready or "no exchange was made")
    check = CHECKS.get("reply-shape")
    total = len(ctx.exchanges)
    bad, lenient = [], []
    for cid, ex in ctx.exchanges:
        hard = _findings(ex, "YXC-CB-REPLY-SHAPE", "tolerant")
        if hard:
            bad.append(evidence(ex, f"{cid}: {hard[0].message} [{hard[0].clause}]"))
        elif soft := _findings(ex, "YXC-CB-REPLY-SHAPE", "strict"):
            lenient.append(evidence(ex, f"{cid}: {soft[0].message}"))
    results = []
    if bad:
        results.append(check.result("failed", f"{len(bad)} of {total} replies are not the general reply; first: {bad[0].note}", *bad[:3]))
    if lenient:
        message = (
            f"{len(lenient)} of {total} replies leave out message or data (only the tolerant reading allows it); first: {lenient[0].note}"
        )
        results.append(check.result("warning", message, *lenient[:3], decision="D-YXC-CALLBACK-REPLY"))
    if not results:
        results.append(
            check.result("passed", f"{total} of {total} replies are {{errorcode, message, data}}", evidence(ctx.exchanges[0][1]))
        )
    return results


def _with_errorcode(ctx: CallbackContext) -> list[tuple[str, Exchange]]:
    return [(cid, ex) for cid, ex in ctx.exchanges if isinstance(ex.document, dict) and "errorcode" in ex.document]


@CHECKS.check(
    "reply-errorcode-int",
    title="errorcode is an int",
    clause=CLAUSE_ERRORCODE_INT,
    requirements=_reqs("YXC-CB-ERRORCODE-INT"),
    level="MUST",
)
def reply_errorcode_int(ctx: CallbackContext) -> Any:
    if not ctx.exchanges:
        return skipped(ctx.ready or "no exchange was made")
    judged = _with_errorcode(ctx)
    total = len(ctx.exchanges)
    if not judged:
        return skipped(f"none of the {total} replies carried an errorcode (reply-shape fails for that): no value to judge")
    bad = [evidence(ex, f"{cid}: {f.message}") for cid, ex in judged for f in _findings(ex, "YXC-CB-ERRORCODE-INT", "strict")]
    if bad:
        return failed(f"{len(bad)} of {len(judged)} errorcodes are not JSON integers; first: {bad[0].note}", *bad[:3])
    return passed(f"errorcode is a JSON integer in {len(judged)} of {len(judged)} replies that carry one ({total} replies)")


@CHECKS.check(
    "reply-errorcode-table",
    title="errorcode is a code of the table",
    clause=CLAUSE_TABLE,
    requirements=_reqs("YXC-CB-ERRORCODE-TABLE"),
    level="MUST",
)
def reply_errorcode_table(ctx: CallbackContext) -> Any:
    if not ctx.exchanges:
        return skipped(ctx.ready or "no exchange was made")
    judged = [(cid, ex) for cid, ex in _with_errorcode(ctx) if isinstance(ex.errorcode, int) and not isinstance(ex.errorcode, bool)]
    total = len(ctx.exchanges)
    if not judged:
        return skipped(f"none of the {total} replies carried an integer errorcode (reply-shape / reply-errorcode-int report it)")
    bad = [evidence(ex, f"{cid}: {f.message}") for cid, ex in judged for f in _findings(ex, "YXC-CB-ERRORCODE-TABLE", "strict")]
    if bad:
        return failed(f"{len(bad)} of {len(judged)} errorcodes are not in the table; first: {bad[0].note}", *bad[:3])
    codes_seen = sorted({ex.errorcode for _, ex in judged})
    return passed(
        f"{len(judged)} of {len(judged)} integer errorcodes are in the table (seen: {', '.join(map(str, codes_seen))}; {total} replies)"
    )


# --- the role -------------------------------------------------------------------------------------------------------
class YxcCallbackRole:
    """``harness certify yxc-callback``: the vendor's training QR and scan callback (registry protocol of
    :mod:`harness.conformance.roles`: built from the shared :class:`CommonOptions` plus the options below)."""

    name = "yxc-callback"
    platform = "yxc"
    checks = CHECKS
    summary = "Certify a vendor's training QR and scan callback (vendor as server)."
    description = (
        "Certify a YXC vendor as server: its training QR (000 附件一) and its scan callback (000 附件二): valid sign-in and "
        "sign-out, malformed, incomplete, mistyped, wrongly labelled and unknown-callback requests, Schemathesis positive and "
        "negative cases from specs/yxc/timing-callback.yaml, and the general reply of every answer. HTTPS on a public domain "
        "name with a certificate from a trusted root is required for the run to count; --allow-insecure-http waives the HTTPS "
        "and domain checks for a development run (plain http://, localhost), which is not valid for certification."
    )
    options = (
        RoleOption("qr", "The vendor's training QR as TEXT or the path of an IMAGE (at most 5 minutes old).", required=True),
        RoleOption("logout_qr", "A sign-out QR (TEXT or IMAGE); default: the same QR again (D-YXC-CALLBACK-SIGNOUT)."),
        RoleOption("ca_bundle", "Trust this CA bundle (PEM) for the vendor's HTTPS, e.g. a staging system's private CA.", type=Path),
        RoleOption(
            "allow_insecure_http",
            "Development run: test a plain http:// (127.0.0.1) or https://localhost callback; the HTTPS and domain checks are "
            "waived and the report is NOT valid for certification (D-YXC-CALLBACK-INSECURE).",
            flag=True,
        ),
        RoleOption("max_examples", "Schemathesis cases per mode (positive, negative).", default=30, type=int),
        RoleOption("stunum", "学员统一编号 used in the scans (default: random from the seed)."),
    )

    def __init__(
        self,
        common: CommonOptions | None = None,
        *,
        qr: str,
        logout_qr: str | None = None,
        ca_bundle: Path | str | None = None,
        allow_insecure_http: bool = False,
        max_examples: int = 30,
        stunum: str | None = None,
        profile: str | None = None,
        store: Store | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.common = common
        self.qr_source = qr
        self.logout_qr = logout_qr
        self.ca_bundle = ca_bundle
        self.allow_insecure_http = allow_insecure_http
        self.profile = profile or (common.profile if common else "strict")
        self.max_examples = max_examples or 30
        self.stunum = stunum
        # Codes go to the shared store when there is one, so a code the vendor files later as logininfo is matched.
        self.store = store
        self.timeout = timeout
        if stunum is not None and len(stunum) != 16:  # 000 附件四 A.6.3.1.1 stunum F16
            raise ConfigError(f"stunum must be 16 characters (F16), got {len(stunum)}")
        if not 1 <= self.max_examples <= 1000:
            raise ConfigError("max_examples must be between 1 and 1000")
        self.verify = tls_verify(ca_bundle)  # a missing bundle is a bad argument (exit 2) before anything runs
        for source in (qr, logout_qr):  # so is a QR image that is not there: one line, exit 2, no report
            if source is not None:
                yxc_qr.check_source(source)

    def options_used(self) -> dict[str, Any]:
        return {
            "qr": self.qr_source,
            "logout_qr": self.logout_qr,
            "ca_bundle": str(self.ca_bundle) if self.ca_bundle else None,
            "allow_insecure_http": self.allow_insecure_http,
            "profile": self.profile,
            "max_examples": self.max_examples,
        }

    def requirements(self) -> tuple[Requirement, ...]:
        """The whole YXC catalogue: engine.run keeps what this role observes (``roles: [yxc-callback]``) for coverage."""
        return catalogue.load(self.platform)

    def validity(self, report: qr.QrReport) -> Validity:
        """Whether this run can count for certification: the callback URL's scheme, host and certificate chain."""
        if not report.redirect_uri:
            return Validity(False, ("the QR gave no redirect_uri to judge",))
        return target_validity(report.redirect_uri, ca_bundle=self.ca_bundle, allow_insecure_http=self.allow_insecure_http)

    def run(self, seed: int) -> Iterator[Event]:
        # Graded the same under either profile: a form only the tolerant reading accepts is a WARNING naming its decision.
        report = qr.check(self.qr_source, profile="strict", allow_insecure_http=self.allow_insecure_http)
        self._tolerant = qr.check(self.qr_source, profile="tolerant", allow_insecure_http=self.allow_insecure_http)
        logout_callback = None
        if self.logout_qr:
            logout_callback = qr.check(self.logout_qr, profile="strict", allow_insecure_http=self.allow_insecure_http).callback
        rng = random.Random(seed)
        stunum = self.stunum or "S" + "".join(str(rng.randrange(10)) for _ in range(15))
        own = self.store is None
        store = self.store or open_store(self.common.db if self.common else ":memory:")
        try:
            yield from self._run(seed, report, logout_callback, stunum, store)
        finally:
            if own:
                store.close()

    def _run(self, seed: int, report: qr.QrReport, logout_callback: str | None, stunum: str, store: Store) -> Iterator[Event]:
        validity = self.validity(report)
        options = {**self.options_used(), "validity": validity.summary()}
        with httpx.Client(verify=self.verify, timeout=self.timeout) as client:
            ctx = CallbackContext(
                self.qr_source,
                self.logout_qr,
                self.profile,
                self.allow_insecure_http,
                self.max_examples,
                seed,
                store,
                client,
                report,
                self._tolerant,
                logout_callback,
                stunum,
            )
            events = engine.run(
                role=self.name,
                platform=self.platform,
                target=report.redirect_uri or self.qr_source,
                checks=self.checks,
                context=ctx,
                seed=seed,
                options=options,
                spec_hashes={f"specs/{f}": spec_sha256(f) for f in SPEC_FILES},
                requirements=self.requirements(),
                certification_valid=validity.valid,
            )
            for event in events:
                yield event
                if isinstance(event, RunStarted) and not validity.valid:
                    yield NonFatalError(validity.summary())


def __getattr__(name: str) -> Any:
    """``certify_yxc_callback``: the click command ``harness certify yxc-callback`` (built by the shared certify CLI
    from the role registry, so options, reports and exit codes are those of every role). Built on first access: the
    registry imports this module, so building it at import time would be circular."""
    if name == "certify_yxc_callback":
        from harness.conformance.cli import role_command

        return role_command(YxcCallbackRole.name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
