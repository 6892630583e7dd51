"""One exchange lifecycle for every platform call, whichever way it is answered.

:class:`ExchangeMiddleware` is the outermost harness layer (after the session rewrite). For every request to a
platform's base path (docs and Swagger UI excepted) it:

1. reads the body (capped at ``max_body_bytes``: larger is refused, never buffered);
2. builds the :class:`~harness.journal.Exchange` and the :class:`~harness.platform.ExchangeContext` every layer reaches
   through ``current_exchange``;
3. has it answered by a compiled fast operation (harness.server.fastpath) or by the Connexion stack below (routing,
   the platform's gate, validation, handler) — the platform's gate (``authenticate``) runs before schema validation on
   both;
4. guarantees the platform's own envelope whatever happened (one internal-error wording, with an incident id);
5. adds the REPLY verdict for a refusal no rule explained, keeps the reply document and the wire digest, and lets the
   platform choose the journal form of a delivered reply;
6. journals it through the one group-commit writer (:class:`~harness.journal.LoopGroupCommit`) together with the
   exchange's unit of work: the reply leaves only once its row and state changes are durable; a refused or
   unjournaled exchange rolls its unit back.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harness import faults
from harness.config import Settings
from harness.conformance import sessions
from harness.errors import PlatformError, Violation
from harness.journal import Exchange, Journal, LoopGroupCommit, origin_of
from harness.limits import BODY_TIMEOUT_SECONDS
from harness.platform import ErrorKind, ExchangeContext, Platform, current_exchange, internal_error
from harness.server import fastpath
from harness.store import StoreUnreachable
from harness.unit_of_work import ClaimConflict

log = logging.getLogger("harness.server")


class _OutageLog:
    """An exchange that fails because the store cannot be reached is logged as part of the outage: its first one in
    one line, then a line every :attr:`EVERY` seconds counting the exchanges answered with the internal error since
    (a traceback per exchange would flood the log, a hundred a second during a database outage, and fill a pipe the
    log goes to). Any other failure keeps its traceback."""

    EVERY = 10.0

    def __init__(self) -> None:
        self.logged_at = -float("inf")
        self.since = 0

    def failed(self, what: str, path: str, summary: str, exc: BaseException | None) -> None:
        lost = _unreachable(exc)
        if lost is None:
            log.error("%s %s: %s", what, path, summary, exc_info=exc)
            return
        now = time.monotonic()
        if now - self.logged_at < self.EVERY:
            self.since += 1
            return
        more = f" ({self.since} more exchanges answered with the internal error in the last {self.EVERY:g} s)" if self.since else ""
        log.error("%s %s: %s: %s%s", what, path, summary, lost, more)
        self.logged_at, self.since = now, 0


def _unreachable(exc: BaseException | None) -> StoreUnreachable | None:
    """The store-unreachable error ``exc`` is or was raised from, if any."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, StoreUnreachable):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


# Scope keys of the session rewrite (session_scope).
SESSION_PREFIX = "/_session/"
SCOPE_SESSION = "harness.session"
SCOPE_SESSION_REFUSED = "harness.session_refused"
SCOPE_STORE_ERROR = "harness.store_error"  # the session could not be looked up (the error): the store is unreachable
SESSION_RULE = "SESSION"
JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")
NO_HEADERS: list[tuple[bytes, bytes]] = []  # never mutated


def session_scope(scope: Scope, store: Any) -> Scope:
    """``/_session/<id>/<rest>`` is served exactly as ``/<rest>`` (path and ``raw_path`` rewritten, for the fast path
    and Connexion alike) and journaled with ``session = <id>``; an unknown or finished session is marked, and refused
    by the exchange in the platform's own envelope (not-found)."""
    session_id, _, rest = scope["path"][len(SESSION_PREFIX) :].partition("/")
    prefix = f"{SESSION_PREFIX}{session_id}"
    scope = dict(scope)
    scope["path"] = "/" + rest
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        raw_prefix = prefix.encode("latin-1", "replace")
        scope["raw_path"] = (raw[len(raw_prefix) :] or b"/") if raw.startswith(raw_prefix) else scope["path"].encode()
    scope[SCOPE_SESSION] = session_id[:64]
    try:
        is_open = sessions.is_open(store, session_id)
    except Exception as exc:  # noqa: BLE001 - the store is unreachable: the exchange fails in the platform's envelope
        scope[SCOPE_STORE_ERROR] = exc
        return scope
    if not is_open:
        scope[SCOPE_SESSION_REFUSED] = f"no open certification session {session_id[:64]!r}: unknown or finished (harness certify sessions)"
    return scope


