"""The fast path: spec-driven serving of a platform's JSON operations without Connexion's per-request cost.

Connexion's request path costs about 0.2 × bare Starlette (shared/TOOLCHAIN.md), too slow for a fleet heartbeating
every 5 s. A platform that offers ``fast_operations()`` (path → operation) and ``handle(ctx, operation, body)`` has
those POSTs answered here instead, in front of Connexion:

    body (size-capped) → orjson parse → jsonschema-rs validator compiled at start-up from the same spec (profile
    applied) → platform rules and handler → optional reply validation → journal through the group-commit Journal
    (``LoopGroupCommit``: the reply is sent only after its batch commits) → orjson reply.

Every error is the platform's own envelope and every exchange is journaled with its verdicts, as on the Connexion
path. Anything else (docs, Swagger UI, unknown paths, other methods) falls through to Connexion unchanged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import jsonschema_rs
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.config import Settings
from harness.errors import PlatformError, Violation
from harness.journal import Exchange, Journal, LoopGroupCommit, origin_of
from harness.platform import ErrorKind, ExchangeContext, Platform, current_exchange
from harness.server.validators import SCHEMA_RULE, decision_warnings, has_strict
from harness.specs import load_spec, resolve_ref

log = logging.getLogger("harness.server.fastpath")
JSON_HEADERS = [(b"content-type", b"application/json; charset=utf-8")]


@dataclass(frozen=True)
class FastOperation:
    platform: Platform
    operation: str
    schema: dict[str, Any]  # the request body schema (refs resolved at the top), for clause look-ups
    request: Any  # jsonschema_rs validator of the served (derived) spec: what is accepted at all
    reply: Any | None  # jsonschema_rs validator, when replies are validated
    strict: Any | None = None  # jsonschema_rs validator of the file as written, when the served spec relaxed anything
    decisions: dict[str, Any] | None = None  # the served body schema with its components, for decision warnings


def _compile(spec: dict[str, Any], node: dict[str, Any]) -> Any:
    # The spec's components travel with the schema so that its internal $refs resolve.
    return jsonschema_rs.Draft4Validator({**node, "components": spec["components"]})


def compile_operations(platforms: list[Platform], validate_replies: bool) -> dict[str, FastOperation]:
    routes: dict[str, FastOperation] = {}
    for platform in platforms:
        offered = getattr(platform, "fast_operations", None)
        if offered is None:
            continue
        spec = platform.spec  # type: ignore[attr-defined]  # fast platforms keep their loaded (served) spec
        written = load_spec(platform.spec_file, "strict")
        for path, operation in offered().items():
            where = path[len(platform.base_path) :]
            op = spec["paths"][where]["post"]
            body = op["requestBody"]["content"]["application/json"]["schema"]
            reply = op["responses"]["200"]["content"]["application/json"]["schema"]
            top = resolve_ref(spec, body)
            relaxed = has_strict(top) or has_strict(spec["components"])  # components: what nested $refs may reach
            strict_body = written["paths"][where]["post"]["requestBody"]["content"]["application/json"]["schema"]
            routes[path] = FastOperation(
                platform,
                operation,
                top,
                _compile(spec, body),
                _compile(spec, reply) if validate_replies else None,
                _compile(written, strict_body) if relaxed else None,
                {**top, "components": spec["components"]} if relaxed else None,
            )
    return routes


def _clause(schema: dict[str, Any], path: list[Any]) -> str:
    best = schema.get("x-clause", "")
    node: Any = schema
    for part in path:
        props = node.get("properties", {}) if isinstance(node, dict) else {}
        if part not in props:
            break
        node = props[part]
        best = node.get("x-clause", best)
    return best


def schema_violations(op: FastOperation, body: Any) -> list[Violation]:
    out = []
    for error in op.request.iter_errors(body):
        path = [str(p) for p in error.instance_path]
        message = error.message
        kind = error.schema_path[-1] if error.schema_path else ""
        if kind == "required" and '"' in message:
            path.append(message.split('"')[1])
        elif kind == "additionalProperties" and "'" in message:
            path.append(message.split("'")[1])
        if len(message) > 160:
            message = message[:157] + "…"
        out.append(Violation(SCHEMA_RULE, _clause(op.schema, path), f"{message} ({kind})", ".".join(["body", *path])))
    return out


class FastPathMiddleware:
    """Outermost layer: answers the platforms' fast operations, passes everything else to the app below."""

    def __init__(self, app: ASGIApp, *, platforms: list[Platform], journal: Journal, settings: Settings) -> None:
        self.app = app
        self.commit = LoopGroupCommit(journal.store)  # same table and durability as the Journal, cheaper on this path
        self.max_body = settings.max_body_bytes
        self.strict = settings.strict
        self.routes = compile_operations(platforms, settings.validate_responses)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        op = self.routes.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if op is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body, too_large = await _read_body(receive, self.max_body)
        platform = op.platform
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        exchange = Exchange(
            platform=platform.name,
            method="POST",
            path=scope["path"],
            query=unquote(scope.get("query_string", b"").decode("latin-1")),
            request_headers=headers,
            request_body=body,
            operation=op.operation,
            session=scope.get("harness.session"),  # set by the session layer (harness.server.app.SessionMiddleware)
            origin=origin_of(headers),
        )
        ctx = ExchangeContext(platform, exchange, body, operation=op.operation)
        token = current_exchange.set(ctx)
        try:
            reply = self._answer(op, ctx, body, too_large, headers.get("content-type", ""), scope.get("harness.session_refused"))
        finally:
            current_exchange.reset(token)
        raw = platform.encode(reply)
        exchange.status, exchange.reply_body, exchange.code = 200, raw, platform.reply_code(reply)
        journal_form = getattr(platform, "journal_form", None)
        if journal_form is not None and platform.reply_ok(reply):  # the platform may keep bulky parts once, by digest
            kept, writes = journal_form(op.operation, reply)
            if kept is not reply:
                exchange.reply_body = platform.encode(kept)
                exchange.writes.extend(writes)
        if not exchange.verdicts and not platform.reply_ok(reply):
            ctx.fail([Violation("REPLY", "", f"refused with code {exchange.code}")])
        exchange.duration_ms = (time.perf_counter() - started) * 1000
        try:
            await self.commit.record(exchange)  # group commit: the reply leaves only once its journal row is durable
        except Exception:  # unjournaled means unacknowledged: its state changes were rolled back with it
            log.exception("journal write failed for %s", op.operation)
            error = PlatformError(
                ErrorKind.INTERNAL, [Violation("INTERNAL", "harness", "the exchange could not be journaled (see server log)")]
            )
            token = current_exchange.set(ctx)
            raw = platform.encode(platform.error(error))
            current_exchange.reset(token)
        await send({"type": "http.response.start", "status": 200, "headers": [*JSON_HEADERS, (b"content-length", str(len(raw)).encode())]})
        await send({"type": "http.response.body", "body": raw})

    def _answer(
        self, op: FastOperation, ctx: ExchangeContext, body: bytes, too_large: bool, content_type: str, session_refused: str | None = None
    ) -> Any:
        platform = op.platform
        try:
            if too_large:
                raise PlatformError(
                    ErrorKind.MALFORMED, [Violation("BODY-SIZE", "harness limit", f"request body exceeds {self.max_body} bytes", "body")]
                )
            if self.strict and "json" not in content_type:
                raise PlatformError(
                    ErrorKind.MALFORMED,
                    [
                        Violation(
                            SCHEMA_RULE,
                            "spec requestBody content application/json",
                            f"content-type {content_type!r} is not JSON",
                            "content-type",
                        )
                    ],
                )
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError as exc:  # includes bodies that are not UTF-8
                raise PlatformError(
                    ErrorKind.MALFORMED, [Violation(SCHEMA_RULE, "request body must be UTF-8 JSON", f"malformed JSON: {exc}", "body")]
                ) from None
            if isinstance(document, dict) and isinstance(document.get("req_id"), str):
                ctx.extras["req_id"] = document["req_id"]
            if session_refused is not None:  # an unknown or finished certification session's base path
                raise PlatformError(
                    ErrorKind.NOT_FOUND, [Violation("SESSION", "harness certify start (session base path)", session_refused, "path")]
                )
            # The file's own reading first: conforming traffic is validated once.
            if op.strict is None or not op.strict.is_valid(document):
                if not op.request.is_valid(document):
                    raise PlatformError(ErrorKind.MALFORMED, schema_violations(op, document))
                if op.decisions is not None:  # accepted only under a decision: a SHOULD verdict naming it
                    warnings = decision_warnings(op.decisions, document, "body")
                    if self.strict:
                        raise PlatformError(ErrorKind.MALFORMED, warnings)
                    ctx.fail(warnings)
            reply = platform.handle(ctx, op.operation, document)  # type: ignore[attr-defined]
            if op.reply is not None and not op.reply.is_valid(reply):
                problems = "; ".join(e.message for e in op.reply.iter_errors(reply))
                log.error("reply of %s breaks the spec: %s", op.operation, problems)
                raise PlatformError(
                    ErrorKind.INTERNAL, [Violation("REPLY-SCHEMA", "spec", f"the harness's reply breaks the spec: {problems}")]
                )
            return reply
        except PlatformError as exc:
            self._discard_writes(ctx)  # a refused exchange changes no state
            ctx.fail(exc.violations)
            return platform.error(exc)
        except Exception:  # the safety net: never a stack trace on the wire
            self._discard_writes(ctx)
            log.exception("unhandled error in %s", op.operation)
            error = PlatformError(ErrorKind.INTERNAL, [Violation("INTERNAL", "harness", "internal error (see server log)")])
            ctx.fail(error.violations)
            return platform.error(error)

    def _discard_writes(self, ctx: ExchangeContext) -> None:
        exchange = ctx.exchange
        if exchange.writes_cached:  # already applied to a write-through cache, which is now ahead of the store
            self.commit.store.generation += 1
            exchange.writes_cached = False
        exchange.writes.clear()


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):  # the common case: one message
        return body, len(body) > limit
    chunks, size = [body], len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    return b"".join(chunks), size > limit
