"""Assembling the reference server.

The request path is Connexion's middleware stack with harness layers at named places::

    ExchangeMiddleware      outermost, the one exchange lifecycle (harness.server.exchange): /_session/<id>/<platform>/…
                            is served as /<platform>/… and journaled in session <id>; body, ExchangeContext, envelope,
                            journal and unit of work in one group commit; fast operations are answered there, the
                            rest goes on to Connexion below
    ControlGate             control routes (/_harness/…, /) for loopback clients or the control token
    ConsoleMount            the web console (harness.console): / and /console/…
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
import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.config import Settings
from harness.console import ConsoleMount, create_console
from harness.control_gate import ControlGate
from harness.errors import PlatformError, Violation
from harness.journal import Journal
from harness.platform import ErrorKind, Platform, current_exchange, internal_error
from harness.schema import open_store
from harness.server.exchange import ExchangeMiddleware
from harness.server.schema_errors import shorten
from harness.server.validators import CONTROL_VALIDATORS, VALIDATORS, lower_media_type
from harness.specs import load_spec, served_profile
from harness.store import Store

log = logging.getLogger("harness.server")

ROUTING_KIND = {404: ErrorKind.NOT_FOUND, 405: ErrorKind.NOT_FOUND, 415: ErrorKind.MALFORMED, 400: ErrorKind.MALFORMED}
ROUTING_RULE = "ROUTING"
PROBLEM_LIMIT = 300  # characters of a Connexion problem's detail kept in the refusal


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
                ctx.platform.request_extras(ctx, None)
                await ctx.platform.authenticate(ctx)
        await self.app(scope, receive, send)


class PlatformRequestGuard:
    """Two refusals and one normalisation for platform paths, before Connexion's docs and routing layers:

    - a platform's bare base path (``/yxc``) or a path with a trailing slash (``/yxc/coach/``) names no interface: it
      is answered not-found in the platform's envelope (Starlette would answer a bare 307 redirect, which a device or
      vendor client does not follow with its body); Swagger UI (``/<base>/ui/``) is served as before;
    - the Content-Type's media type is compared case-insensitively (RFC 9110 §8.3.1): it is lower-cased here, so that
      ``APPLICATION/JSON`` is validated and parsed as JSON by every Connexion layer below (which compare it as
      written), never handed to a handler as raw bytes. docs/security.md "Limits"."""

    def __init__(self, app: ASGIApp, *, platforms: list[Platform]) -> None:
        self.app = app
        self.bases = [p.base_path for p in platforms]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            for base in self.bases:
                if path == base or (path.startswith(base + "/") and path.endswith("/") and not path.startswith(base + "/ui/")):
                    raise HTTPException(404)
            scope = lower_media_type(scope)
        await self.app(scope, receive, send)


def to_platform_error(exc: Exception, platform: Platform | None = None) -> PlatformError:
    if isinstance(exc, PlatformError):
        return exc
    not_found = platform.not_found_clause if platform is not None else "no such service"
    if isinstance(exc, ProblemException):
        kind = ROUTING_KIND.get(exc.status, ErrorKind.INTERNAL if exc.status >= 500 else ErrorKind.MALFORMED)
        # Connexion's parameter validation passes jsonschema's str(error), which appends the whole schema and instance
        # ("Failed validating 'enum' in schema: …"): the first paragraph is the message.
        # It quotes the value it refused, which may be megabytes long: a refusal never echoes more than PROBLEM_LIMIT.
        detail = shorten(str(exc.detail or exc.title or exc.status).split("\n\n", 1)[0], PROBLEM_LIMIT)
        if exc.status >= 500:
            log.error("problem %s: %s", exc.status, detail)
            return internal_error()
        if kind == ErrorKind.NOT_FOUND:
            return PlatformError(kind, [Violation(ROUTING_RULE, not_found, detail)])
        return PlatformError(kind, [Violation("SCHEMA", "spec", detail)])
    if isinstance(exc, HTTPException):
        kind = ROUTING_KIND.get(exc.status_code, ErrorKind.MALFORMED if exc.status_code < 500 else ErrorKind.INTERNAL)
        what = "no such service or resource" if exc.status_code == 404 else str(exc.detail)
        return PlatformError(kind, [Violation(ROUTING_RULE, not_found, what)])
    log.error("unhandled error", exc_info=exc)
    return internal_error()


def path_methods(spec: dict[str, Any], base_path: str) -> list[tuple[re.Pattern[str], str]]:
    """Each path of a spec under its base path, as a pattern, with the methods it serves as an Allow header lists
    them. Starlette answers 405 with the methods of the first operation whose path matched: ``GET, HEAD`` for
    /_harness/faults, which serves POST and DELETE too."""
    found = []
    for path, item in (spec.get("paths") or {}).items():
        methods = [m.upper() for m in item if m in ("get", "put", "post", "delete", "patch", "options", "head")]
        if "GET" in methods and "HEAD" not in methods:
            methods.append("HEAD")
        pattern = re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(base_path + path)) + "$")
        found.append((pattern, ", ".join(sorted(methods))))
    return found


def _render_error(
    platforms: list[Platform], request: ConnexionRequest, exc: Exception, *, allowed: list[tuple[re.Pattern[str], str]] = ()
) -> ConnexionResponse:
    ctx = current_exchange.get()
    platform = ctx.platform if ctx else next((p for p in platforms if p.owns(request.url.path)), None)
    error = to_platform_error(exc, platform)
    headers = dict(getattr(exc, "headers", None) or {})
    if getattr(exc, "status_code", None) == 405:
        for pattern, methods in allowed:
            if pattern.match(request.url.path):
                headers = {k: v for k, v in headers.items() if k.lower() != "allow"} | {"Allow": methods}
                break
    if ctx is not None:
        ctx.fail(error.violations)
    if platform is None:  # outside every platform (e.g. /): a plain JSON error, still no stack trace
        import json

        body = json.dumps({"error": error.summary}, ensure_ascii=False).encode()
        status = getattr(exc, "status_code", None) or getattr(exc, "status", None) or 500
        return ConnexionResponse(status_code=int(status), body=body, mimetype="application/json", headers=headers)
    return ConnexionResponse(status_code=200, body=platform.encode(platform.error(error)), mimetype="application/json", headers=headers)


GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """For a serving process, once the app is built: what start-up made (specs, compiled validators, routes: some
    70,000 objects) moves out of the collector's reach (``gc.freeze``), and the young generation is collected every
    10,000 allocations instead of 700. An exchange makes no reference cycles, so this only stops the collector from
    re-scanning long-lived objects and in-flight requests: 10–15 % of the per-request cost of an accepted heartbeat
    (benchmarks/wrk_heartbeat.py). Embedders and tests keep the interpreter's defaults."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


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

    console = create_console(store, journal, settings, platforms)
    middlewares = [
        functools.partial(ExchangeMiddleware, platforms=platforms, journal=journal, settings=settings),
        # Below the exchange layer, which passes on only what it does not answer: a platform call never pays this layer.
        functools.partial(ControlGate, settings=settings, platform_paths=[p.base_path for p in platforms]),  # harness/control_gate.py
        functools.partial(ConsoleMount, console=console),  # harness/console: / and /console/…
        ServerErrorMiddleware,
        ExceptionMiddleware,
        functools.partial(PlatformRequestGuard, platforms=platforms),
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
    control_spec = load_spec("harness/control.yaml")
    app.add_api(
        control_spec,
        base_path="/_harness",
        name="control",
        resolver=Resolver(function_resolver=control.resolve),
        validator_map=CONTROL_VALIDATORS,  # the same input limits as a platform's (harness.limits), answered 400
        validate_responses=settings.validate_responses,
    )
    render = functools.partial(_render_error, platforms, allowed=path_methods(control_spec, "/_harness"))
    for exc_type in (PlatformError, ProblemException, HTTPException, Exception):
        app.add_error_handler(exc_type, render)
    console.try_it.app = app  # the console's try-it sends through the whole app
    app.state_store = store  # type: ignore[attr-defined]  # for tests and embedding
    app.state_journal = journal  # type: ignore[attr-defined]
    app.state_platforms = {p.name: p for p in platforms}  # type: ignore[attr-defined]
    return app
