"""The engine: runs a role's checks and yields events. It knows nothing of reports or the CLI.

A check is a plain function registered on a :class:`CheckSet` with its id, clause and requirement ids; it takes the
role's context object and returns a :class:`~harness.conformance.model.CheckResult` (or several). Preconditions are
expressed by returning a ``skipped`` result, never by hiding the check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.conformance.model import (
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
    mandatory: bool = True

    def result(self, status: Status, message: str = "", *evidence: Evidence, duration_ms: float = 0.0) -> CheckResult:
        """Build this check's result (checks call ``check.result(...)`` through :func:`outcome`)."""
        return CheckResult(
            self.id, self.title, self.clause, status, message, self.mandatory, self.requirements, tuple(evidence), duration_ms
        )


@dataclass
class CheckSet:
    """An ordered, duplicate-free list of checks; one per role, passed to the engine (never global)."""

    checks: list[Check] = field(default_factory=list)

    def check(
        self, check_id: str, *, title: str, clause: str, requirements: tuple[str, ...] = (), mandatory: bool = True
    ) -> Callable[[Any], Any]:
        def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
            if any(c.id == check_id for c in self.checks):
                raise HarnessError(f"check {check_id} is already registered")
            self.checks.append(Check(check_id, title, clause, fn, requirements, mandatory))
            return fn

        return register

    def __iter__(self) -> Iterator[Check]:
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)


def passed(message: str = "", *evidence: Evidence) -> tuple[Status, str, tuple[Evidence, ...]]:
    return "passed", message, evidence


def failed(message: str, *evidence: Evidence) -> tuple[Status, str, tuple[Evidence, ...]]:
    return "failed", message, evidence


def skipped(message: str, *evidence: Evidence) -> tuple[Status, str, tuple[Evidence, ...]]:
    return "skipped", message, evidence


def _results(check: Check, value: Any, duration_ms: float) -> list[CheckResult]:
    if value is None:
        return [check.result("error", "the check returned nothing", duration_ms=duration_ms)]
    if isinstance(value, CheckResult):
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
    """Run every check in order and yield events; the last event is always a terminal :class:`RunFinished`."""
    planned = len(checks)
    yield RunStarted(
        role, platform, target, dict(options or {}), seed, dict(spec_hashes or {}), tuple(requirements), planned, certification_valid
    )
    counts = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    mandatory_failed = 0  # only a mandatory check's failure or error decides the verdict
    for index, check in enumerate(checks, 1):
        yield CheckStarted(check.id, check.title, index, planned)
        started = time.perf_counter()
        try:
            results = _results(check, check.fn(context), (time.perf_counter() - started) * 1000)
        except CannotRun as exc:
            yield NonFatalError(f"{check.id}: {exc}")
            yield RunFinished("error", counts["passed"], counts["failed"], counts["skipped"], counts["error"] + 1, reason=str(exc))
            return
        except Exception as exc:  # a broken check is an error result, never a crash of the run
            results = [check.result("error", f"{type(exc).__name__}: {exc}", duration_ms=(time.perf_counter() - started) * 1000)]
        for result in results:
            counts[result.status] += 1
            if result.mandatory and result.status in ("failed", "error"):
                mandatory_failed += 1
            yield CheckFinished(result, index, planned)
    verdict = "failed" if mandatory_failed else "passed"
    yield RunFinished(verdict, counts["passed"], counts["failed"], counts["skipped"], counts["error"])
