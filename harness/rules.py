"""Business rules as small registered functions, each tied to the clause it enforces.

A rule is ``fn(ctx, body)`` that yields :class:`Fail` for every way the request breaks it (yielding nothing means it
held). Every platform declares its rules one way, on one :class:`RuleSet` in its ``rules.py``, with the set's policy:

    RULES = RuleSet("yxc", policy=REPORT_ALL)   # or STOP_AT_FIRST: the first failing rule answers (DUDU)
    rule = RULES.rule

    @rule("YXC-CR-TOTAL", clause="000 附件四 A.6.3.2 表A.8 #18", operations=("classrecord",),
          title="total = part1 + part2 + part3 + part4")
    def total_is_sum(ctx, body):
        ...

``kind`` maps a refusal to the platform's code (``malformed`` → its data-format code, ``business`` → its
execution-failed code; ``code=`` on a rule overrides that for the rule alone, as DUDU's codes per check do). Gate
kinds (``certificate``, ``timestamp``, ``token``) are evaluated by the platform's ``authenticate`` before schema
validation, never by :meth:`harness.platform.Platform.enforce`; ``advisory`` rules are journaled and never refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from harness.errors import HarnessError, Violation


@dataclass(frozen=True)
class Fail:
    """One way a request breaks a rule."""

    message: str
    field: str | None = None
    clause: str | None = None  # a more precise clause than the rule's own (e.g. the field's table row)
    # SHOULD: only a decision's strict reading refuses this (``decision`` names it); journaled as a warning under every
    # profile, and refusing the call only under ``--profile strict``.
    level: str = "MUST"
    decision: str | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of one rule on one exchange; journaled as evidence."""

    rule: str
    clause: str
    held: bool
    message: str = ""
    field: str | None = None
    # MUST (default, not written to the journal) or SHOULD: a SHOULD verdict that did not hold is a warning, never a
    # refusal on its own account, and certify roles grade it as WARNING. ``decision`` names the reading it concerns.
    level: str = "MUST"
    decision: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "clause": self.clause, "held": self.held}
        if self.message:
            out["message"] = self.message
        if self.field:
            out["field"] = self.field
        if self.level != "MUST":
            out["level"] = self.level
        if self.decision:
            out["decision"] = self.decision
        return out

    def violation(self) -> Violation:
        return Violation(self.rule, self.clause, self.message, self.field, self.level, self.decision)

    @cached_property
    def json(self) -> bytes:
        """:meth:`as_dict` as compact JSON; computed once (a rule's held verdict is one shared object)."""
        return orjson.dumps(self.as_dict())


RuleFn = Callable[[Any, Any], Iterable[Fail] | None]


@dataclass(frozen=True)
class Rule:
    id: str
    clause: str
    title: str
    operations: tuple[str, ...]
    fn: RuleFn
    decision: str | None = None
    # "business" failures answer the platform's execution-failed code; "malformed" ones its data-format code.
    kind: str = "business"
    applies: Callable[[Any, Any], bool] | None = None
    # SHOULD: the rule is a decision's strict reading (refuses only under --profile strict); an "advisory" rule is
    # SHOULD too, and never refuses.
    should: bool = False

    @property
    def level(self) -> str:
        return "SHOULD" if self.kind == "advisory" or self.should else "MUST"

    @cached_property
    def held(self) -> Verdict:
        """The verdict of every exchange this rule holds on: immutable, so one object (and one JSON form) serves all."""
        return Verdict(self.id, self.clause, True, level=self.level)

    def evaluate(self, ctx: Any, body: Any) -> list[Verdict]:
        if self.applies is not None and not self.applies(ctx, body):
            return []
        fails = list(self.fn(ctx, body) or ())
        if not fails:
            return [self.held]
        out = []
        for f in fails:
            level = "SHOULD" if self.level == "SHOULD" else f.level
            decision = f.decision or (self.decision if level != "MUST" else None)
            out.append(Verdict(self.id, f.clause or self.clause, False, f.message, f.field, level, decision))
        return out

    def refuses(self, verdict: Verdict, strict: bool) -> bool:
        """Whether a failed verdict of this rule refuses the call: a MUST always; a decision's strict reading only
        under ``--profile strict``; an advisory never."""
        if verdict.held or self.kind == "advisory":
            return False
        return verdict.level == "MUST" or strict


REPORT_ALL = "report_all"  # every rule of the operation is evaluated; all refusing failures answer together
STOP_AT_FIRST = "stop_at_first"  # rules run in registration order; the first refusing one answers (with its code)
ENFORCED_KINDS = frozenset({"business", "malformed", "advisory"})  # the rest are gate kinds (authenticate)


class DuplicateRule(HarnessError):
    """Two rules were registered under one id."""


@dataclass
class RuleSet:
    platform: str
    policy: str = REPORT_ALL
    # The kind a rule registered with ``code=`` (and no kind) gets from its code (DUDU: 1001 is the format code).
    code_kinds: dict[int | str, str] = field(default_factory=dict)
    _rules: dict[str, Rule] = field(default_factory=dict)
    codes: dict[str, int | str] = field(default_factory=dict)  # a rule's own refusal code, where the platform has one
    _by_operation: dict[str, list[Rule]] = field(default_factory=dict, repr=False)
    _enforced: dict[str, list[Rule]] = field(default_factory=dict, repr=False)

    def rule(
        self,
        rule_id: str,
        *,
        clause: str,
        title: str,
        operations: tuple[str, ...],
        decision: str | None = None,
        kind: str | None = None,
        applies: Callable[[Any, Any], bool] | None = None,
        should: bool = False,
        code: int | str | None = None,
    ) -> Callable[[RuleFn], RuleFn]:
        resolved = kind or (self.code_kinds.get(code, "business") if code is not None else "business")

        def register(fn: RuleFn) -> RuleFn:
            self.add(Rule(rule_id, clause, title, operations, fn, decision, resolved, applies, should), code)
            return fn

        return register

    def add(self, rule: Rule, code: int | str | None = None) -> None:
        if rule.id in self._rules:
            raise DuplicateRule(f"rule {rule.id} is already registered")
        self._rules[rule.id] = rule
        if code is not None:
            self.codes[rule.id] = code
        self._by_operation.clear()
        self._enforced.clear()

    def extend(self, other: RuleSet) -> RuleSet:
        """Take over another set's rules, codes and policy (a platform instance installs its module's rules)."""
        self.policy = other.policy
        for r in other:
            self.add(r, other.codes.get(r.id))
        return self

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def get(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def for_operation(self, operation: str) -> list[Rule]:
        found = self._by_operation.get(operation)
        if found is None:
            found = self._by_operation[operation] = [r for r in self._rules.values() if operation in r.operations]
        return found

    def enforced(self, operation: str) -> list[Rule]:
        """The operation's rules that :meth:`harness.platform.Platform.enforce` evaluates (no gate rules)."""
        found = self._enforced.get(operation)
        if found is None:
            found = self._enforced[operation] = [r for r in self.for_operation(operation) if r.kind in ENFORCED_KINDS]
        return found

    def evaluate(self, operation: str, ctx: Any, body: Any) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for rule in self.for_operation(operation):
            verdicts.extend(rule.evaluate(ctx, body))
        return verdicts
