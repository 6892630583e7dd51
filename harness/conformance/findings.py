"""Findings of the journal-graded roles (dudu-device-backend, ymt-scene-client, dym-enterprise-client, …), made once.

A *finding* is one result a check reports before the engine builds it: ``(status, message, evidence, clause,
decision)``. A check that finds many (one per call, per device) reports at most :data:`MAX_FINDINGS` with their
evidence, and counts the rest in one last result (:func:`capped`). A failed journal verdict becomes a finding by its
level (:func:`verdict_finding`): FAILED for a MUST verdict, a WARNING naming its decision for a SHOULD one, an error
for the harness's own internal error. Evidence never shows a request's secrets or personal data (:func:`redacted`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from harness.conformance.engine import Check
from harness.conformance.model import CheckResult, Evidence

Finding = tuple[str, str, tuple[Evidence, ...], str | None, str | None]  # status, message, evidence, clause, decision
MAX_FINDINGS = 50  # findings with evidence per check; the rest are counted


def capped(check: Check, findings: list[Finding], limit: int = MAX_FINDINGS) -> list[CheckResult]:
    """``findings`` as results of ``check``: warnings that say the same of many calls become one (:func:`grouped`),
    then the first ``limit`` with their evidence, then one result counting the rest (with the status of the worst of
    them: failed if any failed)."""
    findings = grouped(findings)
    kept = [check.result(s, m, *e, clause=c, decision=d) for s, m, e, c, d in findings[:limit]]
    if len(findings) > limit:
        rest = findings[limit:]
        worst = next((f for f in rest if f[0] == "failed"), rest[0])
        kept.append(check.result(worst[0], f"… and {len(rest)} more findings like these (evidence omitted)", clause=worst[3]))
    return kept


_QUOTED = re.compile(r"'[^']*'")
_PLACE_NOISE = re.compile(r"^journal #\d+ | \((?:ret_code|code|errorcode) [^)]*\)$")  # a call's id, its reply code
GROUP_EVIDENCE = 3  # evidence items a grouped warning keeps (the first calls it was found in)
GROUP_PLACES = 6  # places (device and operation, or call) a grouped warning names before counting the rest


def grouped(findings: list[Finding]) -> list[Finding]:
    """Warnings naming a decision that say the same thing (``where: what``, equal but for the quoted values) of several
    calls, as one warning each: the vendor chose one tolerated form and sent it in every call, which a reader needs to
    see once, with how often and where, not once per call. It keeps the first call's words (a real example value),
    the number of calls, where they were (counted per place) and the first calls' evidence. Failures are never folded:
    each failed call stays a finding of its own."""
    groups: dict[tuple[Any, ...], list[Finding]] = {}
    order: list[Finding | list[Finding]] = []  # a list: a group, in the place of its first member
    for finding in findings:
        status, message, _, clause, decision = finding
        where, sep, what = message.partition(": ")
        if status != "warning" or decision is None or not sep:
            order.append(finding)
            continue
        key = (clause, decision, _QUOTED.sub("'…'", what))
        if key not in groups:
            groups[key] = []
            order.append(groups[key])
        groups[key].append(finding)
    return [_folded(item) if isinstance(item, list) else item for item in order]


def _folded(members: list[Finding]) -> Finding:
    first = members[0]
    if len(members) == 1:
        return first
    where, _, what = first[1].partition(": ")
    places = Counter(_PLACE_NOISE.sub("", m[1].partition(": ")[0]) for m in members)
    named = ", ".join(f"{p} ×{n}" for p, n in places.most_common(GROUP_PLACES))
    more = f", {len(places) - GROUP_PLACES} more places" if len(places) > GROUP_PLACES else ""
    message = f"{len(members)} calls: {what} (first {where}; in {named}{more})"
    evidence = tuple(e for m in members[:GROUP_EVIDENCE] for e in m[2])
    return first[0], message, evidence, first[3], first[4]


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


def journal_url(entry: Any) -> str:
    """The URL a journaled call was sent to, as the vendor wrote it: its certification session's prefix, the path,
    and the query (the report masks secrets in it)."""
    prefix = f"/_session/{entry['session']}" if entry.get("session") else ""
    return f"{prefix}{entry['path']}" + (f"?{entry['query']}" if entry.get("query") else "")


def entry_evidence(entry: Any, note: str = "") -> Evidence:
    """One journal entry (harness.journal.entry_from_row) as evidence: where it is, the request as sent (its body
    parsed when it is JSON) and the reply; the report masks personal data and secrets in both (harness.reports)."""
    text = entry.get("request_body")
    try:
        body: Any = json.loads(text) if text else text
    except ValueError:
        body = text
    operation, method, status = entry.get("operation") or "", entry.get("method") or "POST", entry.get("status")
    return call_evidence(entry["id"], operation, journal_url(entry), body, entry.get("reply"), note, method=method, status=status)


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
    method: str = "POST",
    status: int | None = 200,
) -> Evidence:
    """One journaled call as evidence: where it is in the journal, and its request and reply :func:`redacted`."""
    where = f"journal #{journal_id} {operation}".rstrip()
    return Evidence(
        note=f"{note} ({where})" if note else where,
        request={"method": method, "url": url, "body": redacted(body, hidden, when_set=when_set), "journal_id": journal_id},
        reply={"status": status, "body": redacted(reply, hidden, when_set=when_set)},
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
