"""report.pdf and the HTML report's font: readable on a machine with no CJK font installed.

This machine has none (``fc-list :lang=zh`` is empty), which is the case to prove: every glyph must come from the
font the report carries.
"""

from __future__ import annotations

import base64
import io
import re

import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops
from pypdf import PdfReader
from pypdf.generic import IndirectObject

from harness.cli import main
from tests.reports.sample_run import write

CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pdf")
    out = tmp / "out"
    assert write(out, tmp / "h.db") == 1
    return out


def _resolve(obj):
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _fonts(reader: PdfReader):
    for page in reader.pages:
        resources = _resolve(page.get("/Resources")) or {}
        for font in (_resolve(resources.get("/Font")) or {}).values():
            yield _resolve(font)


def test_every_font_in_the_pdf_is_embedded(bundle):
    fonts = list(_fonts(PdfReader(bundle / "report.pdf")))
    assert fonts, "the PDF names no font"
    for font in fonts:
        assert font["/Subtype"] == "/Type0", font  # Unicode (CID) font: no unembedded base-14 or system font
        descendant = _resolve(font["/DescendantFonts"][0])
        descriptor = _resolve(descendant["/FontDescriptor"])
        assert "/FontFile2" in descriptor, f"{font['/BaseFont']} is not embedded as TrueType"
        assert font["/BaseFont"].endswith("+WenQuanYiMicroHei"), font["/BaseFont"]  # a subset (XXXXXX+) of the packaged font
        assert "/ToUnicode" in font  # so the text can be searched and copied


def test_the_chinese_text_round_trips_through_text_extraction(bundle):
    pdf = pdfium.PdfDocument(str(bundle / "report.pdf"))
    text = pdf[0].get_textpage().get_text_range()
    for phrase in ("附件四", "表A.8", "附件二", "张*丰"):
        assert phrase in text, phrase
    assert "13812345678" not in text and "440103199001011234" not in text  # masked, as in every report


def test_page_one_renders_distinct_chinese_glyphs_without_system_fonts(bundle, tmp_path):
    pdf = pdfium.PdfDocument(str(bundle / "report.pdf"))
    page = pdf[0]
    scale = 4
    image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
    image.save(tmp_path / "page1.png")
    assert Image.open(tmp_path / "page1.png").size == image.size
    textpage = page.get_textpage()
    text = textpage.get_text_range()
    height = page.get_height()
    crops: dict[str, Image.Image] = {}
    for index, ch in enumerate(text):
        if not CJK.fullmatch(ch) or ch in crops:
            continue
        left, bottom, right, top = textpage.get_charbox(index, loose=True)
        box = (int(left * scale), int((height - top) * scale), int(right * scale) + 1, int((height - bottom) * scale) + 1)
        crop = image.crop(box)
        assert crop.size[0] > 4 and crop.size[1] > 4, (ch, box)
        crops[ch] = crop
    assert len(crops) >= 8, sorted(crops)
    for ch, crop in crops.items():
        low, high = crop.getextrema()
        assert low < 128 and high > 200, f"{ch} rendered blank"  # ink on paper
    # Tofu (a missing glyph) draws the same box for every character: distinct characters must differ.
    drawn = list(crops.items())
    for (a, ca), (b, cb) in zip(drawn, drawn[1:], strict=False):
        size = (min(ca.size[0], cb.size[0]), min(ca.size[1], cb.size[1]))
        diff = ImageChops.difference(ca.crop((0, 0, *size)), cb.crop((0, 0, *size)))
        assert diff.getbbox() is not None, f"{a} and {b} render identically (boxes?)"


def test_a_changed_pdf_fails_verification(bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    assert CliRunner().invoke(main, ["report", "verify", str(copy)]).exit_code == 0
    data = bytearray((copy / "report.pdf").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "report.pdf").write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["report", "verify", str(copy)])
    assert result.exit_code == 1 and "changed: report.pdf" in result.output


def test_a_character_the_font_lacks_is_named_not_dropped():
    from harness.reports.pdf_report import clean

    assert clean("粤学车 ✓") == "粤学车 [U+2713]"
    assert clean("a\tb\x00c") == "a    bc"


def test_the_html_report_embeds_a_font_covering_its_chinese_text(bundle):
    page = (bundle / "report.html").read_text(encoding="utf-8")
    match = re.search(r'@font-face \{ font-family: "HarnessCJK"; src: url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)', page)
    assert match, "no embedded @font-face"
    font = TTFont(io.BytesIO(base64.b64decode(match.group(1))))
    cmap = font.getBestCmap()
    chinese = set(CJK.findall(page))
    assert len(chinese) >= 8
    assert not {c for c in chinese if ord(c) not in cmap}
    assert 'font: 14px/1.45 "HarnessCJK", ' in page  # the body's first font (test_regulator.py says why)
    assert "http://" not in page.split("<body>", 1)[0] and "https://" not in page.split("<body>", 1)[0]  # nothing fetched


def test_a_finding_of_kilobytes_of_generated_junk_still_renders(tmp_path):
    """A negative fuzz case's message can run to kilobytes of characters the font lacks: a table row cannot break
    across pages, so the results table cuts it and the Evidence section keeps it; the bundle has its report.pdf."""
    from harness.conformance.engine import CheckSet, warning

    junk = "".join(chr(c) for c in range(0x1F600, 0x1F650)) * 60 + "򇕹" * 2000
    checks = CheckSet()
    checks.check("FUZZ-NEGATIVE", title="generated negative cases", clause="002 §1.12.2", level="SHOULD")(
        lambda ctx: warning(f"5 of 10 cases accepted although they break videoUrl (sent {junk!r})")
    )
    from harness.conformance.runner import run_role
    from tests.reports.sample_run import events

    out = tmp_path / "out"
    assert run_role(events(checks=checks), out, progress=False, db=tmp_path / "h.db") == 0
    assert (out / "report.pdf").exists()
    text = "".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages)
    assert "chars: see Evidence" in text
