"""report.html: one self-contained page a regulator reads with no tools (no scripts, fonts or images fetched).

Summary banner with the verdict, a table of results by clause, the evidence behind every finding, and the
requirement coverage, where a requirement no check enforced is listed as "not covered".

The page carries its own font: the packaged CJK font (``harness/assets/fonts/HarnessCJK-Regular.ttf``), cut down
to the characters this page uses and embedded as a WOFF ``data:`` URI in an ``@font-face`` rule, so the Chinese
text shows on a machine without any CJK font (where a browser would otherwise draw boxes). It is the body's first
font: last in the list, Chromium drew the first Chinese run of the page (the first clause of the results table) as
boxes on such a machine, having laid it out with a fallback before the embedded font was decoded and never again.
"""

from __future__ import annotations

import base64
import io
import json
import re
from functools import cache, lru_cache
from itertools import groupby
from pathlib import Path
from typing import Any

import jinja2

FONT_FILE = Path(__file__).resolve().parent.parent / "assets" / "fonts" / "HarnessCJK-Regular.ttf"

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>harness certify {{ d.role }}: {{ d.verdict | upper }}</title>
<style>
  @font-face { font-family: "HarnessCJK"; src: url(data:font/woff;base64,{{ font_woff }}) format("woff"); font-display: block; }
  body { font: 14px/1.45 "HarnessCJK", system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif; margin: 0 auto;
         max-width: 1180px; padding: 0 20px 40px; color: #1d2330; }
  h1 { font-size: 22px; margin: 24px 0 8px; } h2 { font-size: 18px; margin: 30px 0 8px; border-bottom: 2px solid #e3e6ec; }
  table { border-collapse: collapse; width: 100%; margin: 8px 0; }
  th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid #e3e6ec; overflow-wrap: anywhere; }
  th { background: #f4f6f9; font-weight: 600; }
  code, pre { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, "Noto Sans Mono CJK SC", "Microsoft YaHei", "HarnessCJK", monospace; }
  pre { background: #f7f8fa; border: 1px solid #e3e6ec; padding: 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
  .banner { padding: 16px 20px; border-radius: 6px; font-size: 20px; font-weight: 700; margin: 16px 0 8px; color: #fff; }
  .banner small { display: block; font-size: 14px; font-weight: 400; margin-top: 4px; }
  .v-passed { background: #1f7a3a; } .v-failed { background: #b3261e; } .v-error { background: #8a5a00; }
  .invalid { border: 3px solid #b3261e; color: #b3261e; background: #fdecea; padding: 10px 16px; font-weight: 700;
             font-size: 18px; text-align: center; letter-spacing: .04em; margin: 8px 0; }
  .s { font-weight: 700; white-space: nowrap; } .s-passed { color: #1f7a3a; } .s-failed { color: #b3261e; }
  .s-error { color: #8a5a00; } .s-skipped, .s-not-covered { color: #6b7280; } .s-covered { color: #1f7a3a; }
  .s-warning { color: #9a6700; } .s-review { color: #1d4ed8; } .lvl { font-size: 11px; color: #6b7280; }
  .finding.warn { border-color: #9a6700; } .finding.rev { border-color: #1d4ed8; }
  .meta th { width: 200px; } .muted { color: #6b7280; } details { margin: 6px 0; } summary { cursor: pointer; }
  .finding { border-left: 4px solid #b3261e; padding: 2px 12px; margin: 12px 0; } .finding.ok { border-color: #1f7a3a; }
  .totals span { display: inline-block; margin-right: 18px; }
</style>
</head>
<body>
<h1>Conformance report: {{ d.role }}</h1>
<div class="banner v-{{ d.verdict }}">Verdict: {{ d.verdict | upper }}
  <small>{{ verdict_text }}{% if d.reason %}: {{ d.reason }}{% endif %}</small></div>
{% if not d.certification_valid %}<div class="invalid">NOT VALID FOR CERTIFICATION</div>{% endif %}
<p class="totals"><span><b>{{ d.totals.planned }}</b> checks planned{% if results_note %} ({{ results_note }}){% endif %}</span><span class="s-passed"><b>{{ d.totals.passed }}</b> passed</span>
<span class="s-failed"><b>{{ d.totals.failed }}</b> failed</span><span class="s-warning"><b>{{ d.totals.warning }}</b> warnings</span>
<span class="s-review"><b>{{ d.totals.review }}</b> to review</span><span class="s-error"><b>{{ d.totals.error }}</b> errors</span>
<span class="s-skipped"><b>{{ d.totals.skipped }}</b> skipped</span>
<span><b>{{ covered }}</b> of {{ d.coverage | length }} requirements covered</span></p>

<table class="meta">
<tr><th>Role</th><td>{{ d.role }} (platform {{ d.platform }})</td></tr>
<tr><th>Target</th><td>{{ d.target }}</td></tr>
<tr><th>Started / finished (UTC)</th><td>{{ d.started_at }} / {{ d.finished_at }}</td></tr>
<tr><th>Harness version</th><td>{{ d.harness_version }}</td></tr>
<tr><th>Random seed</th><td>{{ d.seed }}</td></tr>
<tr><th>Valid for certification</th><td>{{ "yes" if d.certification_valid else "no" }}</td></tr>
{% for k, v in d.options.items() %}<tr><th>Option {{ k }}</th><td>{{ "—" if v is none else v }}</td></tr>{% endfor %}
{% for f, h in d.spec_hashes.items() %}<tr><th>Spec {{ f }}</th><td><code>sha256 {{ h }}</code></td></tr>{% endfor %}
</table>
{% if d.warnings %}<h2>Warnings</h2><ul>{% for w in d.warnings %}<li>{{ w }}</li>{% endfor %}</ul>{% endif %}

<h2>Results by clause</h2>
<table>
<tr><th>Clause</th><th>Check</th><th>Status</th><th>Finding</th></tr>
{% for clause, rows in by_clause %}{% for c in rows %}
<tr>{% if loop.first %}<td rowspan="{{ rows | length }}">{{ clause }}</td>{% endif %}
<td>{% if c.shown %}<a href="#{{ c.anchor }}"><code>{{ c.id }}</code></a>{% else %}<code>{{ c.id }}</code>{% endif %}<br><span class="muted">{{ c.title }}</span> <span class="lvl">{{ c.level }}</span></td>
<td class="s s-{{ c.status }}">{{ c.status | upper }}</td><td>{{ c.message }}{% if c.decision %} <span class="muted">(decision {{ c.decision }})</span>{% endif %}</td></tr>
{% endfor %}{% endfor %}
</table>

<h2>Evidence</h2>
{% for c in checks %}
<div class="finding{% if c.status == 'passed' %} ok{% elif c.status == 'warning' %} warn{% elif c.status == 'review' %} rev{% endif %}" id="{{ c.anchor }}">
<p><code>{{ c.id }}</code> <span class="lvl">{{ c.level }}</span> <span class="s s-{{ c.status }}">{{ c.status | upper }}</span> [{{ c.clause }}]<br>{{ c.message or c.title }}{% if c.decision %} <span class="muted">(decision {{ c.decision }})</span>{% endif %}</p>
{% for e in c.evidence %}
<details{% if c.status in ('failed', 'error') %} open{% endif %}><summary>Evidence {{ loop.index }}{% if e.note %}: {{ e.note }}{% endif %}</summary>
{% if e.request %}<p><b>Request</b> <code>{{ e.request.method }} {{ e.request.url }}</code></p><pre>{{ e.request_text }}</pre>{% endif %}
{% if e.reply %}<p><b>Reply</b> (HTTP {{ e.reply.status }})</p><pre>{{ e.reply_text }}</pre>{% endif %}
</details>
{% else %}<p class="muted">No evidence recorded.</p>{% endfor %}
</div>
{% endfor %}

<h2>Requirement coverage</h2>
<p class="muted">Every requirement of the {{ d.platform }} catalogue that this role can observe, with its level and the
checks that ran for it in this run. A requirement no check enforced in this run is listed as not covered.
Levels: MUST (the seed makes it mandatory; only a failed MUST fails the run), SHOULD (advice beyond the seed; a
failure is a WARNING), REVIEW (a person judges the evidence).</p>
<table>
<tr><th>Requirement</th><th>Level</th><th>Clause</th><th>Rule</th><th>Checks that ran</th><th>Coverage</th></tr>
{% for r in d.coverage %}
<tr><td><code>{{ r.id }}</code></td><td>{{ r.level }}{% if r.level_reason %}<br><span class="muted">{{ r.level_reason }}</span>{% endif %}</td><td>{{ r.clause }}</td><td>{{ r.rule }}{% if r.decision %} <span class="muted">({{ r.decision }})</span>{% endif %}</td>
<td>{% for c in r.checks %}<code>{{ c.id }}</code> <span class="s-{{ c.status }}">{{ c.status }}</span>{% if not loop.last %}<br>{% endif %}{% else %}<span class="muted">none</span>{% endfor %}</td>
<td class="s s-{{ r.coverage | replace(' ', '-') }}">{{ r.coverage }}</td></tr>
{% endfor %}
</table>
<p class="muted">Personal data (names, ID and phone numbers) is masked the way the platforms mask it. This bundle is signed:
check it with <code>harness report verify DIR</code>.</p>
</body>
</html>
"""

VERDICTS = {
    "passed": "no MUST failed",
    "failed": "at least one MUST failed",
    "error": "the run could not complete",
}


def verdict_text(document: dict[str, Any]) -> str:
    """The banner's second line: a pass with warnings or items to review says so, so it never reads as a clean pass."""
    text = VERDICTS.get(document["verdict"], "")
    totals = document.get("totals") or {}
    also = [
        f"{n} {word}{'' if n == 1 or word == 'to review' else 's'}"
        for n, word in ((totals.get("warning", 0), "warning"), (totals.get("review", 0), "to review"))
        if n
    ]
    if document["verdict"] == "passed" and also:
        text += f", with {' and '.join(also)}"
    return text


def results_note(document: dict[str, Any]) -> str:
    """When the results do not number the checks planned (a check that reports two findings, a run that stopped), say so."""
    totals = document.get("totals") or {}
    results = len(document.get("checks") or ())
    planned = totals.get("planned", 0)
    if results == planned:
        return ""
    why = "a check may report more than one finding" if results > planned else "the run stopped before every check reported"
    return f"{results} result{'' if results == 1 else 's'}: {why}"


_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_template = _env.from_string(TEMPLATE)


def _natural(text: str) -> list[Any]:
    """Sort key that puts 表A.8 #9 before #10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _pretty(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)


@cache
def _font_bytes() -> bytes:
    return FONT_FILE.read_bytes()


def font_subset_woff(text: str) -> bytes:
    """The packaged font cut to the characters of ``text`` (plus ASCII), as WOFF (zlib: no extra library)."""
    return _subset(frozenset(ord(c) for c in text) | frozenset(range(0x20, 0x7F)))


@lru_cache(maxsize=16)
def _subset(unicodes: frozenset[int]) -> bytes:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(_font_bytes()))
    options = subset.Options()
    options.flavor = "woff"
    options.notdef_outline = True
    options.name_IDs = ["*"]  # keep the names, the copyright and the licence notice
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    out = io.BytesIO()
    font.flavor = "woff"
    font.save(out)
    return out.getvalue()


def render(document: dict[str, Any]) -> str:
    checks = []
    for i, check in enumerate(document["checks"]):
        evidence = []
        for e in check["evidence"]:
            e = {"note": e.get("note", ""), "request": e.get("request"), "reply": e.get("reply")}
            e["request_text"] = _pretty(e["request"]["body"]) if e["request"] else ""
            e["reply_text"] = _pretty(e["reply"]["body"]) if e["reply"] else ""
            evidence.append(e)
        # A passed check with nothing to show gets no evidence section: it would only bury the findings.
        shown = bool(evidence) or check["status"] != "passed"
        checks.append({**check, "anchor": f"check-{i}", "evidence": evidence, "shown": shown})
    # Failures first in the evidence list: that is what a reader opens the report for.
    order = {"failed": 0, "error": 1, "warning": 2, "review": 3, "passed": 4, "skipped": 5}
    by_clause = [
        (clause, list(rows)) for clause, rows in groupby(sorted(checks, key=lambda c: _natural(c["clause"])), key=lambda c: c["clause"])
    ]
    values = dict(
        d=document,
        verdict_text=verdict_text(document),
        results_note=results_note(document),
        checks=sorted((c for c in checks if c["shown"]), key=lambda c: order.get(c["status"], 9)),
        by_clause=by_clause,
        covered=sum(1 for r in document["coverage"] if r["coverage"] != "not covered"),
    )
    page = _template.render(**values, font_woff="")  # the page's own characters decide the font subset
    return _template.render(**values, font_woff=base64.b64encode(font_subset_woff(page)).decode("ascii"))
