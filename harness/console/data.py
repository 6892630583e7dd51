"""What the console's pages show, read from the journal, the catalogues, the specs and the sessions (no HTML here)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from harness.conformance import catalogue
from harness.conformance.model import Requirement
from harness.conformance.negative import broken_constraints
from harness.errors import HarnessError
from harness.platform import Platform

# The journal's outcomes as a person filters them; "internal" is the harness's own failure (rule INTERNAL).
VERDICT_FILTERS = {"held": "held", "refused": "failed", "warning": "warning", "internal": "internal"}
INTERNAL_RULE = "INTERNAL"
SCHEMA_RULE = "SCHEMA"
COVERAGE_ROWS = 20_000  # newest exchanges of one vendor read for its coverage


@functools.lru_cache(maxsize=16)
def requirements(platform: str) -> tuple[Requirement, ...]:
    """The platform's requirement catalogue; empty when it has none (a test platform)."""
    try:
        return catalogue.load(platform)
    except HarnessError:
        return ()


@functools.lru_cache(maxsize=16)
def requirements_by_rule(platform: str) -> dict[str, list[Requirement]]:
    """Which requirements a journal verdict's rule id enforces (the catalogue's ``rules``)."""
    out: dict[str, list[Requirement]] = {}
    for req in requirements(platform):
        for rule in req.rules:
            out.setdefault(rule, []).append(req)
    return out


def decision_text(decision_id: str | None) -> dict[str, str] | None:
    if not decision_id:
        return None
    from harness.decisions import decisions

    found = decisions().get(decision_id)
    if found is None:
        return {"id": decision_id, "issue": "", "strict": "", "tolerant": ""}
    return {"id": found.id, "issue": found.issue, "strict": found.strict, "tolerant": found.tolerant, "clause": found.clause}


def matches(summary: dict[str, Any], filters: dict[str, str]) -> bool:
    """Whether a committed exchange (a journal summary or entry) passes the journal page's filters."""
    for key in ("platform", "vendor", "operation", "session"):
        wanted = filters.get(key)
        if wanted and summary.get(key) != wanted:
            return False
    verdict = filters.get("verdict")
    if verdict == "internal":
        failed = summary.get("failed")
        if failed is None:
            failed = [v for v in summary.get("verdicts") or [] if not v.get("held")]
        return any(v.get("rule") == INTERNAL_RULE for v in failed)
    if verdict:
        return summary.get("outcome") == VERDICT_FILTERS.get(verdict, verdict)
    return True


def query_args(filters: dict[str, str]) -> dict[str, Any]:
    """:meth:`Journal.query` keyword arguments for the page's filters."""
    args: dict[str, Any] = {k: filters.get(k) or None for k in ("platform", "vendor", "operation", "session")}
    verdict = filters.get("verdict")
    if verdict == "internal":
        args["rule"] = INTERNAL_RULE
    elif verdict:
        args["verdict"] = VERDICT_FILTERS[verdict]
    return args


def pretty(text: str | None) -> str:
    """JSON text indented for reading (Chinese as characters), or the text as it is."""
    if text is None:
        return ""
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


@functools.lru_cache(maxsize=16)
def _spec(spec_file: str) -> dict[str, Any]:
    from harness.specs import load_spec

    return load_spec(spec_file)


def operations(platform: Platform) -> list[str]:
    """The operation ids of the platform's spec (the journal filter's choices: no scan of the journal)."""
    try:
        spec = _spec(platform.spec_file)
    except Exception:
        return []
    return [
        str(op["operationId"]).rsplit(".", 1)[-1]
        for item in (spec.get("paths") or {}).values()
        if isinstance(item, dict)
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]


def request_schema(platform: Platform, operation: str | None) -> dict[str, Any] | None:
    """The JSON request-body schema of ``operation`` in the platform's (strict) spec, with the spec's components so
    that its ``$ref`` resolve; None when the operation takes no JSON body."""
    if not operation:
        return None
    try:
        spec = _spec(platform.spec_file)
    except Exception:  # a spec that cannot be read shows no diff; the verdicts still say what broke
        return None
    for item in (spec.get("paths") or {}).values():
        for op in item.values():
            if not isinstance(op, dict) or str(op.get("operationId", "")).rsplit(".", 1)[-1] != operation:
                continue
            content = ((op.get("requestBody") or {}).get("content")) or {}
            for media, body in content.items():
                if "json" in media and isinstance(body.get("schema"), dict):
                    return {**body["schema"], "components": spec.get("components", {})}
    return None


