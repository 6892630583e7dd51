"""The report document: one dict built from the run context, shared by every writer.

Personal data is masked here (``harness.masking``) and long values are cut to excerpts, so writers only format.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from harness import __version__
from harness.conformance.catalogue import coverage
from harness.conformance.model import CheckResult, Evidence
from harness.conformance.runner import RunContext
from harness.masking import mask_body, mask_text, mask_value

FORMAT = "harness-report/1"
BODY_EXCERPT_CHARS = 4000  # evidence bodies longer than this (serialised) are cut
VALUE_EXCERPT_CHARS = 64  # query values longer than this (signatures) are cut
KEPT_HEADERS = ("content-type", "content-length", "user-agent")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit // 2]}…({len(text)} chars)"


def _url(url: str) -> str:
    """Mask a URL and shorten long query values (a 512-char signature says nothing to a reader)."""
    base, sep, query = url.partition("?")
    if not sep:
        return mask_text(url)
    # For reading, not for replay: values stay decoded.
    pairs = [f"{k}={_cut(v, VALUE_EXCERPT_CHARS)}" for k, v in parse_qsl(query, keep_blank_values=True)]
    return mask_text(base + "?" + "&".join(pairs))


def _body(body: Any) -> Any:
    masked = mask_value(body) if isinstance(body, dict | list) else mask_body(body)
    text = masked if isinstance(masked, str) else json.dumps(masked, ensure_ascii=False)
    if len(text) > BODY_EXCERPT_CHARS:
        return _cut(text, BODY_EXCERPT_CHARS)
    return masked


def _headers(headers: dict[str, Any] | None) -> dict[str, str]:
    return {k: mask_text(str(v)) for k, v in (headers or {}).items() if k.lower() in KEPT_HEADERS}


def evidence_excerpt(evidence: Evidence) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if evidence.note:
        out["note"] = mask_text(evidence.note)
    if evidence.request is not None:
        req = evidence.request
        out["request"] = {
            "method": req.get("method"),
            "url": _url(str(req.get("url", ""))),
            "headers": _headers(req.get("headers")),
            "body": _body(req.get("body")),
        }
        out["request"].update({k: mask_value(v, k) for k, v in req.items() if k not in ("method", "url", "headers", "body")})
    if evidence.reply is not None:
        rep = evidence.reply
        out["reply"] = {"status": rep.get("status"), "headers": _headers(rep.get("headers")), "body": _body(rep.get("body"))}
    return out


def check_entry(result: CheckResult) -> dict[str, Any]:
    return {
        "id": result.check_id,
        "title": result.title,
        "clause": result.clause,
        "status": result.status,
        "level": result.level,
        "mandatory": result.mandatory,
        "decision": result.decision,
        "message": mask_text(result.message),
        "requirements": list(result.requirements),
        "duration_ms": round(result.duration_ms, 3),
        "evidence": [evidence_excerpt(e) for e in result.evidence],
    }


def build(ctx: RunContext) -> dict[str, Any]:
    """The whole report as plain data (what report.json holds)."""
    started, finished = ctx.started, ctx.finished
    return {
        "format": FORMAT,
        "verdict": ctx.verdict,
        "reason": finished.reason if finished else "",
        "role": started.role if started else None,
        "platform": started.platform if started else None,
        "target": mask_text(started.target) if started else None,
        "harness_version": __version__,
        "options": mask_value(started.options) if started else {},
        "seed": started.seed if started else None,
        "spec_hashes": dict(started.spec_hashes) if started else {},
        "started_at": ctx.began_at,  # the role's own work (cases, probes, fuzzing, drills) included
        "checks_started_at": started.at if started else None,
        "finished_at": finished.at if finished else None,
        "certification_valid": bool(started.certification_valid) if started else False,
        "totals": {
            "planned": started.planned if started else 0,
            **ctx.counts,
            "mandatory_failed": ctx.mandatory_failed,
        },
        "warnings": [mask_text(w) for w in ctx.warnings],
        "checks": [check_entry(r) for r in ctx.results],
        "coverage": coverage(started.requirements if started else (), ctx.results),
    }