def session_refusal(scope: Scope) -> PlatformError | None:
    """The not-found refusal of a request under an unknown or finished session's base path, if it is one."""
    reason = scope.get(SCOPE_SESSION_REFUSED)
    if reason is None:
        return None
    return PlatformError(ErrorKind.NOT_FOUND, [Violation(SESSION_RULE, "harness certify start (session base path)", reason, "path")])


def _is_docs_path(platform: Platform, path: str) -> bool:
    tail = path[len(platform.base_path) :]
    return tail.startswith("/ui") or tail in ("/openapi.json", "/openapi.yaml", "/swagger.json")


def too_large(limit: int) -> PlatformError:
    return PlatformError(ErrorKind.MALFORMED, [Violation("BODY-SIZE", "harness limit", f"request body exceeds {limit} bytes", "body")])


class ExchangeMiddleware:
    """The exchange lifecycle (module docstring): fast operations answered here, the rest by the app below."""

    def __init__(self, app: ASGIApp, *, platforms: list[Platform], journal: Journal, settings: Settings) -> None:
        self.app = app
        self.platforms = platforms
        self.journal = journal
        self.commit = LoopGroupCommit(journal.store)  # the one writer: same table and durability as Journal
        self.max_body = settings.max_body_bytes
        self.body_timeout = settings.body_timeout_seconds
        self.strict = settings.strict
        self.routes = fastpath.compile_operations(platforms, settings.validate_responses)
        self.faults = faults.FaultBook(journal.store)  # resilience drills (harness/faults.py)
        self.outage = _OutageLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(SESSION_PREFIX):
            scope = session_scope(scope, self.journal.store)
            path = scope["path"]
        op = self.routes.get(path) if scope["method"] == "POST" else None
        platform = op.platform if op is not None else next((p for p in self.platforms if p.owns(path)), None)
        if platform is None or (op is None and _is_docs_path(platform, path)):
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        body, unread = await read_body(receive, self.max_body, self.body_timeout)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        operation = op.operation if op is not None else None
        exchange = Exchange(
            platform=platform.name,
            method=scope["method"],
            path=path,
            query=unquote(raw_query.decode("latin-1")) if (raw_query := scope.get("query_string")) else "",
            request_headers=headers,
            request_body=body,
            operation=operation,
            session=scope.get(SCOPE_SESSION),
            origin=origin_of(headers),
            masker=platform.masker,
            headers_lowercase=True,
        )
        ctx = ExchangeContext(platform, exchange, body, operation=operation)
        if scope.get(SCOPE_STORE_ERROR):  # nothing can be looked up nor journaled: the platform's internal error
            error = internal_error()
            self.outage.failed("store unreachable on", path, error.summary, scope.get(SCOPE_STORE_ERROR))
            token = current_exchange.set(ctx)  # the envelope may need the exchange (DUDU echoes req_id)
            raw = platform.encode(platform.error(error))
            current_exchange.reset(token)
            await send({"type": "http.response.start", "status": 200, "headers": [JSON_TYPE, (b"content-length", str(len(raw)).encode())]})
            await send({"type": "http.response.body", "body": raw})
            return
        drills = self.faults.rules(platform.name)  # None unless a fault is on for this platform (harness/faults.py)
        if drills is not None and await self.faults.intercept(drills, ctx, self.commit, send, started):
            return  # the fault answered, or dropped the connection; journaled with the fault named
        token = current_exchange.set(ctx)
        try:
            if op is not None and not op.gated and unread is None:  # the hot path: no coroutine in between
                status, reply_headers, raw, document = self._answer_fast(op, ctx, scope, body, headers)
            else:
                status, reply_headers, raw, document = await self._answer(op, ctx, scope, body, unread, headers)
            code = platform.reply_code(document)
            if code is None:  # something below answered outside the envelope: replace it, keep the evidence
                log.error("non-envelope reply (HTTP %s) on %s: %r", status, path, raw[:200])
                document = self._refusal(ctx, internal_error())
                raw, status, reply_headers = platform.encode(document), 200, []
                code = platform.reply_code(document)
            exchange.status, exchange.code = status, code
            delivered = platform.reply_ok(document)
            if not delivered:
                exchange.work.rolled_back()  # a refused exchange changes no state (on either path)
            elif op is not None:
                exchange.reply_secret_free = op.reply_secret_free
            kept, writes = platform.journal_form(ctx.operation or "", document) if delivered else (document, [])
            if kept is not document:  # the platform keeps bulky parts once, by digest
                exchange.sent(raw, platform.encode(kept))
                for sql, params in writes:
                    exchange.work.write(sql, params, cached=True)  # snapshot tables no cache holds
            else:
                record_sent(platform, exchange, raw, document)
            if not exchange.verdicts and not delivered:
                ctx.fail([Violation("REPLY", "", f"refused with code {code}")])
            exchange.duration_ms = (time.perf_counter() - started) * 1000
        finally:
            current_exchange.reset(token)
        try:
            try:
                await self.commit.record(exchange)  # group commit: the reply leaves only once its journal row is durable
            except ClaimConflict as lost:  # another exchange claimed the same row first: refused as its rule refuses
                raw = self._refused_at_commit(ctx, lost.refusal())
                status, reply_headers = 200, []
                await self.commit.record(exchange)
        except Exception as exc:  # unjournaled means unacknowledged: its state changes were rolled back with it
            error = internal_error()
            self.outage.failed("journal write failed on", path, error.summary, exc)
            token = current_exchange.set(ctx)  # the envelope may need the exchange (DUDU echoes req_id)
            raw, status, reply_headers = platform.encode(platform.error(error)), 200, []
            current_exchange.reset(token)
        out = [JSON_TYPE, (b"content-length", str(len(raw)).encode())]
        if reply_headers:
            out += [(k, v) for k, v in reply_headers if k.lower() not in (b"content-length", b"content-type")]
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": raw})

    def _answer_fast(
        self, op: fastpath.FastOperation, ctx: ExchangeContext, scope: Scope, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, Any]:
        """:meth:`_answer` for a fast operation of a platform without a gate (nothing to await)."""
        platform = ctx.platform
        try:
            content_type, refused = headers.get("content-type", ""), scope.get(SCOPE_SESSION_REFUSED)
            document = fastpath.parse(op, ctx, body, content_type, strict=self.strict, session_refused=refused)
            document = fastpath.respond(op, ctx, body, document, strict=self.strict)
        except PlatformError as exc:
            document = self._refusal(ctx, exc)
        except Exception as exc:  # the safety net: never a stack trace on the wire
            error = internal_error()
            self.outage.failed("unhandled error in", scope["path"], error.summary, exc)
            document = self._refusal(ctx, error)
        return 200, NO_HEADERS, platform.encode(document), document

    async def _answer(
        self,
        op: fastpath.FastOperation | None,
        ctx: ExchangeContext,
        scope: Scope,
        body: bytes,
        unread: PlatformError | None,
        headers: dict[str, str],
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, Any]:
        """(status, headers, wire bytes, reply document); every failure becomes the platform's envelope."""
        platform = ctx.platform
        try:
            if unread is not None:  # too large, or not received in full (harness.server.exchange.read_body)
                raise unread
            if op is not None:
                content_type, refused = headers.get("content-type", ""), scope.get(SCOPE_SESSION_REFUSED)
                document = fastpath.parse(op, ctx, body, content_type, strict=self.strict, session_refused=refused)
                if op.gated:
                    await platform.authenticate(ctx)  # the gate, before schema validation, as on the Connexion path
                document = fastpath.respond(op, ctx, body, document, strict=self.strict)
                return 200, [], platform.encode(document), document
            refusal = session_refusal(scope)
            if refusal is not None:
                raise refusal
            status, reply_headers, raw = await _call(self.app, scope, body)
        except PlatformError as exc:
            document = self._refusal(ctx, exc)
            return 200, [], platform.encode(document), document
        except Exception as exc:  # the safety net: never a stack trace on the wire
            error = internal_error()
            self.outage.failed("unhandled error in", scope["path"], error.summary, exc)
            document = self._refusal(ctx, error)
            return 200, [], platform.encode(document), document
        try:
            document = platform.decode_reply(raw)
        except ValueError:
            document = None
        return status, reply_headers, raw, document

    def _refused_at_commit(self, ctx: ExchangeContext, error: PlatformError) -> bytes:
        """The wire bytes of an exchange whose unit of work lost a claim at commit (harness.unit_of_work), now answered
        and journaled as refused by ``error``: the held verdicts of the rules it names give way to its failures."""
        exchange, platform = ctx.exchange, ctx.platform
        token = current_exchange.set(ctx)
        try:
            named = {v.rule for v in error.violations}
            exchange.verdicts = [v for v in exchange.verdicts if not (v.held and v.rule in named)]
            document = self._refusal(ctx, error)
            raw = platform.encode(document)
            exchange.status, exchange.code, exchange.reply_secret_free = 200, platform.reply_code(document), False
            record_sent(platform, exchange, raw, document)
        finally:
            current_exchange.reset(token)
        return raw

    @staticmethod
    def _refusal(ctx: ExchangeContext, error: PlatformError) -> Any:
        ctx.exchange.work.rolled_back()  # a refused exchange changes no state
        ctx.fail(error.violations)
        return ctx.platform.error(error)


