"""What a regulator relies on when handed a bundle: verification that tells tampering from a wrong trust anchor and
says which run the bundle reports, a banner that never shows a pass with warnings as a clean pass, totals that add
up, and evidence in the PDF laid out as written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pypdfium2
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.conformance import catalogue
from harness.conformance.engine import CheckSet, failed, passed, run
from harness.conformance.model import Evidence
from harness.conformance.runner import run_role
from harness.pki import ca
from harness.reports import pdf_report
from harness.reports.html_report import render as render_html
from harness.schema import open_store
from tests.reports.sample_run import write


def verify(*args: object):
    return CliRunner().invoke(main, ["report", "verify", *map(str, args)])


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, Path]:
    out, db = tmp_path / "out", tmp_path / "h.db"
    assert write(out, db) == 1
    return out, db


def test_a_store_that_does_not_exist_is_one_line_exit_2_and_is_not_created(bundle, tmp_path):
    out, _ = bundle
    result = verify(out, "--db", tmp_path / "typo.db")
    assert result.exit_code == 2
    assert "no store at" in result.output and "TAMPERED" not in result.output
    assert not list(tmp_path.glob("typo.db*"))  # before, a new store and a new CA were made, then the bundle called tampered


def test_a_store_that_never_signed_is_one_line_exit_2_and_gets_no_ca(bundle, tmp_path):
    out, _ = bundle
    empty = tmp_path / "empty.db"
    open_store(empty).close()
    result = verify(out, "--db", empty)
    assert result.exit_code == 2 and "has no test CA" in result.output
    store = open_store(empty)
    assert not store._table_exists("pki_ca")  # verifying wrote no CA into it


def test_a_ca_file_that_is_not_pem_is_one_line_exit_2(bundle, tmp_path):
    out, _ = bundle
    (tmp_path / "ca.pem").write_text("not a certificate")
    result = verify(out, "--ca", tmp_path / "ca.pem")
    assert result.exit_code == 2 and "holds no PEM certificate" in result.output and "Traceback" not in result.output


def test_another_stores_signature_is_untrusted_not_tampered(bundle, tmp_path):
    out, _ = bundle
    other = tmp_path / "other.db"
    ca(open_store(other))  # a store with a CA of its own
    result = verify(out, "--db", other)
    assert result.exit_code == 1
    assert "UNTRUSTED signer.pem" in result.output and "TAMPERED" not in result.output
    assert "sha256" in result.output  # names the CA it was checked against


def test_a_manifest_named_file_in_a_subdirectory_is_an_extra_file(bundle):
    out, _ = bundle
    (out / "sub").mkdir()
    (out / "sub" / "manifest.json").write_text("{}")
    (out / "sub" / "manifest.sig").write_text("x")
    result = verify(out)
    assert result.exit_code == 1
    assert "extra: sub/manifest.json" in result.output and "extra: sub/manifest.sig" in result.output


def test_an_intact_bundle_says_which_run_it_reports_and_against_which_ca(bundle):
    out, db = bundle
    result = verify(out, "--db", db)
    assert result.exit_code == 0
    assert "CA CN=harness test CA" in result.output
    assert "run: role yxc-sample, verdict failed, target https://vendor.example.com/cb" in result.output
    # a swapped-in bundle of another run is intact too: the summary is what tells the reader it is not the run claimed
    report = json.loads((out / "report.json").read_text())
    assert report["finished_at"] in result.output


def _document(tmp_path: Path, checks: CheckSet) -> dict:
    events = run(
        role="yxc-sample",
        platform="yxc",
        target="https://vendor.example.com/cb",
        checks=checks,
        context=None,
        seed=1,
        spec_hashes={},
        requirements=catalogue.load("yxc"),
    )
    out = tmp_path / "doc"
    run_role(events, out, progress=False, db=tmp_path / "d.db")
    return json.loads((out / "report.json").read_text())


def _pdf_text(data: bytes) -> str:
    pdf = pypdfium2.PdfDocument(data)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


def test_a_pass_with_warnings_says_so_on_the_banner(tmp_path):
    checks = CheckSet()
    checks.check("A", title="a", clause="000 附件二 2")(lambda ctx: passed("held"))
    checks.check("B", title="b", clause="000 附件二 2", level="SHOULD")(lambda ctx: failed("advice beyond the seed"))
    d = _document(tmp_path, checks)
    assert d["verdict"] == "passed" and d["totals"]["warning"] == 1
    assert "no MUST failed, with 1 warning" in render_html(d)
    assert "no MUST failed, with 1 warning" in _pdf_text(pdf_report.render(d))


def test_a_clean_pass_reads_as_one(tmp_path):
    checks = CheckSet()
    checks.check("A", title="a", clause="000 附件二 2")(lambda ctx: passed("held"))
    d = _document(tmp_path, checks)
    html = render_html(d)
    assert "no MUST failed" in html and "with 1" not in html and "results:" not in html


def test_results_that_outnumber_the_checks_are_explained(tmp_path):
    checks = CheckSet()
    checks.check("A", title="a", clause="000 附件二 2")(lambda ctx: [passed("held"), failed("and broken too")])
    checks.check("B", title="b", clause="000 附件二 2")(lambda ctx: passed("held"))
    d = _document(tmp_path, checks)
    assert d["totals"]["planned"] == 2 and len(d["checks"]) == 3
    note = "3 results: a check may report more than one finding"
    assert note in render_html(d) and note in " ".join(_pdf_text(pdf_report.render(d)).split())


def test_pdf_evidence_is_left_aligned_not_justified(tmp_path):
    checks = CheckSet()
    body = {"sign": "Q" * 900, "time": "20261202093844"}
    checks.check("A", title="a", clause="000 附件二 2")(
        lambda ctx: failed("bad", Evidence(request={"method": "POST", "url": "/ymt/qrcode/decode", "body": body}))
    )
    d = _document(tmp_path, checks)
    pdf = pypdfium2.PdfDocument(pdf_report.render(d))
    margin = 15 / 25.4 * 72  # the report's left margin, mm to points
    for i in range(len(pdf)):
        text = pdf[i].get_textpage()
        whole = text.get_text_range()
        at = whole.find('"sign":')
        if at >= 0:
            left = text.get_charbox(at)[0]
            # justified, the lone key before the long unbroken value was pushed to the right margin
            assert left < margin + 20, left
            return
    pytest.fail("the evidence key is not in the PDF")


def _resigned(out: Path, tmp_path: Path, edit) -> Path:
    """The bundle edited, then signed afresh with another store's key: what a forger without the store's key can do."""
    from harness.reports.bundle import MANIFEST, SIGNATURE, SIGNER, sign_bundle

    forged = tmp_path / "forged"
    shutil.copytree(out, forged)
    for name in (MANIFEST, SIGNATURE, SIGNER):
        (forged / name).unlink()
    report = json.loads((forged / "report.json").read_text())
    edit(report)
    (forged / "report.json").write_text(json.dumps(report, ensure_ascii=False))
    sign_bundle(forged, open_store(tmp_path / "forger.db"))
    return forged


def test_a_re_signed_report_whose_verdict_contradicts_its_results_is_caught_without_a_ca(bundle, tmp_path):
    out, db = bundle
    forged = _resigned(out, tmp_path, lambda r: r.update(verdict="passed"))
    result = verify(forged)
    assert result.exit_code == 1
    assert "inconsistent: report.json (verdict passed, but 1 MUST check(s) failed)" in result.output
    assert "UNTRUSTED" in verify(forged, "--db", db).output  # with the store's CA, the forger's key is refused too


def test_re_signed_totals_that_do_not_add_up_are_caught(bundle, tmp_path):
    out, _ = bundle
    forged = _resigned(out, tmp_path, lambda r: r["totals"].update(failed=0, mandatory_failed=0))
    result = verify(forged)
    assert result.exit_code == 1 and "totals say 0 failed, the results hold" in result.output


def test_a_run_that_could_not_complete_still_verifies(tmp_path):
    from harness.conformance.engine import CannotRun

    def broken(ctx: object) -> None:
        raise CannotRun("the target is unreachable")

    checks = CheckSet()
    checks.check("A", title="a", clause="000 附件二 2")(lambda ctx: failed("broken"))
    checks.check("B", title="b", clause="000 附件二 2")(broken)
    d = _document(tmp_path, checks)
    assert d["verdict"] == "error"
    assert verify(tmp_path / "doc").exit_code == 0


def test_the_embedded_font_is_the_bodys_first_so_the_first_chinese_run_is_not_boxes(tmp_path):
    """Last in the list, the embedded font was loaded only when the first Chinese run needed it, and Chromium on a
    machine with no CJK font drew that run (the first clause of the results table) as boxes for good. First, it is
    loaded before any text is laid out (font-display: block holds the text until then)."""
    import re

    checks = CheckSet()
    checks.check("A", title="a", clause="000 2.1.1 (有效域名,不支持IP地址)")(lambda ctx: passed("held"))
    html = render_html(_document(tmp_path, checks))
    body = re.search(r"body \{ font: [^ ]+ ([^;]+);", html)
    assert body is not None and body.group(1).startswith('"HarnessCJK"'), body
    assert "overflow-wrap: anywhere" in html  # a long QR URL in a table cell wraps instead of widening the page
