"""Assembling the reference server.

The request path is Connexion's middleware stack with harness layers at named places::

    SessionMiddleware       outermost: /_session/<id>/<platform>/… is served as /<platform>/… and journaled in session <id>
    FastPathMiddleware      next: the platforms' fast operations (DUDU), spec-driven, never reach Connexion
    ExchangeMiddleware      buffers the body, owns the ExchangeContext, guarantees an envelope, journals
    ServerErrorMiddleware   (Connexion)
    ExceptionMiddleware     (Connexion) with harness handlers: every error becomes the platform's own envelope
    SwaggerUIMiddleware     (Connexion) /<platform>/ui/
    RoutingMiddleware       (Connexion) stamps the operationId
    GateMiddleware          in Connexion's security slot: the platform's credentials/signature check
    RequestValidation…      (Connexion) with harness validators that name field, rule and clause
    ResponseValidation…, Lifespan…, Context…  (Connexion)
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote

from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.exceptions import ExceptionMiddleware
from connexion.middleware.lifespan import LifespanMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.server_error import ServerErrorMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness.config import Settings
from harness.conformance import sessions
from harness.control_gate import ControlGate
from harness.errors import PlatformError, Violation
from harness.journal import Exchange, Journal, origin_of
from harness.platform import ErrorKind, ExchangeContext, Platform, current_exchange
from harness.schema import open_store
from harness.server.fastpath import FastPathMiddleware
from harness.server.validators import VALIDATORS
from harness.specs import load_spec, served_profile
from harness.store import Store

log = logging.getLogger("harness.server")

ROUTING_KIND = {404: ErrorKind.NOT_FOUND, 405: ErrorKind.NOT_FOUND, 415: ErrorKind.MALFORMED, 400: ErrorKind.MALFORMED}
ROUTING_RULE = "ROUTING"
SESSION_PREFIX = "/_session/"
SESSION_RULE = "SESSION"
# Scope keys the session layer sets for the exchange layers below it.
SCOPE_SESSION = "harness.session"
SCOPE_SESSION_REFUSED = "harness.session_refused"


class SessionMiddleware:
    """``/_session/<id>/<rest>`` is served exactly as ``/<rest>``; the exchange layers journal it with ``session = <id>``.

    The path (and ``raw_path``) are rewritten here, in front of the fast path and Connexion, so both serve it unchanged.
    A session that is unknown or finished is refused by the exchange layer in the platform's own envelope (not-found).
    """

    def __init__(self, app: ASGIApp, *, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(SESSION_PREFIX):
            session_id, _, rest = scope["path"][len(SESSION_PREFIX) :].partition("/")
            prefix = f"{SESSION_PREFIX}{session_id}"
            scope = dict(scope)
            scope["path"] = "/" + rest
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                raw_prefix = prefix.encode("latin-1", "replace")
                scope["raw_path"] = (raw[len(raw_prefix) :] or b"/") if raw.startswith(raw_prefix) else scope["path"].encode()
            scope[SCOPE_SESSION] = session_id[:64]
            if not sessions.is_open(self.store, session_id):
                scope[SCOPE_SESSION_REFUSED] = (
                    f"no open certification session {session_id[:64]!r}: unknown or finished (harness certify sessions)"
                )
        await self.app(scope, receive, send)


def session_refusal(scope: Scope) -> PlatformError | None:
    """The not-found refusal of a request under an unknown or finished session's base path, if it is one."""
    reason = scope.get(SCOPE_SESSION_REFUSED)
    if reason is None:
        return None
    return PlatformError(ErrorKind.NOT_FOUND, [Violation(SESSION_RULE, "harness certify start (session base path)", reason, "path")])


def _is_docs_path(platform: Platform, path: str) -> bool:
    tail = path[len(platform.base_path) :]
    return tail.startswith("/ui") or tail in ("/openapi.json", "/openapi.yaml", "/swagger.json")


