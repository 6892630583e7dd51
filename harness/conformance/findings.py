"""Findings of the journal-graded roles (dudu-device-backend, ymt-scene-client, dym-enterprise-client, …), made once.

A *finding* is one result a check reports before the engine builds it: ``(status, message, evidence, clause,
decision)``. A check that finds many (one per call, per device) reports at most :data:`MAX_FINDINGS` with their
evidence, and counts the rest in one last result (:func:`capped`). A failed journal verdict becomes a finding by its
level (:func:`verdict_finding`): FAILED for a MUST verdict, a WARNING naming its decision for a SHOULD one, an error
for the harness's own internal error. Evidence never shows a request's secrets or personal data (:func:`redacted`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.conformance.engine import Check
from harness.conformance.model import CheckResult, Evidence

Finding = tuple[str, str, tuple[Evidence, ...], str | None, str | None]  # status, message, evidence, clause, decision
MAX_FINDINGS = 50  # findings with evidence per check; the rest are counted


def capped(check: Check, findings: list[Finding], limit: int = MAX_FINDINGS) -> list[CheckResult]:
    """``findings`` as results of ``check``: the first ``limit`` with their evidence, then one result counting the rest
    (with the status of the worst of them: failed if any failed)."""
    kept = [check.result(s, m, *e, clause=c, decision=d) for s, m, e, c, d in findings[:limit]]
    if len(findings) > limit:
        rest = findings[limit:]
        worst = next((f for f in rest if f[0] == "failed"), rest[0])
        kept.append(check.result(worst[0], f"… and {len(rest)} more findings like these (evidence omitted)", clause=worst[3]))
    return kept


def verdict_finding(verdict: dict[str, Any], message: str, evidence: Evidence, *, reading: bool = False) -> Finding:
    """One failed journal verdict as a finding, ``message`` naming where it was found. ``reading``: a SHOULD verdict's
    message also says that only the strict reading of its decision refuses the form."""
    should = verdict.get("level") == "SHOULD"
    status = "error" if verdict.get("rule") == "INTERNAL" else "warning" if should else "failed"
    field = f" (field {verdict['field']})" if verdict.get("field") else ""
    decision = verdict.get("decision") if should else None
    tail = f"; only the strict reading of {decision} refuses this form" if reading and decision else ""
    text = f"{message}: {verdict.get('rule')}: {verdict.get('message', '')}{field}{tail}"
    return status, text, (evidence,), verdict.get("clause") or None, decision


def call_evidence(
    journal_id: int,
    operation: str,
    url: str,
    body: Any,
    reply: Any,
    note: str = "",
    *,
    hidden: Iterable[str] = (),
    when_set: Iterable[str] = (),
) -> Evidence:
    """One journaled call as evidence: where it is in the journal, and its request and reply :func:`redacted`."""
    where = f"journal #{journal_id} {operation}"
    return Evidence(
        note=f"{note} ({where})" if note else where,
        request={"method": "POST", "url": url, "body": redacted(body, hidden, when_set=when_set), "journal_id": journal_id},
        reply={"status": 200, "body": redacted(reply, hidden, when_set=when_set)},
    )


def redacted(value: Any, hidden: Iterable[str] | None = None, *, when_set: Iterable[str] = ()) -> Any:
    """``value`` with the string values of the ``hidden`` keys (and every set value of the ``when_set`` keys), at any
    depth, replaced by ``"<redacted>"``: what evidence may show of a request or reply."""
    strings, any_set = frozenset(hidden or ()), frozenset(when_set)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: "<redacted>" if (k in strings and isinstance(v, str)) or (k in any_set and v) else walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(value)
