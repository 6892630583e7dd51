"""The harness's exception tree. One root, so callers can catch everything the harness raises::

HarnessError
├── ConfigError            bad arguments or settings (CLI exit code 2)
├── StoreError             the store cannot be opened or migrated
│   └── StoreUnreachable   the database cannot be reached at all (harness.store; also a sqlite3.OperationalError)
├── EnrolmentError         vendor enrolment or certificate problems
├── PlatformError          a platform-level refusal, rendered in that platform's own envelope
│   └── SchemaViolation    the request does not match the OpenAPI definition
├── DuplicateRule          two rules registered under one id (harness.rules)
├── SigningError           unusable signing parameters (harness.signing; also a ValueError)
├── TicketError            a string that is not a DUDU DD1 ticket (harness.dudu.qr; also a ValueError)
├── DuduError              a DUDU reference-data operation cannot be done (harness.dudu.admin)
├── Unreachable            a YXC callback URL cannot be reached at all (harness.yxc.scan)
├── VendorUnreachable      a ZJPX vendor platform cannot be reached at all (harness.zjpx.vendor)
└── CannotRun              a certification run cannot go on (harness.conformance.engine)
    └── TargetUnreachable  the target cannot be reached at all

The classes outside this module are defined next to the code that raises them; ``ValueError`` stays a second base
where callers catch it as one (``sqlite3.OperationalError`` for StoreUnreachable, as every engine's statement errors are).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""


class ConfigError(HarnessError):
    """Bad arguments or settings."""


class StoreError(HarnessError):
    """The store cannot be opened, migrated or written."""


class EnrolmentError(HarnessError):
    """A vendor cannot be enrolled, or its certificate is unusable."""


@dataclass
class Violation:
    """One failed rule: what failed, which clause it enforces, and on which field."""

    rule: str
    clause: str
    message: str
    field: str | None = None
    # SHOULD: only the file's own reading refuses it (a form a decision relaxes, named in ``decision``).
    level: str = "MUST"
    decision: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"rule": self.rule, "clause": self.clause, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.level != "MUST":
            out["level"] = self.level
        if self.decision:
            out["decision"] = self.decision
        return out


@dataclass
class PlatformError(HarnessError):
    """A refusal the platform answers in its own envelope.

    ``kind`` is platform-neutral (see ``harness.platform.ErrorKind``); each platform maps it to its own code.
    """

    kind: str
    violations: list[Violation] = field(default_factory=list)
    code: int | str | None = None  # overrides the platform's mapping of ``kind`` when set

    def __post_init__(self) -> None:
        super().__init__(self.summary)

    @property
    def summary(self) -> str:
        if not self.violations:
            return self.kind
        first = self.violations[0]
        where = f"{first.field}: " if first.field else ""
        more = f" (+{len(self.violations) - 1} more)" if len(self.violations) > 1 else ""
        return f"{where}{first.message} [{first.rule}, {first.clause}]{more}"


class SchemaViolation(PlatformError):
    """The request does not match the platform's OpenAPI definition."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__(kind="malformed", violations=violations)
