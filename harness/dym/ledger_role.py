"""Certify role ``dym-ledger-verifier --command 'CMD {receipt} {entry} {key}'``: a vendor's offline receipt verifier.

004 §一(四)2 promises records that cannot be altered (不可篡改); the harness keeps that promise as a transparency log
whose receipts anyone verifies offline with the log's key (D-DYM-LEDGER, docs/ledger.md). A vendor that says it checks
the receipts it is given is graded here: the role builds a fresh log, hands the vendor's command every valid receipt
and every tamper drill a receipt can carry (harness.dym.ledger_drills), and grades each answer by its exit code (0 =
accepted, anything else = refused).

The command is split like a shell would (no shell runs it); ``{receipt}`` and ``{entry}`` become the files of one
drill, ``{key}`` a file holding the verifier key (``name+keyid+base64``, also in the environment as DYM_LEDGER_KEY).
The conforming verifier is ``harness ledger verify {receipt} --entry {entry} --key {key}``.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.conformance import commands
from harness.conformance.commands import Graded, Outcome
from harness.conformance.engine import CheckSet, review, skipped
from harness.conformance.model import Event
from harness.conformance.roles import CommonOptions, RoleOption, run_checks
from harness.dym import ledger_drills
from harness.errors import ConfigError
from harness.schema import open_store
from harness.store import Store

PLACEHOLDERS = ("{receipt}", "{entry}")
TIMEOUT = 30.0  # seconds per drill
SPEC_FILES = ("dym/requirements.yaml", "decisions.yaml")
CLAUSE = "004 §一(四)2 上链服务 (不可篡改); D-DYM-LEDGER"

CHECKS = CheckSet()


def _argv(template: str, drill: ledger_drills.Drill, key_file: Path) -> list[str]:
    values = {"{receipt}": str(drill.receipt), "{entry}": str(drill.entry), "{key}": str(drill.key_file or key_file)}
    out = []
    for token in shlex.split(template):
        for placeholder, value in values.items():
            token = token.replace(placeholder, value)
        out.append(token)
    return out


def _run_one(template: str, drill: ledger_drills.Drill, kit: ledger_drills.Kit, timeout: float) -> Outcome:
    key = drill.key_file.read_text(encoding="utf-8").strip() if drill.key_file else kit.key
    argv = _argv(template, drill, kit.key_file)
    exit_code, output = commands.run(argv, timeout=timeout, env={**os.environ, "DYM_LEDGER_KEY": key}, cwd=Path.cwd())
    return Outcome(drill, exit_code, output, "drill")


def grade(template: str, directory: Path, *, timeout: float = TIMEOUT, store: Store | None = None) -> Graded:
    """Build the drills under ``directory`` (plus a receipt of ``store``'s own ledger, if it has one) and run the
    command over each (a few at a time)."""
    kit = ledger_drills.build(directory)
    drills = list(kit.drills)
    if store is not None and (own := ledger_drills.from_store(store, directory)) is not None:
        drills.insert(0, own)
    return Graded(template, commands.run_each(drills, lambda d: _run_one(template, d, kit, timeout)), "DYM-LV-ACCEPTS")


def _judge(graded: Graded, check_id: str, doing: str) -> Any:
    return commands.judge(graded, check_id, doing)


@CHECKS.check(
    "DYM-LV-ACCEPTS",
    title="valid receipts are accepted (one-entry tree, older checkpoint, middle and last entries)",
    clause=CLAUSE,
    requirements=("DYM-LV-ACCEPTS",),
    level="MUST",
)
def accepts_valid(graded: Graded) -> Any:
    return _judge(graded, "DYM-LV-ACCEPTS", "answered (a valid receipt refused, or not answered within the time allowed)")


@CHECKS.check(
    "DYM-LV-COSIGNED",
    title="a checkpoint carrying an extra signature by an unknown key (a witness) is accepted",
    clause=f"{CLAUSE}; c2sp.org/signed-note (signatures by unknown keys are ignored)",
    requirements=("DYM-LV-COSIGNED",),
    level="SHOULD",
)
def accepts_cosigned(graded: Graded) -> Any:
    return commands.advise(
        graded,
        "DYM-LV-COSIGNED",
        decision="D-DYM-LEDGER",
        check=CHECKS.get("DYM-LV-COSIGNED"),
        none="no cosigned checkpoint drill",
        wrong="a checkpoint carrying an extra signature by an unknown key (a witness) was refused: c2sp.org/signed-note has "
        "verifiers ignore unknown signatures; the harness hands out checkpoints with its own signature only, so its "
        "receipts still verify",
        right="a cosigned checkpoint verified (the unknown signature ignored)",
    )


@CHECKS.check(
    "DYM-LV-CANONICAL",
    title="an entry re-serialised (pretty-printed) is accepted after RFC 8785 canonicalisation",
    clause=f"{CLAUSE} (docs/ledger.md verification step 4: canonicalise the entry)",
    requirements=("DYM-LV-CANONICAL",),
    level="SHOULD",
)
def accepts_pretty(graded: Graded) -> Any:
    return commands.advise(
        graded,
        "DYM-LV-CANONICAL",
        decision="D-DYM-LEDGER",
        check=CHECKS.get("DYM-LV-CANONICAL"),
        none="no re-serialised entry drill",
        wrong="a pretty-printed copy of a valid entry was refused: the verifier hashes the file's bytes instead of the entry's "
        "RFC 8785 form (it still verifies the canonical bytes the harness hands out)",
        right="a pretty-printed entry verified after canonicalisation",
    )


@CHECKS.check(
    "DYM-LV-ENTRY",
    title="an altered or substituted entry is refused (leaf hash, attestation id, index and time)",
    clause=CLAUSE,
    requirements=("DYM-LV-ENTRY",),
    level="MUST",
)
def refuses_entries(graded: Graded) -> Any:
    return _judge(graded, "DYM-LV-ENTRY", "accepted (a tampered entry)")


@CHECKS.check(
    "DYM-LV-PROOF",
    title="a receipt whose inclusion proof does not lead to its checkpoint's root is refused (truncated, altered, moved, forked)",
    clause=f"{CLAUSE}; RFC 9162 §2.1.3.2",
    requirements=("DYM-LV-PROOF",),
    level="MUST",
)
def refuses_proofs(graded: Graded) -> Any:
    return _judge(graded, "DYM-LV-PROOF", "accepted (a broken inclusion proof)")


@CHECKS.check(
    "DYM-LV-SIGNATURE",
    title="a checkpoint not signed by the log's key is refused (altered text, unknown key only, no signature)",
    clause=f"{CLAUSE}; c2sp.org/signed-note",
    requirements=("DYM-LV-SIGNATURE",),
    level="MUST",
)
def refuses_signatures(graded: Graded) -> Any:
    return _judge(graded, "DYM-LV-SIGNATURE", "accepted (a checkpoint the log's key did not sign)")


@CHECKS.check(
    "DYM-LV-ORIGIN",
    title="a checkpoint of another origin is refused, even signed by the log's key",
    clause=f"{CLAUSE}; c2sp.org/tlog-checkpoint (origin line)",
    requirements=("DYM-LV-ORIGIN",),
    level="MUST",
)
def refuses_origin(graded: Graded) -> Any:
    return _judge(graded, "DYM-LV-ORIGIN", "accepted (another log's checkpoint)")


@CHECKS.check(
    "DYM-LV-REASONS",
    title="what the verifier says when it refuses (a person judges whether it names the tampering)",
    clause=CLAUSE,
    requirements=("DYM-LV-REASONS",),
    level="REVIEW",
)
def refusal_reasons(graded: Graded) -> Any:
    refused = [o for o in graded.outcomes if o.case.expect == "reject" and not o.accepted]
    if not refused:
        return skipped("the verifier refused no drill: nothing to read")
    return review(
        f"{len(refused)} refusal(s): does each say why (altered entry, broken proof, signature, origin)?",
        *(o.evidence() for o in refused),
    )


class LedgerVerifierRole:
    """``harness certify dym-ledger-verifier --command …``: the checks, as conformance-engine events."""

    name = "dym-ledger-verifier"
    platform = "dym"
    summary = "Grade a vendor's offline ledger receipt verifier over valid receipts and every tamper drill."
    description = (
        "Run the vendor's verifier command over valid DYM ledger receipts and over every tamper drill a receipt can carry "
        "(rewritten or substituted entry, truncated, altered, moved or forked proof, altered or unknown-key or unsigned "
        "checkpoint, another origin); exit code 0 means accepted. Placeholders: {receipt}, {entry}, {key} (a file holding "
        "the verifier key; also in $DYM_LEDGER_KEY). Conforming: 'harness ledger verify {receipt} --entry {entry} --key {key}'."
    )
    options = (
        RoleOption("command", "The verifier command, e.g. 'myverify {receipt} {entry} {key}' (exit 0 = accepted).", required=True),
        RoleOption("timeout", "Seconds allowed per drill.", default=int(TIMEOUT), type=int),
    )
    checks = CHECKS

    def __init__(self, command: str, *, timeout: float = TIMEOUT, store: Store | None = None) -> None:
        tokens = commands.split(command, PLACEHOLDERS, "--command must name {receipt} and {entry} (and {key} for the verifier key file)")
        if any(p in tokens[0] for p in (*PLACEHOLDERS, "{key}")):
            raise ConfigError("--command must start with the verifier program, not a placeholder")
        self.command = command  # as the vendor gave it (the report shows it)
        self.runnable = shlex.join(commands.startable(tokens))  # the program made absolute: the drills run elsewhere
        self.timeout = timeout
        self.store = store  # its own ledger, if any, gives one more valid receipt

    def run(self, seed: int) -> Iterator[Event]:
        with tempfile.TemporaryDirectory(prefix="dym-ledger-drills-") as tmp:
            graded = grade(self.runnable, Path(tmp), timeout=self.timeout, store=self.store)
        graded.command = self.command
        options = {"command": self.command, "timeout": self.timeout, "drills": len(graded.outcomes)}
        yield from run_checks(self, target=f"command: {self.command}", context=graded, seed=seed, options=options, spec_files=SPEC_FILES)


class LedgerVerifierRoleCommand(LedgerVerifierRole):
    """The role as ``harness certify dym-ledger-verifier`` builds it (harness/conformance/roles.py)."""

    def __init__(self, common: CommonOptions, command: str, timeout: int = int(TIMEOUT)) -> None:
        if timeout <= 0:
            raise ConfigError("--timeout must be positive")
        store = open_store(common.db)  # the harness's store: a receipt of its own ledger joins the valid drills
        try:
            super().__init__(command, timeout=float(timeout), store=store)
            self.probe()
        except ConfigError:
            store.close()
            raise

    def probe(self) -> None:
        """Run the command once over the first valid drill: one that cannot run at all (exit 126 or 127, or not
        started) is refused here, before any report (one line, exit 2)."""
        with tempfile.TemporaryDirectory(prefix="dym-ledger-probe-") as tmp:
            kit = ledger_drills.build(Path(tmp))
            first = next(d for d in kit.drills if d.expect == "accept")
            graded = Graded(self.command, [_run_one(self.runnable, first, kit, self.timeout)], "DYM-LV-ACCEPTS")
        if graded.cannot_run:
            raise ConfigError(graded.cannot_run)

    def run(self, seed: int) -> Iterator[Event]:
        try:
            yield from super().run(seed)
        finally:
            if self.store is not None:
                self.store.close()
