"""Role ``yxc-callback``: the vendor as server — its training QR (000 附件一) and its scan callback (000 附件二).

The harness plays the province: it checks the QR, then POSTs scan reports to the QR's ``redirect_uri`` and grades
the replies. Scenario checks first (valid sign-in and sign-out accepted; malformed, incomplete, mistyped, wrongly
labelled and unknown-callback requests refused), then Schemathesis property-based and negative testing from
``specs/yxc/timing-callback.yaml``, then the reply checks over every exchange of the run (general reply shape,
``errorcode`` an int from the table, HTTP 200). Every check names its clause; decisions are in specs/decisions.yaml.

HTTPS on a domain name is required (000 2.1.1). ``allow_insecure_http`` lets a developer test http://127.0.0.1: the
HTTPS and domain checks are then skipped and the run is marked ``certification_valid=False`` (D-YXC-CALLBACK-INSECURE).
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

from harness.config import Settings
from harness.conformance import catalogue, engine
from harness.conformance.engine import CheckSet, TargetUnreachable, failed, passed, skipped
from harness.conformance.model import Event, Evidence, Requirement
from harness.conformance.roles import CommonOptions, RoleOption
from harness.errors import ConfigError
from harness.schema import open_store
from harness.specs import load_spec, resolve_ref, spec_sha256
from harness.store import Store
from harness.yxc import codes, qr
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
FIELDS = ("code", "expirationtime", "stunum", "callback")

CALLBACK_REQUIREMENT_IDS = (
    "YXC-CB-ACCEPT-SIGNIN",
    "YXC-CB-ACCEPT-SIGNOUT",
    "YXC-CB-REJECT-MALFORMED",
    "YXC-CB-REJECT-UNKNOWN-CALLBACK",
    "YXC-CB-HTTP-STATUS",
    "YXC-CB-REPLY-SHAPE",
    "YXC-CB-ERRORCODE-INT",
    "YXC-CB-ERRORCODE-TABLE",
    "YXC-CB-SPEC",
)
# Everything this role enforces, as the requirement catalogue (specs/yxc/requirements.yaml) states it.
REQUIREMENTS: tuple[Requirement, ...] = (
    *qr.REQUIREMENTS,
    *(catalogue.by_id("yxc")[rid] for rid in CALLBACK_REQUIREMENT_IDS),
)
REPLY_REQUIREMENTS = ("YXC-CB-HTTP-STATUS", "YXC-CB-REPLY-SHAPE", "YXC-CB-ERRORCODE-INT", "YXC-CB-ERRORCODE-TABLE")


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
            return f"the callback is {scheme}://, not https:// (use --allow-insecure-http for a loopback test)"
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
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
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
    )
    def qr_rule(ctx: CallbackContext) -> Any:
        assert ctx.report is not None
        outcome = ctx.report.outcomes.get(requirement.id)
        note = Evidence(f"QR content: {ctx.report.text}") if ctx.report.text else Evidence("QR given as an image")
        if outcome is None:
            return skipped("not evaluated", note)
        if outcome.status == "failed":
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
    return failed(f"a valid {label} scan with the QR's own callback was refused: {what}", evidence(exchange))


@CHECKS.check(
    "accept-signin",
    title="A valid sign-in scan is accepted",
    clause="000 附件二 1; 000 2.1.2 2)",
    requirements=_reqs("YXC-CB-ACCEPT-SIGNIN"),
)
def accept_signin(ctx: CallbackContext) -> Any:
    return _accept(ctx, "accept-signin", "login", None)


@CHECKS.check(
    "accept-signout",
    title="A valid sign-out scan is accepted",
    clause="000 附件二 1; 000 2.1.2 1); D-YXC-CALLBACK-SIGNOUT",
    requirements=_reqs("YXC-CB-ACCEPT-SIGNOUT"),
)
def accept_signout(ctx: CallbackContext) -> Any:
    return _accept(ctx, "accept-signout", "logout", ctx.logout_callback)


def _refusals(ctx: CallbackContext, check_id: str, cases: list[tuple[str, bytes, str | None]], expected: tuple[int, ...]) -> Any:
    """POST each (label, body, content type); each must be refused with a non-zero code (strict: one of ``expected``)."""
    if ctx.ready:
        return skipped(ctx.ready)
    problems: list[Evidence] = []
    seen: list[Evidence] = []
    for label, body, content_type in cases:
        exchange = ctx.send(check_id, body, content_type)
        code = _errorcode(exchange)
        if code is None:
            problems.append(evidence(exchange, f"{label}: the reply has no readable errorcode"))
        elif code == 0:
            problems.append(evidence(exchange, f"{label}: accepted with errorcode 0"))
        elif ctx.profile == "strict" and code not in expected:
            want = " or ".join(str(e) for e in expected)
            problems.append(evidence(exchange, f"{label}: refused with {code}, expected {want} (D-YXC-CALLBACK-ERRORCODES)"))
        else:
            seen.append(evidence(exchange, f"{label}: refused with {code}"))
    if problems:
        return failed("; ".join(p.note for p in problems), *problems[:3])
    return passed(f"{len(cases)} request(s) refused", *seen[:2])


@CHECKS.check(
    "reject-malformed-json",
    title="A body that is not UTF-8 JSON is refused",
    clause=f"{CLAUSE_MALFORMED}; 000 附件二 1 (body 采用 UTF-8 编码)",
    requirements=_reqs("YXC-CB-REJECT-MALFORMED"),
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
    requirements=_reqs("YXC-CB-REJECT-MALFORMED"),
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
    requirements=_reqs("YXC-CB-REJECT-MALFORMED"),
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
    return _refusals(ctx, "reject-wrong-types", cases, (200,))


@CHECKS.check(
    "reject-content-type",
    title="A body not labelled application/json is refused",
    clause=f"000 附件二 1 (UTF-8 JSON); {CLAUSE_MALFORMED}; D-YXC-CALLBACK-ERRORCODES",
    requirements=_reqs("YXC-CB-REJECT-MALFORMED"),
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
def _generated_cases(ctx: CallbackContext, mode_name: str) -> list[Any]:
    import schemathesis  # lazily: importing it is slow and patches things (TOOLCHAIN.md)
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
    return [case.as_transport_kwargs(base_url=origin) for case in collected[: ctx.max_examples]]


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


def _request_validator(profile: str) -> jsonschema.protocols.Validator:
    spec = load_spec(SPEC, profile)
    body_schema = resolve_ref(spec, spec["components"]["schemas"]["ScanCallback"])
    return jsonschema.Draft4Validator(body_schema)


def _reply_validator(profile: str) -> jsonschema.protocols.Validator:
    spec = load_spec(SPEC, profile)
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


def _spec_check(ctx: CallbackContext, check_id: str, mode: str) -> Any:
    if ctx.ready:
        return skipped(ctx.ready)
    cases = _generated_cases(ctx, mode)
    request_schema = _request_validator(ctx.profile)
    reply_schema = _reply_validator(ctx.profile)
    problems: list[Evidence] = []
    for kwargs in cases:
        body, value = _case_body(kwargs)
        content_type = kwargs.get("headers", {}).get("Content-Type", JSON_TYPE)
        exchange = ctx.send(check_id, body, content_type)
        invalid = value is _NOT_JSON or not request_schema.is_valid(value) or not content_type.startswith("application/json")
        why = []
        if exchange.status != 200:
            why.append(f"HTTP {exchange.status}")
        if not isinstance(exchange.document, dict):
            why.append("the reply is not a JSON object")
        else:
            errors = sorted(reply_schema.iter_errors(exchange.document), key=lambda e: list(e.path))
            why += [f"reply {'/'.join(str(p) for p in e.path) or 'body'}: {e.message}" for e in errors[:2]]
            code = _errorcode(exchange)
            if invalid and code == 0:
                why.append(f"an invalid request was accepted (errorcode 0) [{CLAUSE_MALFORMED}]")
            elif not invalid and code == 0 and value.get("callback") != (ctx.report.callback if ctx.report else None):
                why.append(f"a callback the vendor never issued was accepted [{CLAUSE_UNKNOWN}]")
        if why:
            problems.append(evidence(exchange, f"{'invalid' if invalid else 'valid'} request: " + "; ".join(why)))
    if problems:
        first = problems[0].note
        return failed(f"{len(problems)} of {len(cases)} generated {mode} case(s) failed; first: {first}", *problems[:3])
    return passed(f"{len(cases)} generated {mode} case(s) answered with the general reply")


@CHECKS.check(
    "spec-positive",
    title="Generated valid requests get the general reply (Schemathesis, positive)",
    clause="000 附件二 (specs/yxc/timing-callback.yaml)",
    requirements=_reqs("YXC-CB-SPEC", *REPLY_REQUIREMENTS),
)
def spec_positive(ctx: CallbackContext) -> Any:
    return _spec_check(ctx, "spec-positive", "positive")


@CHECKS.check(
    "spec-negative",
    title="Generated invalid requests are refused with the general reply (Schemathesis, negative)",
    clause=f"000 附件二 (specs/yxc/timing-callback.yaml); {CLAUSE_MALFORMED}",
    requirements=_reqs("YXC-CB-SPEC", "YXC-CB-REJECT-MALFORMED", *REPLY_REQUIREMENTS),
)
def spec_negative(ctx: CallbackContext) -> Any:
    return _spec_check(ctx, "spec-negative", "negative")


# --- reply checks over every exchange of the run --------------------------------------------------------------------
def _reply_check(ctx: CallbackContext, requirement: str) -> Any:
    if not ctx.exchanges:
        return skipped(ctx.ready or "no exchange was made")
    bad = []
    for check_id, exchange in ctx.exchanges:
        for finding in grade_reply(exchange, ctx.profile):
            if finding.requirement == requirement:
                bad.append(evidence(exchange, f"{check_id}: {finding.message} [{finding.clause}]"))
    if bad:
        return failed(f"{len(bad)} of {len(ctx.exchanges)} replies: {bad[0].note}", *bad[:3])
    return passed(f"all {len(ctx.exchanges)} replies")


@CHECKS.check(
    "reply-http-status",
    title="Every reply is HTTP 200",
    clause=CLAUSE_HTTP,
    requirements=_reqs(
        "YXC-CB-HTTP-STATUS",
    ),
)
def reply_http_status(ctx: CallbackContext) -> Any:
    return _reply_check(ctx, "YXC-CB-HTTP-STATUS")


@CHECKS.check(
    "reply-shape",
    title="Every reply is the general reply {errorcode, message, data}",
    clause=f"{CLAUSE_REPLY}; D-YXC-CALLBACK-REPLY",
    requirements=_reqs("YXC-CB-REPLY-SHAPE"),
)
def reply_shape(ctx: CallbackContext) -> Any:
    return _reply_check(ctx, "YXC-CB-REPLY-SHAPE")


@CHECKS.check(
    "reply-errorcode-int",
    title="errorcode is an int",
    clause=CLAUSE_ERRORCODE_INT,
    requirements=_reqs(
        "YXC-CB-ERRORCODE-INT",
    ),
)
def reply_errorcode_int(ctx: CallbackContext) -> Any:
    return _reply_check(ctx, "YXC-CB-ERRORCODE-INT")


@CHECKS.check(
    "reply-errorcode-table",
    title="errorcode is a code of the table",
    clause=CLAUSE_TABLE,
    requirements=_reqs("YXC-CB-ERRORCODE-TABLE"),
)
def reply_errorcode_table(ctx: CallbackContext) -> Any:
    return _reply_check(ctx, "YXC-CB-ERRORCODE-TABLE")


# --- the role -------------------------------------------------------------------------------------------------------
class YxcCallbackRole:
    """``harness certify yxc-callback``: the vendor's training QR and scan callback (registry protocol of
    :mod:`harness.conformance.roles`: built from the shared :class:`CommonOptions` plus the options below)."""

    name = "yxc-callback"
    platform = "yxc"
    summary = "Certify a vendor's training QR and scan callback (vendor as server)."
    description = (
        "Certify a YXC vendor as server: its training QR (000 附件一) and its scan callback (000 附件二): valid sign-in and "
        "sign-out, malformed, incomplete, mistyped, wrongly labelled and unknown-callback requests, Schemathesis positive and "
        "negative cases from specs/yxc/timing-callback.yaml, and the general reply of every answer. HTTPS on a domain name is "
        "required; --allow-insecure-http tests a plain http:// callback and marks the report not valid for certification."
    )
    options = (
        RoleOption("qr", "The vendor's training QR as TEXT or the path of an IMAGE (at most 5 minutes old).", required=True),
        RoleOption("logout_qr", "A sign-out QR (TEXT or IMAGE); default: the same QR again (D-YXC-CALLBACK-SIGNOUT)."),
        RoleOption("ca_bundle", "Trust this CA bundle (PEM) for the vendor's HTTPS, e.g. a staging system's private CA.", type=Path),
        RoleOption(
            "allow_insecure_http",
            "Test a plain http:// (e.g. 127.0.0.1) callback; the report is NOT valid for certification (D-YXC-CALLBACK-INSECURE).",
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
        self.checks = CHECKS

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
        """The whole YXC catalogue (so the report shows what this role does not cover), plus this role's finer rules."""
        listed = catalogue.load(self.platform)
        known = {r.id for r in listed}
        return (*listed, *(r for r in REQUIREMENTS if r.id not in known))

    def run(self, seed: int) -> Iterator[Event]:
        report = qr.check(self.qr_source, profile=self.profile, allow_insecure_http=self.allow_insecure_http)
        logout_callback = None
        if self.logout_qr:
            logout_callback = qr.check(self.logout_qr, profile=self.profile, allow_insecure_http=self.allow_insecure_http).callback
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
                logout_callback,
                stunum,
            )
            yield from engine.run(
                role=self.name,
                platform=self.platform,
                target=report.redirect_uri or self.qr_source,
                checks=self.checks,
                context=ctx,
                seed=seed,
                options=self.options_used(),
                spec_hashes={f"specs/{f}": spec_sha256(f) for f in SPEC_FILES},
                requirements=self.requirements(),
                # The opt-out, and grading under the tolerant profile, are for development only.
                certification_valid=not self.allow_insecure_http and self.profile == "strict",
            )


def __getattr__(name: str) -> Any:
    """``certify_yxc_callback``: the click command ``harness certify yxc-callback`` (built by the shared certify CLI
    from the role registry, so options, reports and exit codes are those of every role). Built on first access: the
    registry imports this module, so building it at import time would be circular."""
    if name == "certify_yxc_callback":
        from harness.conformance.cli import role_command

        return role_command(YxcCallbackRole.name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
