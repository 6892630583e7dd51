"""What every reference platform provides. The server machinery (envelopes on errors, the signing gate, the
journal) talks to platforms only through this interface, so a new platform is one folder that subclasses it."""

from __future__ import annotations

import contextvars
import inspect
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness import masking
from harness.errors import PlatformError, Violation
from harness.journal import Exchange
from harness.rules import STOP_AT_FIRST, RuleSet, Verdict

if TYPE_CHECKING:
    from harness.config import Settings
    from harness.pki import Vendor
    from harness.store import Store


class ErrorKind:
    """Platform-neutral refusal kinds; each platform maps them to its own codes."""

    FAILED = "failed"  # well-formed, but a business rule failed
    MALFORMED = "malformed"  # cannot be parsed or violates the interface definition
    NOT_FOUND = "not_found"  # no such service or resource
    TIMESTAMP = "timestamp"  # timestamp repeated or wrong
    CERTIFICATE = "certificate"  # credentials or signature rejected
    INTERNAL = "internal"  # the harness itself failed; never a stack trace


@dataclass
class ExchangeContext:
    """Everything known about the exchange in flight; reachable from any layer through ``current_exchange``."""

    platform: Platform
    exchange: Exchange
    body: bytes
    operation: str | None = None
    vendor: Vendor | None = None
    payload: bytes | None = None  # the signed payload, when it is not the body (multipart uploads)
    extras: dict[str, Any] = field(default_factory=dict)
    # The body as parsed JSON, once a layer has parsed it (the fast path does, before the gate): hooks need not parse
    # it again. ``parsed`` tells "not parsed yet" from a body that is JSON null.
    document: Any = None
    parsed: bool = False

    def __post_init__(self) -> None:
        if self.exchange.masker is None:  # its secrets are masked under this store's key
            self.exchange.masker = getattr(self.platform, "masker", None)

    def add(self, verdicts: list[Verdict]) -> None:
        self.exchange.verdicts.extend(verdicts)

    def fail(self, violations: list[Violation]) -> None:
        known = {(v.rule, v.message) for v in self.exchange.verdicts if not v.held}
        for v in violations:
            if (v.rule, v.message) not in known:
                self.exchange.verdicts.append(Verdict(v.rule, v.clause, False, v.message, v.field, v.level, v.decision))


current_exchange: contextvars.ContextVar[ExchangeContext | None] = contextvars.ContextVar("harness_exchange", default=None)


Handler = Callable[..., Any]


class Handlers:
    """The operations of one platform, registered in its ``handlers.py`` under the last part of their operationId
    (``harness.<p>.handlers.<name>``). A handler is ``fn(platform, ctx, body, **params)`` returning the reply document
    (or a ready Response), sync or async; the Connexion path and the fast path both dispatch through it."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self._ops: dict[str, Handler] = {}

    def operation(self, fn: Handler | None = None, *, name: str | None = None, aliases: tuple[str, ...] = ()) -> Any:
        def register(f: Handler) -> Handler:
            for key in (name or f.__name__, *aliases):
                self._ops[key] = f
            return f

        return register(fn) if fn is not None else register

    def get(self, name: str) -> Handler | None:
        return self._ops.get(name)

    def names(self) -> list[str]:
        return list(self._ops)


def internal_error() -> PlatformError:
    """The one refusal for the harness's own failure, on every path: an incident id the server log names."""
    incident = uuid.uuid4().hex[:12]
    return PlatformError(ErrorKind.INTERNAL, [Violation("INTERNAL", "harness", f"internal error, incident {incident} (see server log)")])


def exchange_context() -> ExchangeContext:
    ctx = current_exchange.get()
    if ctx is None:
        raise RuntimeError("no exchange in flight")
    return ctx