def schema_diff(platform: Platform | None, entry: dict[str, Any]) -> list[dict[str, str]]:
    """Expected against sent, per broken constraint of the request schema (harness.conformance.negative), for an
    exchange with a failed SCHEMA verdict; empty otherwise."""
    if platform is None or not any(v.get("rule") == SCHEMA_RULE and not v.get("held") for v in entry["verdicts"]):
        return []
    schema = request_schema(platform, entry.get("operation"))
    if schema is None or entry.get("request_body") is None:
        return []
    try:
        body = json.loads(entry["request_body"])
    except ValueError:
        return []
    try:
        rows = broken_constraints(schema, body, limit=20)
    except Exception:  # a schema jsonschema cannot walk: no diff, never a broken page
        return []
    fields = [str(v.get("field") or "") for v in entry["verdicts"] if v.get("rule") == SCHEMA_RULE and not v.get("held")]
    for row in rows:
        if row["keyword"] == "required":  # the schema's whole list says less than the one field that is missing
            row["expected"] = "present (required)"
        if row["keyword"] == "additionalProperties":  # name the fields the object should not hold, not the whole object
            extra = [
                f[len(row["field"]) + 1 :] for f in fields if f.startswith(row["field"] + ".") and "." not in f[len(row["field"]) + 1 :]
            ]
            if extra:
                row.update(expected="no other fields", sent="unexpected " + ", ".join(extra))
    return rows


@dataclass
class Coverage:
    """A vendor's traffic against its platform's catalogue."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    exchanges: int = 0


COVERAGE_STATES = ("failed", "held", "never exercised", "judged by certify roles")


def vendor_coverage(platform: str, verdict_lists: list[list[dict[str, Any]]]) -> Coverage:
    """Per requirement of the catalogue: exercised by the vendor's traffic (held every time, or failed at least
    once), never exercised, or judged only by a certify role's checks (no journal rule names it)."""
    held: dict[str, int] = {}
    failed: dict[str, int] = {}
    for verdicts in verdict_lists:
        for v in verdicts:
            (held if v.get("held") else failed)[v["rule"]] = (held if v.get("held") else failed).get(v["rule"], 0) + 1
    out = Coverage(exchanges=len(verdict_lists))
    for req in requirements(platform):
        h = sum(held.get(r, 0) for r in req.rules)
        f = sum(failed.get(r, 0) for r in req.rules)
        if not req.rules:
            state = "judged by certify roles"
        elif f:
            state = "failed"
        elif h:
            state = "held"
        else:
            state = "never exercised"
        out.counts[state] = out.counts.get(state, 0) + 1
        out.rows.append({"req": req, "state": state, "held": h, "failed": f})
    order = {s: i for i, s in enumerate(COVERAGE_STATES)}
    out.rows.sort(key=lambda r: order[r["state"]])
    return out


def fix_hint(verdict: dict[str, Any], requirements: list[Any], diff: list[dict[str, str]]) -> str | None:
    """What to change so that a failed verdict holds, in one line, from what the journal and the catalogue already
    say: the verdict's own hint when it carries one; for a schema verdict, the broken constraint of its field (expected
    against sent); for a SHOULD verdict, the strict reading of its decision; else the requirement the rule enforces.
    None for a held verdict."""
    if verdict.get("held"):
        return None
    own = verdict.get("hint") or verdict.get("fix")
    if own:
        return str(own)
    field = str(verdict.get("field") or "")
    if verdict.get("rule") == SCHEMA_RULE and field:
        for row in diff:
            if row["field"] == field or field.startswith(row["field"] + ".") or row["field"].startswith(field + "."):
                return f"send {row['field']} as the spec says: {row['keyword']} {row['expected']} (sent {row['sent']})"
    decision = decision_text(verdict.get("decision")) if verdict.get("level") == "SHOULD" else None
    if decision and decision.get("strict"):
        return f"follow the strict reading of {verdict['decision']}: {decision['strict']}"
    if requirements:
        first = requirements[0]
        return f"meet {first.id} ({first.clause}): {first.text}"
    return None
