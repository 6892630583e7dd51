"""The conformance vocabulary shared by every platform: checks, their results and evidence, roles, and events.

A *role* (e.g. ``yxc-callback``: the vendor as server) is a named set of checks against one target. The engine runs
a role and yields events; reporters (json, html, junit, console progress) consume them and never read engine state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# A result's status, after the OpenID Foundation conformance suite's words: PASSED, FAILED (a MUST broken), WARNING (a
# SHOULD broken, or a form the seed itself shows that contradicts another), REVIEW (a person must judge the evidence),
# SKIPPED (nothing to judge), plus "error" (the check itself broke).
Status = Literal["passed", "failed", "warning", "review", "skipped", "error"]
STATUSES: tuple[str, ...] = ("passed", "failed", "warning", "review", "skipped", "error")

# A requirement's or check's level, from the source's own words (docs/certify.md "Levels"):
#   MUST    the seed makes it mandatory (应/必须/不得/须, 是否必填 是, a code the seed defines for the case), or a documented
#           decision the interface cannot work without. Only a failed MUST fails a certification.
#   SHOULD  advice beyond the seed (robustness, refusing what the seed does not forbid): a failure is a WARNING.
#   REVIEW  what only a person can judge; listed with the evidence a reviewer needs.
Level = Literal["MUST", "SHOULD", "REVIEW"]
LEVELS: tuple[str, ...] = ("MUST", "SHOULD", "REVIEW")


@dataclass(frozen=True)
class Requirement:
    """One rule of a platform's requirement catalogue: id, clause, the rule in one line."""

    id: str
    platform: str
    clause: str
    text: str
    decision: str | None = None
    checks: tuple[str, ...] = ()  # certify checks the catalogue says enforce it
    rules: tuple[str, ...] = ()  # reference-server rules that evaluate it on every call
    level: str = "MUST"
    level_reason: str = ""  # why this level: the seed's words (必须, 是否必填 是 …) or the decision
    roles: tuple[str, ...] = ()  # the certify roles that can observe it (empty: the roles whose checks name it)


@dataclass(frozen=True)
class Evidence:
    """What a finding rests on: a request and its reply (personal data masked), or a note."""

    note: str = ""
    request: dict[str, Any] | None = None  # {"method", "url", "headers", "body"}
    reply: dict[str, Any] | None = None  # {"status", "headers", "body"}


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    title: str
    clause: str
    status: Status
    message: str = ""
    level: str = "MUST"
    requirements: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    duration_ms: float = 0.0
    decision: str | None = None  # the decision a WARNING names (the reading the vendor followed)

    @property
    def mandatory(self) -> bool:
        """Only a MUST decides the verdict."""
        return self.level == "MUST"

    @property
    def fails_run(self) -> bool:
        return self.level == "MUST" and self.status in ("failed", "error")


# --- events (the engine's only output) ------------------------------------------------------------------------------
def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class RunStarted:
    role: str
    platform: str
    target: str
    options: dict[str, Any]
    seed: int
    spec_hashes: dict[str, str]
    requirements: tuple[Requirement, ...]
    planned: int
    certification_valid: bool = True
    at: str = field(default_factory=_now)


@dataclass(frozen=True)
class CheckStarted:
    check_id: str
    title: str
    index: int
    planned: int


@dataclass(frozen=True)
class CheckFinished:
    result: CheckResult
    index: int
    planned: int


@dataclass(frozen=True)
class NonFatalError:
    message: str


@dataclass(frozen=True)
class RunFinished:
    verdict: Literal["passed", "failed", "error"]
    passed: int
    failed: int
    skipped: int
    errors: int
    at: str = field(default_factory=_now)
    reason: str = ""
    is_terminal: bool = True
    warnings: int = 0
    reviews: int = 0


Event = RunStarted | CheckStarted | CheckFinished | NonFatalError | RunFinished


class Role(Protocol):
    """A certify role: ``harness certify <name>``."""

    name: str
    platform: str
    description: str

    def run(self, seed: int) -> Iterator[Event]: ...
