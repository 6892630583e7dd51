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
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import httpx
import jsonschema

from harness.config import Settings
from harness.conformance import engine
from harness.conformance.engine import CheckSet, TargetUnreachable, failed, passed, skipped
from harness.conformance.model import Event, Evidence, Requirement
from harness.errors import ConfigError
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
SPEC_PATH = "/yxc/callback"  # the placeholder path in the spec, replaced by the QR's redirect_uri path
CLAUSE_BODY = "000 附件二 1 请求报文格式"
CLAUSE_UNKNOWN = "000 附件一 3 callback (计时平台提供,后续原封不动发送回计时平台)"
CLAUSE_MALFORMED = "000 附件二 返回码 200 (数据格式错误,无法正确解析)"
FIELDS = ("code", "expirationtime", "stunum", "callback")

REQUIREMENTS: tuple[Requirement, ...] = (
    *qr.REQUIREMENTS,
    Requirement(
        "YXC-CB-ACCEPT-SIGNIN",
        "yxc",
        "000 附件二 1; 000 2.1.2 2)",
        "A valid sign-in scan with an issued callback is accepted (errorcode 0).",
    ),
    Requirement(
        "YXC-CB-ACCEPT-SIGNOUT",
        "yxc",
        "000 附件二 1; 000 2.1.2 1)",
        "A valid sign-out scan with an issued callback is accepted (errorcode 0).",
        "D-YXC-CALLBACK-SIGNOUT",
    ),
    Requirement(
        "YXC-CB-REJECT-MALFORMED",
        "yxc",
        CLAUSE_MALFORMED,
        "A body that is not UTF-8 JSON, misses or mistypes a field, or is not application/json is refused (200).",
        "D-YXC-CALLBACK-ERRORCODES",
    ),
    Requirement(
        "YXC-CB-REJECT-UNKNOWN-CALLBACK",
        "yxc",
        CLAUSE_UNKNOWN,
        "A callback value the vendor never issued is refused (1 or 100).",
        "D-YXC-CALLBACK-ERRORCODES",
    ),
    Requirement("YXC-CB-HTTP-STATUS", "yxc", CLAUSE_HTTP, "Every reply is HTTP 200 carrying the general reply.", "D-HTTP-STATUS"),
    Requirement(
        "YXC-CB-REPLY-SHAPE", "yxc", CLAUSE_REPLY, "The reply is a JSON object {errorcode, message, data}.", "D-YXC-CALLBACK-REPLY"
    ),
    Requirement("YXC-CB-ERRORCODE-INT", "yxc", CLAUSE_ERRORCODE_INT, "errorcode is a JSON integer."),
    Requirement("YXC-CB-ERRORCODE-TABLE", "yxc", CLAUSE_TABLE, "errorcode is one of 0, 1, 100, 200, 201, 202."),
    Requirement(
        "YXC-CB-SPEC",
        "yxc",
        "000 附件二 (specs/yxc/timing-callback.yaml)",
        "Generated valid and invalid requests get a general reply; invalid ones are refused.",
    ),
)
REPLY_REQUIREMENTS = ("YXC-CB-HTTP-STATUS", "YXC-CB-REPLY-SHAPE", "YXC-CB-ERRORCODE-INT", "YXC-CB-ERRORCODE-TABLE")


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

    @CHECKS.check(check_id, title=requirement.text, clause=requirement.clause, requirements=(requirement.id,))
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
    requirements=("YXC-CB-ACCEPT-SIGNIN",),
)
def accept_signin(ctx: CallbackContext) -> Any:
    return _accept(ctx, "accept-signin", "login", None)