class ExchangeMiddleware:
    """Outermost layer: one ExchangeContext per platform call, an envelope whatever happens inside, a journal row."""

    def __init__(self, app: ASGIApp, *, platforms: list[Platform], journal: Journal, max_body: int) -> None:
        self.app = app
        self.platforms = platforms
        self.journal = journal
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        platform = next((p for p in self.platforms if p.owns(path)), None)
        if platform is None or _is_docs_path(platform, path):
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        body, too_large = await _read_body(receive, self.max_body)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        exchange = Exchange(
            platform=platform.name,
            method=scope["method"],
            path=path,
            query=unquote(scope.get("query_string", b"").decode("latin-1")),
            request_headers=headers,
            request_body=body,
            session=scope.get(SCOPE_SESSION),
            origin=origin_of(headers),
        )
        ctx = ExchangeContext(platform, exchange, body)
        token = current_exchange.set(ctx)
        status, reply_headers, reply = 200, [], b""
        try:
            refusal = session_refusal(scope)
            if refusal is not None:
                raise refusal
            if too_large:
                raise PlatformError(
                    ErrorKind.MALFORMED, [Violation("BODY-SIZE", "harness limit", f"request body exceeds {self.max_body} bytes", "body")]
                )
            status, reply_headers, reply = await _call(self.app, scope, body)
        except PlatformError as exc:
            ctx.fail(exc.violations)
            reply = platform.encode(platform.error(exc))
        except Exception:  # the safety net: never a stack trace on the wire
            log.exception("unhandled error in %s", path)
            reply = platform.encode(platform.error(_internal()))
        finally:
            current_exchange.reset(token)
        try:
            document = _json(reply)
            code = platform.reply_code(document)
        except ValueError:
            code = None
        if code is None:  # something below answered outside the envelope: replace it, keep the evidence
            log.error("non-envelope reply (HTTP %s) on %s: %r", status, path, reply[:200])
            error = _internal()
            ctx.fail(error.violations)
            reply = platform.encode(platform.error(error))
            code = platform.reply_code(_json(reply))
            status, reply_headers = 200, []
        exchange.status, exchange.reply_body, exchange.code = status, reply, code
        if not ctx.exchange.verdicts and not platform.reply_ok(_json(reply)):
            ctx.fail([Violation("REPLY", "", f"refused with code {code}")])
        exchange.duration_ms = (time.perf_counter() - started) * 1000
        await self.journal.record(exchange)
        kept = [(k, v) for k, v in reply_headers if k.lower() not in (b"content-length", b"content-type")]
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(reply)).encode()), *kept],
            }
        )
        await send({"type": "http.response.body", "body": reply})


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), size > limit


