"""Training QR (000 附件一): make, check text and images, and the CLI."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
import qrcode
import zxingcpp
from click.testing import CliRunner
from PIL import Image

from harness.cli import main
from harness.yxc import qr

NOW = 1_800_000_000
CB = "https://timing.example.com/yxc/callback"
GOOD = qr.make_text(CB, "term=T0001&sess=42", NOW)


def failing(report: qr.QrReport) -> set[str]:
    return {f.requirement for f in report.findings}


def test_made_text_conforms_and_decodes() -> None:
    report = qr.check_text(GOOD, now=NOW + 10)
    assert report.ok, report.findings
    assert report.redirect_uri == CB
    assert report.callback == "term=T0001&sess=42"
    assert report.timestamp == NOW
    assert report.outcomes["YXC-QR-SYMBOLOGY"].status == "skipped"  # text: no image


def enc(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        # 000 附件一 3: exact shape, the three parameters
        (GOOD.replace("jpfw.gdcd.gov.cn", "jpfw.example.cn"), NOW, {"YXC-QR-URL"}),
        (GOOD.replace("/m/c?", "/m/d?"), NOW, {"YXC-QR-URL"}),
        (GOOD.replace("&timestamp=", "×tamp="), NOW, {"YXC-QR-URL", "YXC-QR-TIMESTAMP"}),  # the seed's OCR mangling
        (GOOD + "&extra=1", NOW, {"YXC-QR-URL"}),
        (f"{qr.QR_BASE}?timestamp={NOW}&redirect_uri={enc(CB)}&callback=a", NOW, {"YXC-QR-URL"}),  # order (strict)
        (f"{qr.QR_BASE}?redirect_uri={CB}&timestamp={NOW}&callback=a", NOW, {"YXC-QR-URL"}),  # not URL-encoded
        (f"{qr.QR_BASE}?redirect_uri={enc(CB)}&timestamp={NOW}", NOW, {"YXC-QR-URL", "YXC-QR-CALLBACK"}),
        (f"{qr.QR_BASE}?redirect_uri={enc(CB)}&timestamp={NOW}&callback=", NOW, {"YXC-QR-CALLBACK"}),
        # 000 附件一 3 / 2.1.1: the callback address
        (qr.make_text("http://timing.example.com/cb", "a", NOW), NOW, {"YXC-QR-REDIRECT-HTTPS"}),
        (qr.make_text("https://10.1.2.3/cb", "a", NOW), NOW, {"YXC-QR-REDIRECT-DOMAIN"}),
        (qr.make_text("https://[::1]:8443/cb", "a", NOW), NOW, {"YXC-QR-REDIRECT-DOMAIN"}),
        (qr.make_text("https://timing.example.com/cb?term=1", "a", NOW), NOW, {"YXC-QR-REDIRECT-NOQUERY"}),
        # 000 附件一 3 timestamp: seconds, 5 minutes, small skew
        (qr.make_text(CB, "a", NOW), NOW + 301, {"YXC-QR-TIMESTAMP"}),
        (qr.make_text(CB, "a", NOW), NOW + 300, set()),
        (qr.make_text(CB, "a", NOW + 31), NOW, {"YXC-QR-TIMESTAMP"}),
        (qr.make_text(CB, "a", NOW + 30), NOW, set()),
        (qr.make_text(CB, "a", NOW * 1000), NOW, {"YXC-QR-TIMESTAMP"}),  # milliseconds
        (GOOD.replace(f"timestamp={NOW}", "timestamp=abc"), NOW, {"YXC-QR-TIMESTAMP"}),
        # 000 附件一 3: at most 255 bytes
        (qr.make_text(CB, "x" * 200, NOW), NOW, {"YXC-QR-BYTES"}),
        (qr.make_text("https://timing.example.com:8443/cb", "会话=一", NOW), NOW, set()),  # a port and a UTF-8 callback
        # 000 2.1.1 有效域名: local names are no public domain names (D-YXC-QR-DOMAIN)
        (qr.make_text("https://localhost:8443/cb", "a", NOW), NOW, {"YXC-QR-REDIRECT-DOMAIN"}),
        (qr.make_text("https://timing.local/cb", "a", NOW), NOW, {"YXC-QR-REDIRECT-DOMAIN"}),
        (qr.make_text("https://timing/cb", "a", NOW), NOW, {"YXC-QR-REDIRECT-DOMAIN"}),
    ],
)
def test_text_findings_name_the_rule(text: str, now: int, expected: set[str]) -> None:
    report = qr.check_text(text, now=now)
    assert failing(report) == expected, [str(f) for f in report.findings]
    for finding in report.findings:
        assert finding.clause.startswith("000 "), finding  # every finding names its clause


def test_tolerant_profile_accepts_any_order_and_more_skew() -> None:
    reordered = f"{qr.QR_BASE}?timestamp={NOW}&redirect_uri={enc(CB)}&callback=a"
    assert qr.check_text(reordered, now=NOW, profile="tolerant").ok
    assert failing(qr.check_text(qr.make_text(CB, "a", NOW + 100), now=NOW, profile="tolerant")) == set()


def test_insecure_opt_out_skips_https_and_domain() -> None:
    report = qr.check_text(qr.make_text("http://127.0.0.1:8080/cb", "a", NOW), now=NOW, allow_insecure_http=True)
    assert report.ok
    assert report.outcomes["YXC-QR-REDIRECT-HTTPS"].status == "skipped"
    assert report.outcomes["YXC-QR-REDIRECT-DOMAIN"].status == "skipped"


def test_callback_decoding_is_form_urlencoded() -> None:
    text = f"{qr.QR_BASE}?redirect_uri={enc(CB)}&timestamp={NOW}&callback=a+b%26c%3Dd"
    assert qr.check_text(text, now=NOW).callback == "a b&c=d"  # D-YXC-QR-DECODING


def test_png_decodes_with_zxing_and_passes_every_rule() -> None:
    png = qr.make_png(GOOD)
    report = qr.check_image(png, now=NOW)
    assert report.ok, report.findings
    assert report.text == GOOD
    assert report.outcomes["YXC-QR-SYMBOLOGY"].status == "passed"
    assert report.outcomes["YXC-QR-PIXELS"].status == "passed"


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_small_symbol_fails_pixels() -> None:
    code = qrcode.QRCode(box_size=1, border=4)
    code.add_data(GOOD)
    small = code.make_image().get_image().convert("L").resize((130, 130), Image.NEAREST)
    report = qr.check_image(_png(small), now=NOW)
    assert failing(report) == {"YXC-QR-PIXELS"}, report.findings
    # Strict measures the symbol: a tiny code on a big canvas still fails (D-YXC-QR-PIXELS); tolerant measures the image.
    canvas = Image.new("L", (400, 400), 255)
    canvas.paste(small, (100, 100))
    assert failing(qr.check_image(_png(canvas), now=NOW)) == {"YXC-QR-PIXELS"}
    assert qr.check_image(_png(canvas), now=NOW, profile="tolerant").ok


def test_other_symbology_fails() -> None:
    barcode = zxingcpp.create_barcode(GOOD, zxingcpp.BarcodeFormat.DataMatrix).to_image(scale=8)
    view = memoryview(barcode)
    image = Image.frombytes("L", (view.shape[1], view.shape[0]), bytes(view))
    report = qr.check_image(_png(image), now=NOW)
    assert failing(report) == {"YXC-QR-SYMBOLOGY"}
    assert "Data Matrix" in report.findings[0].message


def test_not_an_image() -> None:
    report = qr.check_image(b"not a picture")
    assert failing(report) == {"YXC-QR-SYMBOLOGY"}


def test_cli_make_and_check(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "qr.png"
    made = runner.invoke(main, ["qr", "yxc", "make", "--redirect-uri", CB, "--callback", "term=T1", "--out", str(out)])
    assert made.exit_code == 0, made.output
    text = made.stdout.strip().splitlines()[0]
    assert text.startswith(qr.QR_BASE) and out.is_file()
    for source in (text, str(out)):
        checked = runner.invoke(main, ["qr", "yxc", "check", source])
        assert checked.exit_code == 0, checked.output
        assert "conforming" in checked.stdout
    stale = runner.invoke(main, ["qr", "yxc", "check", qr.make_text(CB, "a", int(time.time()) - 600), "--json"])
    assert stale.exit_code == 1
    document = json.loads(stale.stdout)
    assert [o["requirement"] for o in document["outcomes"] if o["status"] == "failed"] == ["YXC-QR-TIMESTAMP"]


def test_cli_make_refuses_content_too_long_for_a_qr_code_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "qr.png"
    made = CliRunner().invoke(main, ["qr", "yxc", "make", "--redirect-uri", CB, "--callback", "x" * 5000, "--out", str(out)])
    assert made.exit_code == 2, made.output
    assert "too long for a QR Code" in made.output and "Invalid version" not in made.output and not out.exists()


def test_cli_check_refuses_local_and_ip_callbacks_unless_waived() -> None:
    """000 2.1.1 有效域名,不支持IP地址: a QR naming localhost or an IP does not conform; the opt-out says it is development only."""
    runner = CliRunner()
    for address in ("https://localhost:8443/cb", "https://192.168.1.10/cb", "https://timing.local/cb"):
        text = qr.make_text(address, "a")
        refused = runner.invoke(main, ["qr", "yxc", "check", text])
        assert refused.exit_code == 1, refused.output
        assert "FAILED  YXC-QR-REDIRECT-DOMAIN [000 2.1.1" in refused.stdout
        waived = runner.invoke(main, ["qr", "yxc", "check", text, "--allow-insecure-http"])
        assert waived.exit_code == 0, waived.output
        assert "development only, not valid for certification" in waived.stdout


def test_cli_missing_image_cannot_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["qr", "yxc", "check", str(tmp_path / "nope.png")])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_cli_make_refuses_nonconforming_input() -> None:
    result = CliRunner().invoke(main, ["qr", "yxc", "make", "--redirect-uri", "http://10.0.0.1/cb?x=1", "--callback", "a"])
    assert result.exit_code == 1
    assert "YXC-QR-REDIRECT-HTTPS" in result.stderr and "YXC-QR-REDIRECT-NOQUERY" in result.stderr