def record_sent(platform: Platform, exchange: Exchange, raw: bytes, document: Any) -> None:
    """Journal what was sent: the wire bytes, which are the document itself for a JSON platform; otherwise (an
    encrypted or binary reply) the document as JSON text, what was meant, and the wire bytes beside it."""
    if platform.wire_is_document:
        exchange.sent(raw)
    else:
        exchange.sent(raw, orjson.dumps(document), keep_wire=True)


BODY_DEADLINE = "harness: request body deadline"  # the cancel message of read_body's own timer


class _Deadlines:
    """The body deadlines of one event loop's exchanges in flight, checked by one timer while any is pending (a
    timer handle per request costs about 2.5 µs; this costs a dict entry): a task still reading its body ``timeout``
    seconds after it began is cancelled with :data:`BODY_DEADLINE`, which :func:`read_body` turns into its refusal.
    Granularity: a quarter of the timeout, at most one second. Times are ``time.monotonic()`` (any event loop)."""

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.tick_seconds = min(1.0, timeout / 4)
        self.tasks: dict[asyncio.Task[Any], float] = {}  # task -> when it began reading
        self.armed = False

    _last: _Deadlines | None = None  # the one a serving process uses, without a weak-dictionary look-up

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop, timeout: float) -> _Deadlines:
        found = cls._by_loop.get(loop)
        if found is None or found.timeout != timeout:
            found = cls._by_loop[loop] = cls(loop, timeout)
        cls._last = found
        return found

    def arm(self) -> None:
        self.armed = True
        self.loop.call_later(self.tick_seconds, self.tick)

    def tick(self) -> None:
        began_by = time.monotonic() - self.timeout
        for task, began in list(self.tasks.items()):
            if began <= began_by:
                del self.tasks[task]
                task.cancel(BODY_DEADLINE)
        self.armed = False
        if self.tasks:
            self.arm()


