"""Business rules as small registered functions, each tied to the clause it enforces.

A rule is ``fn(ctx, body)`` that yields :class:`Fail` for every way the request breaks it (yielding nothing means it
held). Rules are registered on a :class:`RuleSet` that belongs to one platform and is passed around, never global:

    rules = RuleSet("yxc")

    @rules.rule("YXC-CR-TOTAL", clause="000 附件四 A.6.3.2 表A.8 #18", operations=("classrecord",),
                title="total = part1 + part2 + part3 + part4")
    def total_is_sum(ctx, body):
        ...
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


class DuplicateRule(HarnessError):
    """Two rules were registered under one id."""


@dataclass
class RuleSet:
    platform: str
    _rules: dict[str, Rule] = field(default_factory=dict)

    def rule(
        self,
        rule_id: str,
        *,
        clause: str,
        title: str,
        operations: tuple[str, ...],
        decision: str | None = None,
        kind: str = "business",
        applies: Callable[[Any, Any], bool] | None = None,
        should: bool = False,
    ) -> Callable[[RuleFn], RuleFn]:
        def register(fn: RuleFn) -> RuleFn:
            if rule_id in self._rules:
                raise DuplicateRule(f"rule {rule_id} is already registered")
            self._rules[rule_id] = Rule(rule_id, clause, title, operations, fn, decision, kind, applies, should)
            return fn

        return register

    def add(self, rule: Rule) -> None:
        if rule.id in self._rules:
            raise DuplicateRule(f"rule {rule.id} is already registered")
        self._rules[rule.id] = rule

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def get(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def for_operation(self, operation: str) -> list[Rule]:
        return [r for r in self._rules.values() if operation in r.operations]

    def evaluate(self, operation: str, ctx: Any, body: Any) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for rule in self.for_operation(operation):
            verdicts.extend(rule.evaluate(ctx, body))
        return verdicts
