"""The thin loop between a role's event stream and its reporters, and the exit code it ends with.

For each event the runner first updates the :class:`RunContext` (the only place totals live), then hands the event
to every reporter. A reporter has ``start``/``handle_event``/``shutdown`` and wraps a writer that only formats; a
failing reporter is contained and reported, never allowed to stop the others.

The file reporters live in ``harness.reports`` (json, html, pdf, junit, then the signed bundle). This package must not
import it, so they are named here by import path, the way ``harness.platforms`` names platforms.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from harness.conformance.engine import finish
from harness.conformance.model import (
    STATUSES,
    CheckFinished,
    CheckResult,
    CheckStarted,
    Event,
    NonFatalError,
    RunFinished,
    RunStarted,
    _now,
)
from harness.masking import mask_text

EXIT_PASSED, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
EXIT_CODES = {"passed": EXIT_PASSED, "failed": EXIT_FAILED, "error": EXIT_ERROR}

# Order matters: the bundle signer runs last so it signs what the others wrote.
REPORTERS: dict[str, str] = {
    "json": "harness.reports.handlers:JsonReporter",
    "html": "harness.reports.handlers:HtmlReporter",
    "pdf": "harness.reports.handlers:PdfReporter",
    "junit": "harness.reports.handlers:JunitReporter",
    "bundle": "harness.reports.handlers:BundleSigner",
}


@dataclass
class RunContext:
    """Everything reporters know about a run, built from events only."""

    report_dir: Path
    db: Path | None = None  # the store that holds the report-signing key
    started: RunStarted | None = None
    finished: RunFinished | None = None
    results: list[CheckResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reporter_errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    mandatory_failed: int = 0
    wall_started: float = field(default_factory=time.monotonic)
    # When the role began (UTC): before its cases, probes, fuzz cases and drills ran, which a role does before its
    # checks start (RunStarted.at); the report's started_at.
    began_at: str = field(default_factory=_now)

    def update(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started = event
        elif isinstance(event, CheckFinished):
            result = event.result
            self.results.append(result)
            self.counts[result.status] += 1
            if result.fails_run:
                self.mandatory_failed += 1
        elif isinstance(event, NonFatalError):
            self.warnings.append(event.message)
        elif isinstance(event, RunFinished):
            self.finished = event

    @property
    def verdict(self) -> str:
        return self.finished.verdict if self.finished else "error"

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.wall_started

    @property
    def exit_code(self) -> int:
        code = EXIT_CODES.get(self.verdict, EXIT_ERROR)
        # A run whose report could not be written did not produce its evidence: it could not run.
        return EXIT_ERROR if self.reporter_errors else code


class Reporter(Protocol):
    def start(self, ctx: RunContext) -> None: ...

    def handle_event(self, ctx: RunContext, event: Event) -> None: ...

    def shutdown(self, ctx: RunContext) -> None: ...


CONSOLE_CHARS = 600  # a finding's message on the console; the report holds all of it


def console_text(message: str) -> str:
    """A finding as the console shows it: personal data masked as in the report (harness.masking) and cut to
    :data:`CONSOLE_CHARS` (a generated case's junk values can run to kilobytes)."""
    text = mask_text(message)
    return text if len(text) <= CONSOLE_CHARS else f"{text[:CONSOLE_CHARS]}… ({len(text)} chars; the report has the whole message)"


class ProgressReporter:
    """Console progress on stderr: ``[3/17] YXC-CB-SIGNIN … passed``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def _out(self, line: str, end: str = "\n") -> None:
        print(line, file=self.stream or sys.stderr, end=end, flush=True)

    @property
    def _live(self) -> bool:
        # On a terminal, a long check shows "[3/17] ID …" while it runs; the result line then overwrites it.
        stream = self.stream or sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())

    def start(self, ctx: RunContext) -> None:
        pass

    def handle_event(self, ctx: RunContext, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._out(f"harness certify {event.role}: {event.planned} checks against {event.target} (seed {event.seed})")
            if not event.certification_valid:
                self._out("  NOT VALID FOR CERTIFICATION (see the report)")
        elif isinstance(event, CheckStarted):
            if self._live:
                self._out(f"[{event.index}/{event.planned}] {event.check_id} …", end="")
        elif isinstance(event, CheckFinished):
            r = event.result
            level = "" if r.level == "MUST" else f" ({r.level})"
            line = f"[{event.index}/{event.planned}] {r.check_id} … {r.status}{level}"
            if r.status != "passed" and r.message:
                line += f"  [{r.clause}] {console_text(r.message)}"
            if r.decision:
                line += f" (decision {r.decision})"
            self._out(("\r\x1b[K" if self._live else "") + line)
        elif isinstance(event, NonFatalError):
            self._out(f"warning: {console_text(event.message)}")
        elif isinstance(event, RunFinished):
            c = ctx.counts
            why = f": {event.reason}" if event.reason else ""
            if not any(c.values()):  # the run ended before any check was graded (the reason says why)
                self._out(f"verdict: {event.verdict}{why} (no check was graded; {ctx.elapsed_s:.1f} s)")
                return
            self._out(
                f"verdict: {event.verdict}{why} ({c['passed']} passed, {c['failed']} failed, {c['warning']} warnings, "
                f"{c['review']} to review, {c['skipped']} skipped, {c['error']} errors; {ctx.elapsed_s:.1f} s)"
            )

    def shutdown(self, ctx: RunContext) -> None:
        for error in ctx.reporter_errors:
            self._out(f"report error: {error}")
        if (ctx.report_dir / "report.html").exists():
            self._out(f"report: {ctx.report_dir / 'report.html'}")


def load_reporter(path: str) -> Reporter:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()


def default_reporters() -> list[Reporter]:
    return [load_reporter(path) for path in REPORTERS.values()]


def run_role(
    events: Iterator[Event],
    report_dir: Path,
    *,
    progress: bool,
    db: Path | None = None,
    reporters: Sequence[Reporter] | None = None,
) -> int:
    """Feed a role's events to the reporters; 0 all mandatory checks passed, 1 any failed, 2 the run could not run."""
    ctx = RunContext(Path(report_dir), db)
    active: list[Reporter] = list(default_reporters() if reporters is None else reporters)
    if progress:
        active.append(ProgressReporter())

    def dispatch(method: str, *args: object) -> None:
        for reporter in active:
            try:
                getattr(reporter, method)(ctx, *args)
            except Exception as exc:  # one broken reporter must not silence the others
                ctx.reporter_errors.append(f"{type(reporter).__name__}.{method}: {type(exc).__name__}: {exc}")

    dispatch("start")
    if ctx.reporter_errors:  # nowhere to put the evidence: do not run at all (one line: every writer fails alike)
        print(f"harness: cannot write the report in {report_dir}: {ctx.reporter_errors[0].split(': ', 1)[-1]}", file=sys.stderr)
        return EXIT_ERROR
    try:
        for event in events:
            ctx.update(event)
            dispatch("handle_event", event)
            if isinstance(event, RunFinished):
                break
    except Exception as exc:  # the role itself broke: still write a report that says so
        for event in (NonFatalError(f"the run broke: {type(exc).__name__}: {exc}"), _error_finish(ctx, f"{type(exc).__name__}: {exc}")):
            ctx.update(event)
            dispatch("handle_event", event)
    if ctx.finished is None:
        event = _error_finish(ctx, "the run ended without a verdict")
        ctx.update(event)
        dispatch("handle_event", event)
    dispatch("shutdown")
    return ctx.exit_code


def _error_finish(ctx: RunContext, reason: str) -> RunFinished:
    return finish("error", ctx.counts, reason=reason)
