"""The engine: runs a role's checks and yields events. It knows nothing of reports or the CLI.

A check is a plain function registered on a :class:`CheckSet` with its id, clause, level and requirement ids; it takes
the role's context object and returns a :class:`~harness.conformance.model.CheckResult` (or several). Preconditions,
and a check with nothing to judge, are expressed by returning a ``skipped`` result with the reason, never by passing
or hiding the check.

Levels (``MUST``/``SHOULD``/``REVIEW``, see :mod:`harness.conformance.model`) decide what a result means: a SHOULD
check that fails is reported as a ``warning``; a REVIEW check reports ``review`` with the evidence a person needs; a
MUST check may itself return ``warning`` (a form the seed shows that contradicts another, naming the decision). Only
a MUST that fails (or breaks) fails the run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.conformance.catalogue import observable
from harness.conformance.model import (
    LEVELS,
    STATUSES,
    CheckFinished,
    CheckResult,
    CheckStarted,
    Event,
    Evidence,
    NonFatalError,
    Requirement,
    RunFinished,
    RunStarted,
    Status,
)
from harness.errors import HarnessError


class CannotRun(HarnessError):
    """The run cannot go on (bad target, unknown vendor); it ends with verdict ``error`` (CLI exit 2)."""


class TargetUnreachable(CannotRun):
    """The target cannot be reached at all."""


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    clause: str
    fn: Callable[[Any], CheckResult | Iterable[CheckResult] | None]
    requirements: tuple[str, ...] = ()
    level: str = "MUST"

    @property
    def mandatory(self) -> bool:
        return self.level == "MUST"

    def result(
        self,
        status: Status,
        message: str = "",
        *evidence: Evidence,
        duration_ms: float = 0.0,
        clause: str | None = None,
        decision: str | None = None,
    ) -> CheckResult:
        """Build this check's result; the level's meaning is applied here (a SHOULD that fails is a warning)."""
        return CheckResult(
            self.id,
            self.title,
            clause or self.clause,
            leveled(self.level, status),
            message,
            self.level,
            self.requirements,
            tuple(evidence),
            duration_ms,
            decision,
        )


def leveled(level: str, status: Status) -> Status:
    """What a raw status means at a level: a broken SHOULD is a WARNING; a REVIEW check never passes on its own."""
    if level == "SHOULD" and status == "failed":
        return "warning"
    if level == "REVIEW" and status in ("passed", "failed"):
        return "review"
    return status


@dataclass
class CheckSet:
    """An ordered, duplicate-free list of checks; one per role, passed to the engine (never global)."""

    checks: list[Check] = field(default_factory=list)

    def check(
        self,
        check_id: str,
        *,
        title: str,
        clause: str,
        requirements: tuple[str, ...] = (),
        level: str = "MUST",
    ) -> Callable[[Any], Any]:
        if level not in LEVELS:
            raise HarnessError(f"check {check_id}: level must be one of {', '.join(LEVELS)}, not {level!r}")

        def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
            if any(c.id == check_id for c in self.checks):
                raise HarnessError(f"check {check_id} is already registered")
            self.checks.append(Check(check_id, title, clause, fn, requirements, level))
            return fn

        return register

    def __iter__(self) -> Iterator[Check]:
        return iter(self.checks)

    def get(self, check_id: str) -> Check:
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    def requirement_ids(self) -> set[str]:
        """Every requirement some check of this set names: what the role can observe."""
        return {r for c in self.checks for r in c.requirements}

    def __len__(self) -> int:
        return len(self.checks)


def passed(message: str = "", *evidence: Evidence) -> tuple[Status, str, tuple[Evidence, ...]]:
    return "passed", message, evidence


def failed(message: str, *evidence: Evidence) -> tuple[Status, str, tuple[Evidence, ...]]:
    return "failed", message, evidence


def skipped(message: str, *evidence: Evidence) -> tuple[Status, str, tuple[Evidence, ...]]:
    """Nothing to judge (or a precondition failed): say why. Never pass a check that had nothing to judge."""
    return "skipped", message, evidence


def warning(message: str, *evidence: Evidence) -> tuple[Status, str, tuple[Evidence, ...]]:
    """Not a failure: advice beyond the seed, or one of the seed's own contradicting forms (name the decision)."""
    return "warning", message, evidence


def review(message: str, *evidence: Evidence) -> tuple[Status, str, tuple[Evidence, ...]]:
    """Only a person can judge: the message says what to look at, the evidence is what to look at."""
    return "review", message, evidence


def _results(check: Check, value: Any, duration_ms: float) -> list[CheckResult]:
    if value is None:
        return [check.result("error", "the check returned nothing", duration_ms=duration_ms)]
    if isinstance(value, CheckResult):
        if value.level != check.level or value.status != leveled(check.level, value.status):
            value = dataclasses.replace(value, level=check.level, status=leveled(check.level, value.status))
        return [value]
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        status, message, evidence = value
        return [check.result(status, message, *evidence, duration_ms=duration_ms)]
    return [r for v in value for r in _results(check, v, duration_ms)]


def run(
    *,
    role: str,
    platform: str,
    target: str,
    checks: CheckSet,
    context: Any,
    seed: int,
    options: dict[str, Any] | None = None,
    spec_hashes: dict[str, str] | None = None,
    requirements: Iterable[Requirement] = (),
    certification_valid: bool = True,
) -> Iterator[Event]:
    """Run every check in order and yield events; the last event is always a terminal :class:`RunFinished`.

    ``requirements`` may be the platform's whole catalogue: only those this role can observe are kept for coverage."""
    planned = len(checks)
    kept = tuple(observable(requirements, role, (c.id for c in checks), checks.requirement_ids()))
    yield RunStarted(role, platform, target, dict(options or {}), seed, dict(spec_hashes or {}), kept, planned, certification_valid)
    counts = dict.fromkeys(STATUSES, 0)
    mandatory_failed = 0  # only a MUST check's failure or error decides the verdict
    for index, check in enumerate(checks, 1):
        yield CheckStarted(check.id, check.title, index, planned)
        started = time.perf_counter()
        try:
            results = _results(check, check.fn(context), (time.perf_counter() - started) * 1000)
        except CannotRun as exc:
            yield NonFatalError(f"{check.id}: {exc}")
            counts["error"] += 1
            yield finish("error", counts, reason=str(exc))
            return
        except Exception as exc:  # a broken check is an error result, never a crash of the run
            results = [check.result("error", f"{type(exc).__name__}: {exc}", duration_ms=(time.perf_counter() - started) * 1000)]
        for result in results:
            counts[result.status] += 1
            if result.fails_run:
                mandatory_failed += 1
            yield CheckFinished(result, index, planned)
    yield finish("failed" if mandatory_failed else "passed", counts)


def finish(verdict: str, counts: dict[str, int], reason: str = "") -> RunFinished:
    """The terminal event from a run's status counts."""
    return RunFinished(
        verdict,  # type: ignore[arg-type]
        counts["passed"],
        counts["failed"],
        counts["skipped"],
        counts["error"],
        reason=reason,
        warnings=counts["warning"],
        reviews=counts["review"],
    )
