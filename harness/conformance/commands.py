"""Roles that grade a vendor's command over files (ymt-emergency-verifier, dym-ledger-verifier): the machinery once.

A role builds its *cases* (one file or set of files each, a name, what was done to it, whether a conforming verifier
accepts it and the check that judges it), runs the vendor's command once per case (:func:`run_each`: split like a shell
would, no shell runs it, a few at a time, a timeout each) and grades each answer by its exit code: 0 is *accepted*,
anything else *refused*, no answer in time a refusal. :func:`judge` is a check's usual verdict over its cases. A
command that accepts none of the valid cases cannot be told from one that cannot verify at all (a crash, a wrong file
format), so its refusals prove nothing: :func:`judge` reports them skipped (:meth:`Graded.verifies_nothing`).
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.conformance.engine import failed, passed, skipped, warning
from harness.conformance.model import Evidence
from harness.errors import ConfigError

OUTPUT_KEPT = 400  # characters of the command's output kept as evidence
PARALLEL = 4


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
        said = "accepted" if self.accepted else f"refused (exit {self.exit_code})" if self.exit_code is not None else "no answer"
        c = self.case
        return Evidence(
            note=f"{self.noun} {c.name}: {c.what}{self.detail}; expected {self.expected or c.expect}, the verifier {said}: {self.output}"
        )


@dataclass
class Graded:
    command: str
    outcomes: list[Outcome]
    valid_check: str  # the check of the valid cases (what a verifier must accept)

    def of(self, check_id: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.check == check_id]

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


def run(argv: list[str], *, timeout: float, env: Mapping[str, str], cwd: Path) -> tuple[int | None, str]:
    """(exit code or None, the command's output in one line, cut to :data:`OUTPUT_KEPT` characters)."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, env=dict(env), cwd=cwd, check=False)
    except subprocess.TimeoutExpired:
        return None, f"no answer within {timeout:.0f} s"
    except OSError as exc:
        return None, f"could not start: {exc.strerror or exc}"
    text = (done.stdout + b"\n" + done.stderr).decode("utf-8", "replace").strip()
    return done.returncode, " ".join(text.split())[:OUTPUT_KEPT] or "(no output)"


def run_each(cases: Iterable[Any], one: Callable[[Any], Outcome]) -> list[Outcome]:
    """``one(case)`` for every case, :data:`PARALLEL` at a time, in the cases' order."""
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(one, cases))


def judge(graded: Graded, check_id: str, doing: str) -> Any:
    """A check's verdict over its cases: failed naming the wrongly answered ones (``doing``: what the verifier wrongly
    did, e.g. "accepted (a broken signature)"); skipped when there is no case, or when the check's cases are all
    refusals and the verifier accepted no valid case at all; else passed."""
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


def advise(graded: Graded, check_id: str, *, none: str, wrong: str, right: str, needs_valid: bool = True) -> Any:
    """A SHOULD check's verdict over its cases: skipped with ``none`` when there is no case (or, with ``needs_valid``,
    when the verifier accepted no valid case, so this answer tells nothing more); a warning saying ``wrong`` with the
    wrongly answered cases as evidence; else passed saying ``right``."""
    mine = graded.of(check_id)
    if not mine:
        return skipped(none)
    if needs_valid and graded.verifies_nothing():
        noun = mine[0].noun
        return skipped(f"the verifier refused every valid {noun} ({graded.valid_check}): its answer here tells nothing more")
    bad = [o for o in mine if not o.right]
    if bad:
        return warning(wrong, *(o.evidence() for o in bad))
    return passed(right, *(o.evidence() for o in mine))