class Platform:
    """Base class for a reference platform served under ``base_path`` from ``spec_file``."""

    name: str = ""
    base_path: str = ""
    spec_file: str = ""
    title: str = ""
    # The platform's operations (its handlers.py); an empty set serves nothing.
    handlers: Handlers = Handlers("")
    # The clause an unknown service or wrong method is refused under, in this platform's own words.
    not_found_clause: str = "no such service"
    # Fields (JSON keys, query parameters) whose values are secrets: masked by keyed hash in the journal, reports and
    # logs (harness.masking.SecretMasker). Credential headers (Authorization, Cookie) are masked on every platform.
    secret_fields: frozenset[str] = frozenset()
    # Those of them hashed upper-cased (ID numbers whose check character may be sent as x or X), so that two rows'
    # spellings of one number still match by their keyed hash.
    secret_upper_fields: frozenset[str] = frozenset()
    # False when encode() does not put the reply document itself on the wire (an encrypted or binary reply): the
    # journal then keeps the document as JSON text and the wire bytes beside it.
    wire_is_document: bool = True
    # The clause a body that is not UTF-8 is refused under, in this platform's own words.
    body_clause: str = "request body must be UTF-8 JSON"

    def __init__(self, store: Store, settings: Settings) -> None:
        from harness.specs import load_spec, served_profile

        self.store = store
        self.settings = settings
        self.rules = RuleSet(self.name)
        self.masker = masking.masker(store, self.secret_fields, self.secret_upper_fields)
        masking.register(self.name, self.masker)
        # The served spec (profile applied): what Connexion serves and the fast path compiles.
        self.spec: dict[str, Any] = load_spec(self.spec_file, served_profile(settings.profile)) if self.spec_file else {}

    # -- envelopes ---------------------------------------------------------------------------------------------
    def ok(self, data: Any = None) -> dict[str, Any]:
        raise NotImplementedError

    def error(self, error: PlatformError) -> dict[str, Any]:
        raise NotImplementedError

    def reply_code(self, reply: Any) -> str | None:
        """The platform code in a reply, as text (for the journal), or None when the reply is not an envelope."""
        raise NotImplementedError

    def reply_ok(self, reply: Any) -> bool:
        raise NotImplementedError

    @staticmethod
    def encode(document: Any) -> bytes:
        """The reply document as the bytes that go on the wire. Default: compact UTF-8 JSON."""
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def decode_reply(self, raw: bytes) -> Any:
        """The reply document of wire bytes a Connexion handler produced (the inverse of :meth:`encode`); raise
        ValueError when they are not one. Default: UTF-8 JSON."""
        return json.loads(raw.decode("utf-8"))

    # -- request path ------------------------------------------------------------------------------------------
    def request_extras(self, ctx: ExchangeContext, document: Any) -> None:
        """Keep what the reply needs from the request whatever happens next (DUDU: req_id), before the gate. The fast
        path passes the parsed body; the Connexion path passes None (the body is not parsed yet: parse ``ctx.body``
        if you need it). Default: nothing."""

    async def authenticate(self, ctx: ExchangeContext) -> None:
        """The gate, on both request paths, before schema validation: raise PlatformError to refuse. Default: nothing
        to check."""

    def fast_operations(self) -> dict[str, str]:
        """Paths (``/<base>/<op>``, POST, JSON) answered by the fast path → operation name. Default: none."""
        return {}

    def handle(self, ctx: ExchangeContext, operation: str, body: Any) -> Any:
        """Answer a fast operation with the reply document (an envelope); raise PlatformError to refuse."""
        handler = self.handlers.get(operation)
        if handler is None:
            raise NotImplementedError(f"{self.name} offers no operation {operation}")
        return handler(self, ctx, body)

    def journal_form(self, operation: str, reply: Any) -> tuple[Any, list[tuple[str, tuple[Any, ...]]]]:
        """What the journal keeps of a delivered reply, and the writes that keep the rest. Default: the reply itself."""
        return reply, []

    def resolve(self, operation_id: str) -> Callable[..., Any]:
        """The Connexion endpoint of an operationId of this platform's spec: its handler from :attr:`handlers`."""
        from starlette.responses import Response

        name = operation_id.rsplit(".", 1)[-1]
        handler = self.handlers.get(name)
        if handler is None:
            raise LookupError(f"no {self.name} handler for {operation_id}")

        async def endpoint(*args: Any, **kwargs: Any) -> Any:
            result = handler(self, exchange_context(), *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result if isinstance(result, Response) else Response(self.encode(result), media_type="application/json")

        params = list(inspect.signature(handler).parameters.values())[2:]  # Connexion passes what the handler names
        endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        endpoint.__name__ = name
        return endpoint

    # -- rules -------------------------------------------------------------------------------------------------
    def enforce(self, ctx: ExchangeContext, operation: str, rule_ctx: Any, body: Any, *, raise_now: bool = True) -> list[Verdict]:
        """Evaluate the operation's rules under the rule set's policy, journal every verdict, refuse on failure.

        ``report_all``: every rule runs and every refusing failure answers together; ``stop_at_first``: rules run in
        order and the first refusing one answers, with its own code when the set has one. A SHOULD failure refuses
        only under ``--profile strict``; an advisory never. Returns the failed verdicts that did not refuse (all
        failures when ``raise_now`` is False; the caller then calls :meth:`refuse` itself).
        """
        strict = self.settings.strict
        if self.rules.policy == STOP_AT_FIRST:
            unrefused: list[Verdict] = []
            for r in self.rules.enforced(operation):
                verdicts = r.evaluate(rule_ctx, body)
                ctx.add(verdicts)
                if len(verdicts) == 1 and verdicts[0].held:  # the common case, on every heartbeat: nothing to judge
                    continue
                refusing = [v for v in verdicts if r.refuses(v, strict)]
                if refusing and raise_now:
                    self.refuse(refusing)
                unrefused += [v for v in verdicts if not v.held and (not raise_now or v not in refusing)]
            return unrefused
        verdicts = [v for r in self.rules.enforced(operation) for v in r.evaluate(rule_ctx, body)]
        ctx.add(verdicts)
        if raise_now:
            refusing = [v for v in verdicts if self.rules.get(v.rule).refuses(v, strict)]
            if refusing:
                self.refuse(refusing)
        return [v for v in verdicts if not v.held]

    GATE_KINDS = {"certificate": ErrorKind.CERTIFICATE, "token": ErrorKind.CERTIFICATE, "timestamp": ErrorKind.TIMESTAMP}

    def gate(self, ctx: ExchangeContext, operation: str, rule_ctx: Any, body: Any = None) -> None:
        """Evaluate the operation's gate rules (kinds certificate, token, timestamp) in order, for ``authenticate``:
        every verdict is journaled and the first refusing rule answers with its kind's code."""
        strict = self.settings.strict
        for r in self.rules.for_operation(operation):
            kind = self.GATE_KINDS.get(r.kind)
            if kind is None:
                continue
            verdicts = r.evaluate(rule_ctx, body)
            ctx.add(verdicts)
            refusing = [v for v in verdicts if r.refuses(v, strict)]
            if refusing:
                raise PlatformError(kind, [v.violation() for v in refusing], code=self.rules.codes.get(r.id))

    def refuse(self, failed: list[Verdict]) -> None:
        """Raise the refusal for these failed verdicts: a rule's own code, else the code of its kind."""
        kinds = {self.rules.get(v.rule).kind for v in failed}
        code = next((self.rules.codes[v.rule] for v in failed if v.rule in self.rules.codes), None)
        kind = ErrorKind.MALFORMED if "malformed" in kinds and code is None else ErrorKind.FAILED
        raise PlatformError(kind, [v.violation() for v in failed], code=code)

    def owns(self, path: str) -> bool:
        """Whether ``path`` is this platform's: its base path, or a spelling of it that differs only in case or in
        repeated leading slashes (``/YXC/coach``, ``//yxc/coach``), which is then refused in this platform's
        envelope (not found) instead of a plain error outside every platform; it is never served as the path."""
        if path == self.base_path or path.startswith(self.base_path + "/"):
            return True
        folded = "/" + path.lstrip("/").lower()
        return folded == self.base_path or folded.startswith(self.base_path + "/")