def incomplete(why: str) -> PlatformError:
    return PlatformError(ErrorKind.MALFORMED, [Violation("BODY-INCOMPLETE", "harness limit: body read timeout", why, "body")])


async def read_body(receive: Receive, limit: int, timeout: float = BODY_TIMEOUT_SECONDS) -> tuple[bytes, PlatformError | None]:
    """The request body and, when it cannot be answered, the refusal: larger than ``limit`` (then only the first
    ``limit`` bytes are kept), not received in full within ``timeout`` seconds of the request (a client that announces
    1,000 bytes and sends 5), or cut short by the client's disconnect. A refused body changes no state.

    The deadline is kept by :class:`_Deadlines` (one timer per event loop, not one per request: the common
    single-message body must stay cheap on the heartbeat path)."""
    task = asyncio.current_task()
    deadlines = None
    if task is not None:  # inline: this runs for every exchange (the heartbeat path is benchmarked)
        deadlines = _Deadlines._last
        loop = asyncio.get_running_loop()
        if deadlines is None or deadlines.loop is not loop or deadlines.timeout != timeout:
            deadlines = _Deadlines.of(loop, timeout)
        deadlines.tasks[task] = time.monotonic()
        if not deadlines.armed:
            deadlines.arm()
    chunks: list[bytes] = []
    size = 0
    try:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", incomplete("the client disconnected before sending the request body")
        body = message.get("body", b"")
        if not message.get("more_body", False):  # the common case: one message
            return body, (too_large(limit) if len(body) > limit else None)
        chunks, size = [body], len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), incomplete(f"the client disconnected after {size} bytes of the request body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
    except asyncio.CancelledError as exc:
        if exc.args != (BODY_DEADLINE,):
            raise
        task.uncancel()  # type: ignore[union-attr]  # our own deadline, not a cancellation from outside
        if size > limit:
            return b"".join(chunks), too_large(limit)
        return b"".join(chunks), incomplete(f"request body not received in full within {timeout:g} s ({size} bytes arrived)")
    finally:
        if deadlines is not None:
            deadlines.tasks.pop(task, None)
    return b"".join(chunks), (too_large(limit) if size > limit else None)


async def _call(app: ASGIApp, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run the app below on the buffered body; capture its reply."""
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
