"""The console in headless Chromium (Playwright driving the system browser): what a person sees.

Needs ``playwright`` (the ``test`` extra) and a Chromium binary: ``/usr/bin/chromium`` (``apt-get install chromium``)
or ``HARNESS_CHROMIUM=/path/to/chrome``. Without them every test here is skipped, saying how to enable it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.conformance import sessions
from harness.schema import open_store
from tests.console.live_server import LiveServer, live_server

CHROMIUM = os.environ.get("HARNESS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
ENABLE = (
    "browser tests need Playwright for Python (pip install -e '.[test]') and Chromium "
    "(apt-get install chromium, or HARNESS_CHROMIUM=/path/to/chrome)"
)

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - the skip below says how to enable
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(sync_playwright is None or not Path(CHROMIUM).exists(), reason=f"skipped: {ENABLE}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("console-live")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as p:  # type: ignore[misc]
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()  # closes the page's event stream too


def newest_id(page: Page) -> int:
    return int(page.get_attribute("#rows", "data-newest") or 0)


def test_a_new_exchange_appears_live_without_a_reload(server: LiveServer, page: Page) -> None:
    server.heartbeat()
    page.goto(server.base + "/")
    page.wait_for_selector("#live.on")  # the event stream is open
    before = page.locator("#rows tr").count()
    marker = page.evaluate("() => { window.__noReload = 'still here'; return window.__noReload; }")
    server.coach(drop="name")
    row = page.locator("#rows tr.o-failed").first
    row.wait_for()
    assert "SCHEMA" in row.inner_text() and "000 附件四 A.6.2.3.1 表A.2 #3" in row.inner_text()
    assert page.locator("#rows tr").count() > before
    assert page.evaluate("() => window.__noReload") == marker  # the same document: no reload happened


def test_the_verdict_filter_applies_to_the_page_and_the_stream(server: LiveServer, page: Page) -> None:
    server.heartbeat()
    server.coach(drop="mobile")
    page.goto(server.base + "/")
    page.select_option("select[name=verdict]", "refused")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"verdict=refused"))
    page.wait_for_selector("#live.on")
    badges = page.locator("#rows tr .badge").all_inner_texts()
    assert badges and set(badges) == {"refused"}
    count = page.locator("#rows tr").count()
    server.heartbeat()  # held: must not appear under this filter
    server.coach(drop="idcard")  # refused: appears
    page.wait_for_function(f"() => document.querySelectorAll('#rows tr').length > {count}")
    page.wait_for_timeout(300)
    assert set(page.locator("#rows tr .badge").all_inner_texts()) == {"refused"}


def test_an_exchange_page_shows_its_verdicts_with_their_clause(server: LiveServer, page: Page) -> None:
    server.coach(drop="name")
    page.goto(server.base + "/?verdict=refused&platform=yxc")
    page.locator("#rows tr").first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/console/exchange/\d+"))
    failed = page.locator("section.verdict.failed").first
    assert "SCHEMA" in failed.inner_text() and "000 附件四 A.6.2.3.1 表A.2 #3" in failed.inner_text() and "MUST" in failed.inner_text()
    assert "body.name" in page.locator("table.diff").inner_text()
    held = page.locator("section.verdict.held").all_inner_texts()
    assert any("YXC-SIGN-VERIFY" in h and "000 附件四" in h for h in held)


def test_a_certification_report_opens_from_the_console(server: LiveServer, page: Page) -> None:
    store = open_store(server.db)
    session = sessions.start(store, "dudu-device-backend", {"enterprise": "398"})
    store.close()
    import httpx

    from fixtures import dudu as fx

    httpx.post(f"{server.base}/_session/{session.id}/dudu/location_report", json=fx.heartbeat(), timeout=10)
    page.goto(server.base + "/console/sessions")
    page.locator(f'tr[id="{session.id}"] a.report').click()
    page.wait_for_load_state()
    body = page.locator("body").inner_text()
    assert "dudu-device-backend" in body and session.id in body


def _ink(png: bytes) -> tuple[int, bytes]:
    """Dark pixels in a screenshot and its pixels as bytes (greyscale)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    pixels = image.tobytes()
    return sum(1 for p in pixels if p < 128), pixels


def test_screenshots_show_chinese_glyphs_not_tofu(server: LiveServer, page: Page, tmp_path: Path) -> None:
    server.coach(drop="name", seed=11)
    page.goto(server.base + "/")
    page.wait_for_selector("#rows tr")
    page.screenshot(path=str(tmp_path / "console-journal.png"), full_page=True)
    page.goto(server.base + "/?verdict=refused&platform=yxc")
    page.locator("#rows tr").first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/console/exchange/\d+"))
    page.evaluate("() => document.fonts.ready")
    page.screenshot(path=str(tmp_path / "console-exchange.png"), full_page=True)
    # Three strings of the same length in the page's own style: two different Chinese strings, and code points no font
    # has (private use: what tofu looks like here). Real glyphs differ from each other and from the tofu; tofu boxes
    # would be pixel-identical whatever the character.
    page.evaluate(
        """() => {
        for (const [id, text] of [["zh1", "数据格式错误"], ["zh2", "证书无法通过"], ["tofu", "\\ue000\\ue001\\ue002\\ue003\\ue004\\ue005"]]) {
            const p = document.createElement("p");
            p.id = id; p.textContent = text;
            p.style.cssText = "font-size:32px;display:inline-block;padding:4px;background:#fff;color:#000";
            document.body.prepend(p);
        }
    }"""
    )
    shots = {i: page.locator(f"#{i}").screenshot() for i in ("zh1", "zh2", "tofu")}
    (tmp_path / "glyphs-zh1.png").write_bytes(shots["zh1"])
    (tmp_path / "glyphs-tofu.png").write_bytes(shots["tofu"])
    ink = {i: _ink(s) for i, s in shots.items()}
    assert ink["zh1"][1] != ink["zh2"][1], "two different Chinese strings rendered the same: tofu"
    assert ink["zh1"][1] != ink["tofu"][1] and ink["zh1"][0] > 0, "the Chinese string looks like missing-glyph boxes"
    assert ink["zh1"][0] > 1.5 * ink["tofu"][0], (ink["zh1"][0], ink["tofu"][0])  # CJK glyphs carry more ink than box outlines
    assert page.evaluate("() => document.fonts.check('16px HarnessCJK', '数据格式错误')")
    loaded = page.evaluate("() => [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family)")
    assert any("HarnessCJK" in f for f in loaded), loaded
    assert (tmp_path / "console-journal.png").stat().st_size > 10_000 and (tmp_path / "console-exchange.png").stat().st_size > 10_000


def test_try_it_sends_a_signed_request_and_shows_its_exchange(server: LiveServer, page: Page) -> None:
    page.goto(server.base + "/console/try?platform=yxc&operation=coach")
    page.click("#try button[type=submit]")
    page.wait_for_url(re.compile(r"/console/exchange/\d+"))
    held = " ".join(page.locator("section.verdict.held").all_inner_texts())
    assert "YXC-SIGN-VERIFY" in held and "YXC-SIGN-CERT" in held
    assert "sign=" in page.locator("body").inner_text()
