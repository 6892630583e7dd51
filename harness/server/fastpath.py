"""Fast operations: spec-driven serving of a platform's JSON operations without Connexion's per-request cost.

Connexion's request path costs about 0.2 × bare Starlette, too slow for a fleet heartbeating every 5 s. A platform
whose ``fast_operations()`` names paths (path → operation) has those POSTs answered by :func:`answer` instead, inside
the one exchange lifecycle (harness.server.exchange, which owns body, envelope, journal and commit):

    orjson parse (the shared parser words refusals) → request extras → session check → the platform's gate
    (``authenticate``) → jsonschema-rs validator compiled at start-up from the same spec (profile applied; x-date as
    on the Connexion path) → platform rules and handler → optional reply validation.

Refusals are reported by harness.server.schema_errors in the Connexion path's words (tests/dudu/test_path_parity.py).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson
from connexion.spec import resolve_refs

from harness import limits
from harness.errors import PlatformError, Violation
from harness.platform import ErrorKind, ExchangeContext, Platform
from harness.server import schema_errors
from harness.server.schema_errors import SCHEMA_RULE
from harness.server.validators import decision_warnings, has_strict
from harness.specs import load_spec, resolve_ref

log = logging.getLogger("harness.server.fastpath")
JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]
_UNPARSED = object()
RANGE_PENDING = "harness.limits.range"  # ctx.extras key: the body's integers await the store-range check


@dataclass(frozen=True)
class FastOperation:
    platform: Platform
    operation: str
    schema: dict[str, Any]  # the request body schema, every $ref resolved (as Connexion sees it), for refusals
    request: Any  # jsonschema_rs validator of the served (derived) spec: what is accepted at all
    reply: Any | None  # jsonschema_rs validator, when replies are validated
    strict: Any | None = None  # jsonschema_rs validator of the file as written, when the served spec relaxed anything
    decisions: dict[str, Any] | None = None  # the served body schema with its components, for decision warnings
    gated: bool = True  # the platform has a gate (its own authenticate)
    handler: Any = None  # the operation's handler (platform.handlers), looked up once
    # The reply schema names none of the platform's secret fields: a delivered reply (built by the harness to that
    # schema) then holds none, and the journal's masking need not scan it (harness.masking.mask_exchange).
    reply_secret_free: bool = False


def _compile(spec: dict[str, Any], node: dict[str, Any]) -> Any:
    # The spec's components travel with the schema so that its internal $refs resolve; x-date as on the Connexion path.
    return jsonschema_rs.Draft4Validator({**node, "components": spec.get("components", {})}, keywords=schema_errors.RS_KEYWORDS)


def compile_operations(platforms: list[Platform], validate_replies: bool) -> dict[str, FastOperation]:
    routes: dict[str, FastOperation] = {}
    for platform in platforms:
        offered = platform.fast_operations()
        if not offered:
            continue
        spec = platform.spec
        written = load_spec(platform.spec_file, "strict")
        resolved = resolve_refs(copy.deepcopy(spec))  # the same resolution Connexion applies to the served spec
        for path, operation in offered.items():
            where = path[len(platform.base_path) :]
            op = spec["paths"][where]["post"]
            body = op["requestBody"]["content"]["application/json"]["schema"]
            reply = op["responses"]["200"]["content"]["application/json"]["schema"]
            top = resolve_ref(spec, body)
            relaxed = has_strict(top) or has_strict(spec.get("components", {}))  # components: what nested $refs may reach
            strict_body = written["paths"][where]["post"]["requestBody"]["content"]["application/json"]["schema"]
            routes[path] = FastOperation(
                platform,
                operation,
                resolved["paths"][where]["post"]["requestBody"]["content"]["application/json"]["schema"],
                _compile(spec, body),
                _compile(spec, reply) if validate_replies else None,
                _compile(written, strict_body) if relaxed else None,
                {**top, "components": spec.get("components", {})} if relaxed else None,
                type(platform).authenticate is not Platform.authenticate,
                platform.handlers.get(operation) or (lambda p, ctx, body, op=operation: p.handle(ctx, op, body)),
                platform.secret_fields.isdisjoint(property_names(resolved["paths"][where]["post"]["responses"]["200"])),
            )
    return routes


def property_names(node: Any) -> set[str]:
    """Every property name a (resolved) schema declares, at any depth."""
    names: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            names.update(node["properties"])
        for value in node.values():
            names |= property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= property_names(value)
    return names


def schema_violations(op: FastOperation, body: Any) -> list[Violation]:
    """Why the body was refused, in the Connexion path's words (harness.server.schema_errors): refusals are rare, so
    the compiled validator only decides, and the readable report is built once, by the shared module."""
    return schema_errors.violations_for(schema_errors.validator(op.schema), body, op.schema, "body")


def _has_float(node: Any) -> bool:
    """Whether a parsed document holds a float anywhere (cheap for the flat documents of the hot path)."""
    kind = type(node)
    if kind is float:
        return True
    if kind is dict:
        node = node.values()
    elif kind is not list:
        return False
    for value in node:
        kind = type(value)
        if kind is float or ((kind is dict or kind is list) and _has_float(value)):
            return True
    return False


def parse(op: FastOperation, ctx: ExchangeContext, body: bytes, content_type: str, *, strict: bool, session_refused: str | None) -> Any:
    """The parsed request body (and the platform's request extras), before the gate; raises PlatformError."""
    platform = op.platform
    if strict and "json" not in content_type.lower():  # media types are case-insensitive (RFC 9110 §8.3.1)
        raise PlatformError(
            ErrorKind.MALFORMED,
            [
                Violation(
                    SCHEMA_RULE, "spec requestBody content application/json", f"content-type {content_type!r} is not JSON", "content-type"
                )
            ],
        )
    document: Any = _UNPARSED
    if not limits.needs_checks(body):  # deep, or a long digit run: the shared parser applies every limit (harness.limits)
        try:
            document = orjson.loads(body)  # it refuses NaN, Infinity and numbers beyond a double itself
        except orjson.JSONDecodeError:
            pass
    if document is _UNPARSED:  # the shared parser decides (and words the refusal) as on the Connexion path
        document = schema_errors.parse_json(body, utf8_clause=platform.body_clause, int_range=False)
        if document is None:
            raise schema_errors.body_required(op.schema)
        ctx.extras[RANGE_PENDING] = True  # the store range after the gate, as on the Connexion path (respond)
    ctx.document, ctx.parsed = document, True
    platform.request_extras(ctx, document)
    if session_refused is not None:  # an unknown or finished certification session's base path
        raise PlatformError(
            ErrorKind.NOT_FOUND, [Violation("SESSION", "harness certify start (session base path)", session_refused, "path")]
        )
    return document


def respond(op: FastOperation, ctx: ExchangeContext, body: bytes, document: Any, *, strict: bool) -> Any:
    """After the gate: validation, then the handler's reply document; raises PlatformError to refuse."""
    platform = op.platform
    if RANGE_PENDING in ctx.extras:  # only for bodies the shared parser read (limits.needs_checks)
        schema_errors.check_range(body, document)
    # The file's own reading first: conforming traffic is validated once.
    if op.strict is None or not op.strict.is_valid(document):
        if not op.request.is_valid(document):
            if _has_float(document):  # orjson reads integers beyond 64 bits as floats: report what was sent, exactly
                document = schema_errors.parse_json(body, utf8_clause=platform.body_clause)
            raise PlatformError(ErrorKind.MALFORMED, schema_violations(op, document))
        if op.decisions is not None:  # accepted only under a decision: a SHOULD verdict naming it
            warnings = decision_warnings(op.decisions, document, "body")
            if strict:
                raise PlatformError(ErrorKind.MALFORMED, warnings)
            ctx.fail(warnings)
    reply = op.handler(platform, ctx, document)
    if op.reply is not None and not op.reply.is_valid(reply):
        problems = "; ".join(e.message for e in op.reply.iter_errors(reply))
        log.error("reply of %s breaks the spec: %s", op.operation, problems)
        raise PlatformError(ErrorKind.INTERNAL, [Violation("REPLY-SCHEMA", "spec", f"the harness's reply breaks the spec: {problems}")])
    return reply


async def answer(
    op: FastOperation, ctx: ExchangeContext, body: bytes, content_type: str, *, strict: bool, session_refused: str | None
) -> Any:
    """The reply document of one fast operation; raises PlatformError to refuse (the exchange layer renders it)."""
    document = parse(op, ctx, body, content_type, strict=strict, session_refused=session_refused)
    if op.gated:
        await op.platform.authenticate(ctx)  # the gate, before schema validation, as on the Connexion path
    return respond(op, ctx, body, document, strict=strict)
