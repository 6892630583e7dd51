"""Roles that grade a vendor's command over files (ymt-emergency-verifier, dym-ledger-verifier): the machinery once.

A role builds its *cases* (one file or set of files each, a name, what was done to it, whether a conforming verifier
accepts it and the check that judges it), runs the vendor's command once per case (:func:`run_each`: split like a shell
would, no shell runs it, a few at a time, a timeout each) and grades each answer by its exit code: 0 is *accepted*,
anything else *refused*, no answer in time a refusal. :func:`judge` is a check's usual verdict over its cases. A
command that accepts none of the valid cases cannot be told from one that cannot verify at all (a crash, a wrong file
format), so its refusals prove nothing: :func:`judge` reports them skipped (:meth:`Graded.verifies_nothing`).

A command that cannot run at all is no verifier to grade (docs/certify.md: exit 2 when the run could not run): a
program that does not exist or cannot be executed is refused when the role is built (:func:`startable`, one line,
exit 2), and a run whose every case could not be started, or ended with the shell's 126 (cannot execute) or 127 (not
found), ends with verdict ``error`` (:attr:`Graded.cannot_run`, raised as CannotRun by :func:`judge` / :func:`advise`)
instead of a FAILED that would claim the vendor's verifier refused the valid cases.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.conformance.engine import CannotRun, failed, passed, skipped, warning
from harness.conformance.model import Evidence
from harness.errors import ConfigError

OUTPUT_KEPT = 400  # characters of the command's output kept as evidence
PARALLEL = 4
CANNOT_RUN_EXITS = (126, 127)  # the shell's "found but cannot execute" and "not found"
NOT_STARTED = "could not be started"


class Case(Protocol):
    name: str
    expect: str  # "accept" | "reject"
    check: str  # the check that judges it
    what: str  # one line: what the case is


@dataclass(frozen=True)
class Outcome:
    case: Any  # a Case
    exit_code: int | None  # None: it did not finish in time or could not start
    output: str
    noun: str = "case"  # how the role names its cases in evidence ("vector", "drill")
    expected: str = ""  # what a conforming verifier does, in words (default: accept / reject)
    detail: str = ""  # a note on the case for the evidence (e.g. its clock)

    @property
    def accepted(self) -> bool:
        return self.exit_code == 0

    @property
    def right(self) -> bool:
        return self.accepted == (self.case.expect == "accept")

    def evidence(self) -> Evidence:
        if self.exit_code is None:  # the output says what happened: "gave no answer within 30 s", "could not be started: …"
            said = self.output
        else:
            said = ("accepted" if self.accepted else f"refused (exit {self.exit_code})") + f", saying: {self.output}"
        c = self.case
        return Evidence(note=f"{self.noun} {c.name}: {c.what}{self.detail}; expected {self.expected or c.expect}; the verifier {said}")

    @property
    def not_run(self) -> bool:
        """The command did not run on this case: it could not be started, or the shell said so (126, 127)."""
        return (self.exit_code is None and self.output.startswith(NOT_STARTED)) or self.exit_code in CANNOT_RUN_EXITS


@dataclass
class Graded:
    command: str
    outcomes: list[Outcome]
    valid_check: str  # the check of the valid cases (what a verifier must accept)

    def of(self, check_id: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.check == check_id]

    @property
    def cannot_run(self) -> str | None:
        """One line when the command ran on none of the cases (see :attr:`Outcome.not_run`), else None."""
        if not self.outcomes or not all(o.not_run for o in self.outcomes):
            return None
        return cannot_run_line(self.command, self.outcomes[0])

    def verifies_nothing(self) -> bool:
        """Whether the command accepted none of the valid cases (and there were some)."""
        valid = self.of(self.valid_check)
        return bool(valid) and not any(o.accepted for o in valid)


def split(command: str, placeholders: Iterable[str], missing: str) -> list[str]:
    """The vendor's command split like a shell would (no shell runs it); ConfigError (one line, exit 2) when it cannot
    be split or does not name every one of ``placeholders`` (``missing`` says which it needs)."""
    try:
        tokens = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"--command cannot be split: {exc}") from exc
    if not tokens or not all(any(p in t for t in tokens) for p in placeholders):
        raise ConfigError(missing)
    return tokens


def cannot_run_line(command: str, outcome: Outcome) -> str:
    why = outcome.output if outcome.exit_code is None else f"it exited {outcome.exit_code} ({outcome.output})"
    return f"--command {command!r} cannot run: {why}; no verdict (check the program and its arguments)"


def startable(tokens: list[str]) -> list[str]:
    """``tokens`` with the program made absolute; ConfigError (one line, exit 2) when it does not exist or cannot be
    executed. A program named with a / is taken relative to the current directory, where the cases run too (so that
    ``python verify.py {file}`` finds verify.py as it would in a shell; the case files are absolute paths in a
    scratch directory); a bare name is looked up on PATH."""
    program = tokens[0]
    if "/" in program:
        path = Path(program).expanduser().absolute()
        if not path.exists():
            raise ConfigError(f"--command: the program {program} does not exist")
        if path.is_dir() or not os.access(path, os.X_OK):
            raise ConfigError(f"--command: the program {program} is not executable")
        return [str(path), *tokens[1:]]
    if shutil.which(program) is None:
        raise ConfigError(f"--command: no program {program!r} on PATH")
    return tokens


def run(argv: list[str], *, timeout: float, env: Mapping[str, str], cwd: Path) -> tuple[int | None, str]:
    """(exit code or None, the command's output in one line, cut to :data:`OUTPUT_KEPT` characters). With no exit
    code the output says why: "gave no answer within N s" or "could not be started: …"."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, env=dict(env), cwd=cwd, check=False)
    except subprocess.TimeoutExpired:
        return None, f"gave no answer within {timeout:.0f} s"
    except OSError as exc:
        return None, f"{NOT_STARTED}: {exc.strerror or exc}"
    text = (done.stdout + b"\n" + done.stderr).decode("utf-8", "replace").strip()
    return done.returncode, " ".join(text.split())[:OUTPUT_KEPT] or "(no output)"


def run_each(cases: Iterable[Any], one: Callable[[Any], Outcome]) -> list[Outcome]:
    """``one(case)`` for every case, :data:`PARALLEL` at a time, in the cases' order."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(one, cases))


def judge(graded: Graded, check_id: str, doing: str) -> Any:
    """A check's verdict over its cases: failed naming the wrongly answered ones (``doing``: what the verifier wrongly
    did, e.g. "accepted (a broken signature)"); skipped when there is no case, or when the check's cases are all
    refusals and the verifier accepted no valid case at all; else passed. CannotRun (verdict error, exit 2) when the
    command ran on no case at all (:attr:`Graded.cannot_run`)."""
    if graded.cannot_run:
        raise CannotRun(graded.cannot_run)
    mine = graded.of(check_id)
    noun = mine[0].noun if mine else "case"
    if not mine:
        return skipped(f"no {noun} for {check_id}")
    if all(o.case.expect == "reject" for o in mine) and graded.verifies_nothing():
        return skipped(
            f"the verifier refused every valid {noun} too ({graded.valid_check}): its refusal of {len(mine)} {noun}(s) proves nothing"
        )
    wrong = [o for o in mine if not o.right]
    if wrong:
        names = ", ".join(o.case.name for o in wrong)
        return failed(f"{len(wrong)} of {len(mine)} {noun}(s) wrongly {doing}: {names}", *(o.evidence() for o in wrong))
    said = "accepted" if mine[0].case.expect == "accept" else "refused"
    return passed(f"{noun}(s) {', '.join(o.case.name for o in mine)} {said}", *(o.evidence() for o in mine))


def advise(
    graded: Graded,
    check_id: str,
    *,
    none: str,
    wrong: str,
    right: str,
    needs_valid: bool = True,
    decision: str | None = None,
    check: Any = None,
) -> Any:
    """A SHOULD check's verdict over its cases: skipped with ``none`` when there is no case (or, with ``needs_valid``,
    when the verifier accepted no valid case, so this answer tells nothing more); a warning saying ``wrong`` with the
    wrongly answered cases as evidence, naming ``decision`` when the advice rests on one (else the message says it is
    advice); else passed saying ``right``."""
    if graded.cannot_run:
        raise CannotRun(graded.cannot_run)
    mine = graded.of(check_id)
    if not mine:
        return skipped(none)
    if needs_valid and graded.verifies_nothing():
        noun = mine[0].noun
        return skipped(f"the verifier refused every valid {noun} ({graded.valid_check}): its answer here tells nothing more")
    bad = [o for o in mine if not o.right]
    if bad:
        if decision and check is not None:
            return [check.result("warning", wrong, *(o.evidence() for o in bad), decision=decision)]
        return warning(f"{wrong} (advice beyond the seed)", *(o.evidence() for o in bad))
    return passed(right, *(o.evidence() for o in mine))