async def _call(app: ASGIApp, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    status, headers, parts = 500, [], []

    async def capture(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    await app(scope, replay, capture)
    return status, headers, b"".join(parts)


def _json(raw: bytes) -> Any:
    import json

    return json.loads(raw.decode("utf-8"))


def _internal() -> PlatformError:
    incident = uuid.uuid4().hex[:12]
    return PlatformError(ErrorKind.INTERNAL, [Violation("INTERNAL", "harness", f"internal error, incident {incident} (see server log)")])


class GateMiddleware:
    """In Connexion's security slot (after routing, before validation): the platform's credential check."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = current_exchange.get()
        if scope["type"] == "http" and ctx is not None:
            routing = scope.get("extensions", {}).get("connexion_routing", {})
            operation_id = routing.get("operation_id")
            if operation_id:
                ctx.operation = ctx.exchange.operation = operation_id.rsplit(".", 1)[-1]
                await ctx.platform.authenticate(ctx)
        await self.app(scope, receive, send)


def to_platform_error(exc: Exception, platform: Platform | None = None) -> PlatformError:
    if isinstance(exc, PlatformError):
        return exc
    not_found = platform.not_found_clause if platform is not None else "no such service"
    if isinstance(exc, ProblemException):
        kind = ROUTING_KIND.get(exc.status, ErrorKind.INTERNAL if exc.status >= 500 else ErrorKind.MALFORMED)
        detail = str(exc.detail or exc.title or exc.status)
        if exc.status >= 500:
            log.error("problem %s: %s", exc.status, detail)
            return _internal()
        if kind == ErrorKind.NOT_FOUND:
            return PlatformError(kind, [Violation(ROUTING_RULE, not_found, detail)])
        return PlatformError(kind, [Violation("SCHEMA", "spec", detail)])
    if isinstance(exc, HTTPException):
        kind = ROUTING_KIND.get(exc.status_code, ErrorKind.MALFORMED if exc.status_code < 500 else ErrorKind.INTERNAL)
        what = "no such service or resource" if exc.status_code == 404 else str(exc.detail)
        return PlatformError(kind, [Violation(ROUTING_RULE, not_found, what)])
    log.error("unhandled error", exc_info=exc)
    return _internal()


def _render_error(platforms: list[Platform], request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    ctx = current_exchange.get()
    platform = ctx.platform if ctx else next((p for p in platforms if p.owns(request.url.path)), None)
    error = to_platform_error(exc, platform)
    headers = dict(getattr(exc, "headers", None) or {})
    if ctx is not None:
        ctx.fail(error.violations)
    if platform is None:  # outside every platform (e.g. /): a plain JSON error, still no stack trace
        import json

        body = json.dumps({"error": error.summary}, ensure_ascii=False).encode()
        status = getattr(exc, "status_code", None) or getattr(exc, "status", None) or 500
        return ConnexionResponse(status_code=int(status), body=body, mimetype="application/json", headers=headers)
    return ConnexionResponse(status_code=200, body=platform.encode(platform.error(error)), mimetype="application/json", headers=headers)


def build_platforms(store: Store, settings: Settings) -> list[Platform]:
    from harness.platforms import PLATFORMS, platform_class

    return [platform_class(name)(store, settings) for name in PLATFORMS]


def create_app(settings: Settings | None = None, store: Store | None = None) -> AsyncApp:
    """The ASGI app serving every platform, the control API and Swagger UI."""
    settings = settings or Settings()
    store = store or open_store(settings.db)
    journal = Journal(store)
    platforms = build_platforms(store, settings)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        journal.start()
        try:
            yield
        finally:
            journal.stop()

    middlewares = [
        functools.partial(SessionMiddleware, store=store),
        functools.partial(ControlGate, settings=settings, platform_paths=[p.base_path for p in platforms]),  # harness/control_gate.py
        functools.partial(FastPathMiddleware, platforms=platforms, journal=journal, settings=settings),
        functools.partial(ExchangeMiddleware, platforms=platforms, journal=journal, max_body=settings.max_body_bytes),
        ServerErrorMiddleware,
        ExceptionMiddleware,
        SwaggerUIMiddleware,
        RoutingMiddleware,
        GateMiddleware,
        RequestValidationMiddleware,
        ResponseValidationMiddleware,
        LifespanMiddleware,
        ContextMiddleware,
    ]
    app = AsyncApp("harness", middlewares=middlewares, lifespan=lifespan, swagger_ui_options=SwaggerUIOptions(swagger_ui=True))
    for platform in platforms:
        app.add_api(
            load_spec(platform.spec_file, served_profile(settings.profile)),
            base_path=platform.base_path,
            name=platform.name,
            resolver=Resolver(function_resolver=platform.resolve),
            validator_map=VALIDATORS,
            strict_validation=settings.strict,
            validate_responses=settings.validate_responses,
        )
    from harness.control import ControlApi

    control = ControlApi(store, journal, settings)
    app.add_api(
        load_spec("harness/control.yaml"),
        base_path="/_harness",
        name="control",
        resolver=Resolver(function_resolver=control.resolve),
        validate_responses=settings.validate_responses,
    )
    render = functools.partial(_render_error, platforms)
    for exc_type in (PlatformError, ProblemException, HTTPException, Exception):
        app.add_error_handler(exc_type, render)
    app.state_store = store  # type: ignore[attr-defined]  # for tests and embedding
    app.state_journal = journal  # type: ignore[attr-defined]
    app.state_platforms = {p.name: p for p in platforms}  # type: ignore[attr-defined]
    return app
