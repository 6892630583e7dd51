"""What every reference platform provides. The server machinery (envelopes on errors, the signing gate, the
journal) talks to platforms only through this interface, so a new platform is one folder that subclasses it."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness import masking
from harness.errors import PlatformError, Violation
from harness.journal import Exchange
from harness.rules import RuleSet, Verdict

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

    def __post_init__(self) -> None:
        self.exchange.masker = getattr(self.platform, "masker", None)  # its secrets are masked under this store's key

    def add(self, verdicts: list[Verdict]) -> None:
        self.exchange.verdicts.extend(verdicts)

    def fail(self, violations: list[Violation]) -> None:
        known = {(v.rule, v.message) for v in self.exchange.verdicts if not v.held}
        for v in violations:
            if (v.rule, v.message) not in known:
                self.exchange.verdicts.append(Verdict(v.rule, v.clause, False, v.message, v.field, v.level, v.decision))


current_exchange: contextvars.ContextVar[ExchangeContext | None] = contextvars.ContextVar("harness_exchange", default=None)


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
    # The clause an unknown service or wrong method is refused under, in this platform's own words.
    not_found_clause: str = "no such service"
    # Fields (JSON keys, query parameters) whose values are secrets: masked by keyed hash in the journal, reports and
    # logs (harness.masking.SecretMasker). Credential headers (Authorization, Cookie) are masked on every platform.
    secret_fields: frozenset[str] = frozenset()

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.rules = RuleSet(self.name)
        self.masker = masking.masker(store, self.secret_fields)
        masking.register(self.name, self.masker)

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
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    # -- request path ------------------------------------------------------------------------------------------
    async def authenticate(self, ctx: ExchangeContext) -> None:
        """Check credentials before schema validation; raise PlatformError to refuse. Default: nothing to check."""

    def resolve(self, operation_id: str) -> Callable[..., Any]:
        """The handler for an operationId of this platform's spec."""
        raise NotImplementedError

    def owns(self, path: str) -> bool:
        return path == self.base_path or path.startswith(self.base_path + "/")