@CHECKS.check(
    "accept-signout",
    title="A valid sign-out scan is accepted",
    clause="000 附件二 1; 000 2.1.2 1); D-YXC-CALLBACK-SIGNOUT",
    requirements=("YXC-CB-ACCEPT-SIGNOUT",),
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
    requirements=("YXC-CB-REJECT-MALFORMED",),
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
    requirements=("YXC-CB-REJECT-MALFORMED",),
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
    requirements=("YXC-CB-REJECT-MALFORMED",),
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
    requirements=("YXC-CB-REJECT-MALFORMED",),
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
    requirements=("YXC-CB-REJECT-UNKNOWN-CALLBACK",),
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
    requirements=("YXC-CB-SPEC", *REPLY_REQUIREMENTS),
)
def spec_positive(ctx: CallbackContext) -> Any:
    return _spec_check(ctx, "spec-positive", "positive")


@CHECKS.check(
    "spec-negative",
    title="Generated invalid requests are refused with the general reply (Schemathesis, negative)",
    clause=f"000 附件二 (specs/yxc/timing-callback.yaml); {CLAUSE_MALFORMED}",
    requirements=("YXC-CB-SPEC", "YXC-CB-REJECT-MALFORMED", *REPLY_REQUIREMENTS),
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


@CHECKS.check("reply-http-status", title="Every reply is HTTP 200", clause=CLAUSE_HTTP, requirements=("YXC-CB-HTTP-STATUS",))
def reply_http_status(ctx: CallbackContext) -> Any:
    return _reply_check(ctx, "YXC-CB-HTTP-STATUS")


@CHECKS.check(
    "reply-shape",
    title="Every reply is the general reply {errorcode, message, data}",
    clause=f"{CLAUSE_REPLY}; D-YXC-CALLBACK-REPLY",
    requirements=("YXC-CB-REPLY-SHAPE",),
)
def reply_shape(ctx: CallbackContext) -> Any:
    return _reply_check(ctx, "YXC-CB-REPLY-SHAPE")


@CHECKS.check("reply-errorcode-int", title="errorcode is an int", clause=CLAUSE_ERRORCODE_INT, requirements=("YXC-CB-ERRORCODE-INT",))
def reply_errorcode_int(ctx: CallbackContext) -> Any:
    return _reply_check(ctx, "YXC-CB-ERRORCODE-INT")


@CHECKS.check(
    "reply-errorcode-table",
    title="errorcode is a code of the table",
    clause=CLAUSE_TABLE,
    requirements=("YXC-CB-ERRORCODE-TABLE",),
)
def reply_errorcode_table(ctx: CallbackContext) -> Any:
    return _reply_check(ctx, "YXC-CB-ERRORCODE-TABLE")


# --- the role -------------------------------------------------------------------------------------------------------
class YxcCallbackRole:
    """``harness certify yxc-callback``: the vendor's training QR and scan callback."""

    name = "yxc-callback"
    platform = "yxc"
    description = "Vendor as server: the training QR (000 附件一) and the scan callback (000 附件二), including Schemathesis fuzzing."

    def __init__(
        self,
        qr_source: str,
        *,
        logout_qr: str | None = None,
        ca_bundle: Path | str | None = None,
        allow_insecure_http: bool = False,
        profile: str = "strict",
        max_examples: int = 30,
        stunum: str | None = None,
        store: Store | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.qr_source = qr_source
        self.logout_qr = logout_qr
        self.ca_bundle = ca_bundle
        self.allow_insecure_http = allow_insecure_http
        self.profile = profile
        self.max_examples = max_examples
        self.stunum = stunum
        self.store = store
        self.timeout = timeout
        if stunum is not None and len(stunum) != 16:  # 000 附件四 A.6.3.1.1 stunum F16
            raise ConfigError(f"stunum must be 16 characters (F16), got {len(stunum)}")
        self.verify = tls_verify(ca_bundle)  # a missing bundle is a bad argument (exit 2) before anything runs
        self.checks = CHECKS

    def options(self) -> dict[str, Any]:
        return {
            "qr": self.qr_source,
            "logout_qr": self.logout_qr,
            "ca_bundle": str(self.ca_bundle) if self.ca_bundle else None,
            "allow_insecure_http": self.allow_insecure_http,
            "profile": self.profile,
            "max_examples": self.max_examples,
        }

    def run(self, seed: int) -> Iterator[Event]:
        report = qr.check(self.qr_source, profile=self.profile, allow_insecure_http=self.allow_insecure_http)
        logout_callback = None
        if self.logout_qr:
            logout_callback = qr.check(self.logout_qr, profile=self.profile, allow_insecure_http=self.allow_insecure_http).callback
        rng = random.Random(seed)
        stunum = self.stunum or "S" + "".join(str(rng.randrange(10)) for _ in range(15))
        store = self.store or Store(":memory:")  # codes issued for the run only, unless a shared store is given
        try:
            yield from self._run(seed, report, logout_callback, stunum, store)
        finally:
            if self.store is None:
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
                options=self.options(),
                spec_hashes={SPEC: spec_sha256(SPEC)},
                requirements=REQUIREMENTS,
                certification_valid=not self.allow_insecure_http,
            )


# --- CLI ------------------------------------------------------------------------------------------------------------
@click.command("yxc-callback")
@click.option("--qr", "qr_source", required=True, help="The vendor's training QR as TEXT or the path of an IMAGE (at most 5 minutes old).")
@click.option("--logout-qr", default=None, help="A sign-out QR (TEXT|IMAGE); default: the same QR again (D-YXC-CALLBACK-SIGNOUT).")
@click.option("--ca-bundle", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Trust this CA for the vendor's HTTPS.")
@click.option(
    "--allow-insecure-http", is_flag=True, help="Test a plain http:// (e.g. 127.0.0.1) callback; the report is NOT valid for certification."
)
@click.option("--profile", type=click.Choice(["strict", "tolerant"]), default="strict", show_default=True)
@click.option("--max-examples", type=click.IntRange(1, 1000), default=30, show_default=True, help="Schemathesis cases per mode.")
@click.option("--stunum", default=None, help="学员统一编号 used in the scans (default: random from the seed).")
@click.option("--seed", type=int, default=None, help="Random seed (default: random).")
def certify_yxc_callback(
    qr_source: str,
    logout_qr: str | None,
    ca_bundle: Path | None,
    allow_insecure_http: bool,
    profile: str,
    max_examples: int,
    stunum: str | None,
    seed: int | None,
) -> None:
    """Certify a vendor's training QR and scan callback (000 附件一, 附件二). Exit 0 passed, 1 failed, 2 could not run."""
    role = YxcCallbackRole(
        qr_source,
        logout_qr=logout_qr,
        ca_bundle=ca_bundle,
        allow_insecure_http=allow_insecure_http,
        profile=profile,
        max_examples=max_examples,
        stunum=stunum,
    )
    # The shared runner (reports, progress) is wired here at merge; until then a plain console loop over the events.
    sys.exit(console_run(role, random.randrange(2**31) if seed is None else seed))


def console_run(role: YxcCallbackRole, seed: int) -> int:
    """Print one line per check and return the exit code (0 passed, 1 failed, 2 error)."""
    from harness.conformance.model import CheckFinished, NonFatalError, RunFinished, RunStarted

    exit_code = 2
    for event in role.run(seed):
        if isinstance(event, RunStarted):
            valid = "" if event.certification_valid else "  (NOT valid for certification: --allow-insecure-http)"
            click.echo(f"{event.role} → {event.target}  seed {event.seed}{valid}")
        elif isinstance(event, CheckFinished):
            r = event.result
            click.echo(f"[{event.index:>2}/{event.planned}] {r.status.upper():7} {r.check_id:24} [{r.clause}] {r.message}"[:400])
        elif isinstance(event, NonFatalError):
            click.echo(f"error: {event.message}", err=True)
        elif isinstance(event, RunFinished):
            click.echo(
                f"verdict: {event.verdict} ({event.passed} passed, {event.failed} failed, {event.skipped} skipped, {event.errors} errors)"
            )
            exit_code = {"passed": 0, "failed": 1, "error": 2}[event.verdict]
    return exit_code
