"""report.pdf: the certification report as a PDF that renders the same on any machine.

The same content as report.html (verdict, results by clause with levels, the evidence behind every finding that is
not a plain pass, the requirement coverage), laid out for A4. Every glyph comes from the packaged CJK font
(``harness/assets/fonts/HarnessCJK-Regular.ttf``, a GB 2312 subset of WenQuanYi Micro Hei), embedded as a TrueType
subset (``FontFile2``), so a reader without any Chinese font installed sees the Chinese text. fpdf2 writes it: pure
Python, it embeds TTF subsets with ToUnicode maps (so the text can be searched and copied) and wraps CJK text (a run
without spaces is broken between characters). A character the font lacks is written as ``[U+XXXX]`` rather than dropped.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import Align, WrapMode, XPos, YPos
from fpdf.fonts import FontFace

from harness.reports.html_report import _natural, results_note, verdict_text

FONT_FILE = Path(__file__).resolve().parent.parent / "assets" / "fonts" / "HarnessCJK-Regular.ttf"
FONT = "HarnessCJK"
EVIDENCE_CHARS = 1500  # per request or reply body in the PDF; report.json holds the full excerpt
CELL_CHARS = 700  # per table cell: a table row cannot break across pages (the Evidence section has the whole message)

STATUS_COLOURS = {
    "passed": (31, 122, 58),
    "failed": (179, 38, 30),
    "error": (138, 90, 0),
    "warning": (154, 103, 0),
    "review": (29, 78, 216),
    "skipped": (107, 114, 128),
}
VERDICT_COLOURS = {"passed": (31, 122, 58), "failed": (179, 38, 30), "error": (138, 90, 0)}
MUTED = (107, 114, 128)
INK = (29, 35, 48)


@cache
def _cmap() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(FONT_FILE, lazy=True) as font:
        return frozenset(font.getBestCmap())


def clean(text: Any) -> str:
    """Text the embedded font can show: characters it lacks become ``[U+XXXX]``, tabs spaces, other controls dropped."""
    cmap = _cmap()
    out = []
    for ch in str(text):
        code = ord(ch)
        if ch == "\n" or code in cmap:
            out.append(ch)
        elif ch == "\t":
            out.append("    ")
        elif code < 0x20 or 0x7F <= code < 0xA0:
            continue
        else:
            out.append(f"[U+{code:04X}]")
    return "".join(out)


def _cell(text: str) -> str:
    return text if len(text) <= CELL_CHARS else f"{text[:CELL_CHARS]}… ({len(text)} chars: see Evidence)"


def _pretty(value: Any, limit: int = EVIDENCE_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)
    return text if len(text) <= limit else f"{text[:limit]}…({len(text)} chars; report.json has the excerpt)"


class _Report(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._footer_title = title
        self.add_font(FONT, "", str(FONT_FILE))
        self.set_font(FONT, size=9)
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)
        self.set_text_color(*INK)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FONT, size=7)
        self.set_text_color(*MUTED)
        self.cell(0, 5, clean(f"{self._footer_title} · page {self.page_no()}/{{nb}}"), align="C")
        self.set_text_color(*INK)

    def heading(self, text: str, size: float = 13) -> None:
        self.ln(3)
        self.set_font(FONT, size=size)
        self.multi_cell(0, size * 0.5, clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.WORD)
        self.set_draw_color(227, 230, 236)
        self.line(self.l_margin, self.get_y() + 0.5, self.w - self.r_margin, self.get_y() + 0.5)
        self.ln(2)
        self.set_font(FONT, size=9)

    def para(self, text: str, size: float = 9, colour: tuple[int, int, int] = INK) -> None:
        self.set_font(FONT, size=size)
        self.set_text_color(*colour)
        # Left-aligned: fpdf2 justifies by default, which spreads evidence JSON across the line and pushes a lone
        # key ("sign":) before a long unbroken value to the right margin.
        self.multi_cell(0, size * 0.48, clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.WORD, align=Align.L)
        self.set_text_color(*INK)
        self.set_font(FONT, size=9)

    def table_of(self, widths: tuple[float, ...], head: tuple[str, ...] | None, rows: list[tuple[str, ...]], size: float = 8) -> None:
        self.set_font(FONT, size=size)
        with self.table(
            col_widths=widths,
            width=self.epw,
            line_height=size * 0.5,
            wrapmode=WrapMode.WORD,
            text_align="LEFT",
            headings_style=FontFace(fill_color=(244, 246, 249)),
            borders_layout="HORIZONTAL_LINES",
            padding=0.8,
            first_row_as_headings=head is not None,
        ) as table:
            if head is not None:
                heading = table.row()
                for text in head:
                    heading.cell(clean(text))
            for row in rows:
                cells = table.row()
                for text in row:
                    cells.cell(_cell(clean(text)))  # cut after [U+XXXX] naming, which lengthens
        self.set_font(FONT, size=9)


def render(document: dict[str, Any]) -> bytes:
    """The report document (harness.reports.document.build) as PDF bytes."""
    d = document
    verdict = str(d["verdict"])
    pdf = _Report(f"harness certify {d['role']}: {verdict.upper()}")
    pdf.set_title(clean(f"harness certify {d['role']}: {verdict.upper()}"))
    pdf.set_author("harness")
    pdf.set_creator(f"harness {d['harness_version']}")
    pdf.set_lang("zh-CN")
    pdf.alias_nb_pages()
    pdf.add_page()

    pdf.set_font(FONT, size=16)
    pdf.multi_cell(0, 8, clean(f"Conformance report: {d['role']}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT, wrapmode=WrapMode.WORD)
    pdf.ln(2)
    pdf.set_fill_color(*VERDICT_COLOURS.get(verdict, (80, 80, 80)))
    pdf.set_text_color(255, 255, 255)
    pdf.set_font(FONT, size=14)
    reason = verdict_text(d) + (f": {d['reason']}" if d.get("reason") else "")
    pdf.multi_cell(0, 7, clean(f"Verdict: {verdict.upper()}\n{reason}"), fill=True, padding=2, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    pdf.set_fill_color(255, 255, 255)
    if not d["certification_valid"]:
        pdf.ln(1)
        pdf.set_draw_color(179, 38, 30)
        pdf.set_text_color(179, 38, 30)
        pdf.set_font(FONT, size=12)
        pdf.multi_cell(0, 7, "NOT VALID FOR CERTIFICATION", border=1, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*INK)
    pdf.ln(2)
    t = d["totals"]
    covered = sum(1 for r in d["coverage"] if r["coverage"] != "not covered")
    note = results_note(d)
    pdf.para(
        f"{t['planned']} checks planned{f' ({note})' if note else ''} · {t.get('passed', 0)} passed · {t.get('failed', 0)} failed · {t.get('warning', 0)} warnings · "
        f"{t.get('review', 0)} to review · {t.get('error', 0)} errors · {t.get('skipped', 0)} skipped · "
        f"{covered} of {len(d['coverage'])} requirements covered"
    )
    pdf.ln(1)
    meta = [
        ("Role", f"{d['role']} (platform {d['platform']})"),
        ("Target", str(d["target"])),
        ("Started / finished (UTC)", f"{d['started_at']} / {d['finished_at']}"),
        ("Harness version", str(d["harness_version"])),
        ("Random seed", str(d["seed"])),
        ("Valid for certification", "yes" if d["certification_valid"] else "no"),
    ]
    meta += [(f"Option {k}", "—" if v is None else str(v)) for k, v in d["options"].items()]
    meta += [(f"Spec {f}", f"sha256 {h}") for f, h in d["spec_hashes"].items()]
    pdf.table_of((45, 135), None, meta)
    if d["warnings"]:
        pdf.heading("Warnings")
        for w in d["warnings"]:
            pdf.para(f"· {w}")  # U+2022 is not in the packaged GB 2312 font; the middle dot is

    pdf.heading("Results by clause")
    checks = sorted(d["checks"], key=lambda c: _natural(c["clause"]))
    rows = []
    for c in checks:
        finding = c["message"] + (f" (decision {c['decision']})" if c.get("decision") else "")
        rows.append((c["clause"], f"{c['id']}\n{c['title']}", c["level"], c["status"].upper(), finding))
    pdf.table_of((38, 42, 14, 18, 68), ("Clause", "Check", "Level", "Status", "Finding"), rows, size=7.5)

    order = {"failed": 0, "error": 1, "warning": 2, "review": 3}
    findings = sorted((c for c in d["checks"] if c["status"] in order), key=lambda c: order[c["status"]])
    pdf.heading("Evidence")
    if not findings:
        pdf.para("No finding: every check passed or had nothing to judge (report.json holds the evidence of each).", colour=MUTED)
    for c in findings:
        pdf.para(f"{c['id']}  {c['level']}  {c['status'].upper()}  [{c['clause']}]", size=9, colour=STATUS_COLOURS.get(c["status"], INK))
        pdf.para((c["message"] or c["title"]) + (f" (decision {c['decision']})" if c.get("decision") else ""))
        if not c["evidence"]:
            pdf.para("No evidence recorded.", size=8, colour=MUTED)
        for i, e in enumerate(c["evidence"], 1):
            pdf.para(f"Evidence {i}" + (f": {e['note']}" if e.get("note") else ""), size=8, colour=MUTED)
            if e.get("request"):
                r = e["request"]
                pdf.para(f"Request {r.get('method')} {r.get('url')}\n{_pretty(r.get('body'))}", size=7)
            if e.get("reply"):
                r = e["reply"]
                pdf.para(f"Reply (HTTP {r.get('status')})\n{_pretty(r.get('body'))}", size=7)
        pdf.ln(2)

    pdf.heading("Requirement coverage")
    pdf.para(
        f"Every requirement of the {d['platform']} catalogue that this role can observe, with its level and the checks that ran "
        "for it in this run. Levels: MUST (the seed makes it mandatory; only a failed MUST fails the run), SHOULD (advice beyond "
        "the seed; a failure is a WARNING), REVIEW (a person judges the evidence).",
        size=8,
        colour=MUTED,
    )
    rows = []
    for r in d["coverage"]:
        ran = "\n".join(f"{c['id']} {c['status']}" for c in r["checks"]) or "none"
        level = r["level"] + (f"\n{r['level_reason']}" if r.get("level_reason") else "")
        rule = r["rule"] + (f" ({r['decision']})" if r.get("decision") else "")
        rows.append((r["id"], level, r["clause"], rule, ran, r["coverage"]))
    pdf.table_of((30, 26, 30, 44, 30, 20), ("Requirement", "Level", "Clause", "Rule", "Checks that ran", "Coverage"), rows, size=7)
    pdf.ln(3)
    pdf.para(
        "Personal data (names, ID and phone numbers) is masked the way the platforms mask it. This bundle is signed: "
        "check it with `harness report verify DIR` (report.pdf is one of the files its manifest covers).",
        size=8,
        colour=MUTED,
    )
    return bytes(pdf.output())
