"""The console's pages, in-process: what a person sees of the journal, an exchange, a vendor, a session; the gate."""

from __future__ import annotations

import asyncio
import html
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures import dudu as fx
from harness.conformance import sessions
from harness.journal import feed_for
from tests.console.conftest import Harness, make_harness

TOKEN = "console-token-0123456789abcdef"
REMOTE = ("10.1.2.3", 40000)


def text(response: httpx.Response) -> str:
    """The page's text with tags dropped and entities decoded: what a reader sees."""
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text))


def test_the_journal_lists_exchanges_newest_first_and_filters(harness: Harness) -> None:
    harness.heartbeat()
    harness.coach(drop="name")
    page = harness.call("GET", "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    ids = [int(i) for i in re.findall(r'data-id="(\d+)"', page.text)]
    assert ids == sorted(ids, reverse=True) and len(ids) >= 2
    refused = harness.call("GET", "/?verdict=refused")
    assert "refused" in text(refused) and "SCHEMA" in text(refused) and "000 附件四 A.6.2.3.1 表A.2 #3" in text(refused)
    assert "location_report" not in text(refused).split("why")[-1]  # the held heartbeat is filtered out
    dudu = harness.call("GET", "/?platform=dudu")
    rows = re.findall(r'<tr class="x-row[^>]*>(.*?)</tr>', dudu.text)
    assert rows and all(">dudu<" in r for r in rows)
    assert harness.call("GET", "/?verdict=nonsense").status_code == 200  # an unknown filter value is ignored, never a 500


def test_an_exchange_page_shows_each_verdict_with_clause_level_requirement_and_the_diff(harness: Harness) -> None:
    harness.coach(drop="name")
    exchange_id = harness.app.state_journal.query(verdict="failed", limit=1)[0]["id"]
    page = text(harness.call("GET", f"/console/exchange/{exchange_id}"))
    assert "SCHEMA" in page and "000 附件四 A.6.2.3.1 表A.2 #3" in page and "MUST" in page
    assert "'name' is a required property" in page
    assert "Expected and sent" in page and "body.name" in page and "(absent)" in page
    # the requirement's wording from specs/yxc/requirements.yaml, and the Chinese request as sent
    assert re.search(r"YXC-INTERFACE\s+\(MUST", page) and "every call names a defined service" in page
    assert "coachnum" in page and re.search(r"[\u4e00-\u9fff]{2,}", page)
    assert "Fix: send body.name as the spec says: required present (required) (sent (absent))" in page  # the fix hint


def test_a_should_verdict_shows_its_decision(harness: Harness) -> None:
    harness.heartbeat(seq="7")  # an extra field: accepted under D-DUDU-EXTRA-FIELDS with a SHOULD verdict
    entry = harness.app.state_journal.query(platform="dudu", limit=1)[0]
    assert entry["outcome"] == "warning"
    page = text(harness.call("GET", f"/console/exchange/{entry['id']}"))
    assert "warning" in page and "SHOULD" in page and "D-DUDU-EXTRA-FIELDS" in page and "unexpected seq" in page
    assert "Fix: " in page  # what to change: the schema's constraint, or the strict reading of the decision


def test_the_exchange_page_shows_only_what_the_journal_holds(harness: Harness) -> None:
    harness.call("POST", "/dudu/get_token", json={"enterprise_id": "398", "secret": "a-secret-the-vendor-sent"})
    entry = harness.app.state_journal.query(operation="get_token", limit=1)[0]
    page = harness.call("GET", f"/console/exchange/{entry['id']}").text
    assert "a-secret-the-vendor-sent" not in page and "hmac-sha256:" in page
    assert harness.call("GET", "/console/exchange/999999").status_code == 404


def test_vendor_coverage_and_its_sessions(harness: Harness, tmp_path: Path) -> None:
    harness.coach(drop="name")
    harness.coach()
    page = harness.call("GET", f"/console/vendor/yxc/{harness.user}")
    assert page.status_code == 200
    seen = text(page)
    assert "failed" in seen and "held" in seen and "never exercised" in seen
    row = re.search(r'<tr class="c-failed">(.*?)</tr>', page.text, re.S)
    assert row is not None and "000 附件四" in html.unescape(row.group(1))
    vendors = text(harness.call("GET", "/console/vendors"))
    assert harness.user in vendors and "示例驾培平台" in vendors


def test_a_session_report_opens_from_the_console(harness: Harness) -> None:
    session = sessions.start(harness.store, "dudu-device-backend", {"enterprise": "398"})
    for _ in range(2):
        harness.call("POST", f"/_session/{session.id}/dudu/location_report", json=fx.heartbeat())
    listed = text(harness.call("GET", "/console/sessions"))
    assert session.id in listed and "dudu-device-backend" in listed
    report = harness.call("GET", f"/console/session/{session.id}/report")
    assert report.status_code == 200 and "dudu-device-backend" in report.text and "<html" in report.text.lower()
    assert harness.call("GET", "/console/session/nosuchsession/report").status_code == 404


def test_har_of_a_vendors_exchanges(harness: Harness) -> None:
    harness.coach(drop="name")
    response = harness.call("GET", f"/console/har?vendor={harness.user}")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    assert_har(response.json(), vendor=harness.user)


def assert_har(document: dict[str, Any], vendor: str | None = None) -> None:
    """The keys HAR 1.2 requires (log, creator, entries with request/response/cache/timings)."""
    log = document["log"]
    assert log["version"] == "1.2" and {"name", "version"} <= set(log["creator"])
    assert log["entries"]
    for e in log["entries"]:
        assert {"startedDateTime", "time", "request", "response", "cache", "timings"} <= set(e)
        req, resp = e["request"], e["response"]
        assert {"method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"} <= set(req)
        assert {"status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL", "headersSize", "bodySize"} <= set(
            resp
        )
        assert {"size", "mimeType"} <= set(resp["content"]) and {"send", "wait", "receive"} <= set(e["timings"])
        assert req["url"].startswith("http://")
        if vendor is not None:
            assert e["_harness"]["vendor"] == vendor


def test_the_console_is_gated_like_the_control_api(tmp_path: Path) -> None:
    closed = make_harness(tmp_path / "closed")
    for path in ("/", "/console/exchange/1", "/console/events", "/console/static/console.css", "/console/har"):
        refused = closed.call("GET", path, client=REMOTE)
        assert refused.status_code == 403 and "loopback" in refused.json()["error"], path
    opened = make_harness(tmp_path / "open", control_token=TOKEN)
    assert opened.call("GET", "/", client=REMOTE).status_code == 401
    assert opened.call("GET", "/?token=wrong-token-0123456789", client=REMOTE).status_code == 401
    signed_in = opened.call("GET", f"/?token={TOKEN}", client=REMOTE)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    value = cookie.split(";")[0]
    assert opened.call("GET", "/", client=REMOTE, headers={"cookie": value}).status_code == 200
    assert opened.call("GET", "/_harness/journal", client=REMOTE, headers={"cookie": value}).status_code == 200
    assert opened.call("GET", "/", client=REMOTE, headers={"cookie": "harness_console=" + "0" * 64}).status_code == 401
    assert opened.call("GET", "/", client=REMOTE, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_console_post_needs_the_console_header(harness: Harness) -> None:
    forged = harness.call("POST", "/console/try", data={"platform": "dudu"})
    assert forged.status_code == 403 and "x-harness-console" in forged.json()["error"]


def test_the_feed_hears_of_committed_exchanges_only_when_someone_listens(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = feed_for(harness.store)
    assert feed is harness.app.state_journal.feed and not feed.subscribers

    def refuse(*_: Any) -> None:
        raise AssertionError("published with nobody listening")

    monkeypatch.setattr(feed, "publish", refuse)
    harness.heartbeat()
    monkeypatch.undo()

    async def listen() -> list[dict[str, Any]]:
        q = feed.subscribe()
        try:
            transport = httpx.ASGITransport(app=harness.app, client=("127.0.0.1", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://harness") as c:
                await c.post("/dudu/location_report", json=fx.heartbeat())
                await c.post("/dudu/location_report", json={"device_id": "nope"})
            batches = [await asyncio.wait_for(q.get(), 5)]
            while not q.empty():
                batches.append(q.get_nowait())
            return [s for b in batches for s in b]
        finally:
            feed.unsubscribe(q)

    got = asyncio.run(listen())
    assert [s["outcome"] for s in got] == ["held", "failed"]
    assert got[0]["platform"] == "dudu" and got[0]["operation"] == "location_report" and got[1]["failed"]
    assert got[1]["id"] == got[0]["id"] + 1 and not feed.subscribers
    json.dumps(got)  # summaries travel as JSON


def test_static_files_and_the_cjk_font(harness: Harness) -> None:
    css = harness.call("GET", "/console/static/console.css")
    assert "@font-face" in css.text and "HarnessCJK-Regular.woff2" in css.text
    font = harness.call("GET", "/console/static/HarnessCJK-Regular.woff2")
    assert font.status_code == 200 and font.headers["content-type"] == "font/woff2" and font.content[:4] == b"wOF2"
    assert harness.call("GET", "/console/static/../../journal.py").status_code == 404
    page = harness.call("GET", "/console/nowhere")
    assert page.status_code == 404 and "Traceback" not in page.text


def test_platform_pages_show_dudu_devices_dym_ledger_and_fault_drills(harness: Harness) -> None:
    from harness import faults

    harness.heartbeat()
    page = text(harness.call("GET", "/console/platform/dudu"))
    assert "DEV00001" in page and "398" in page and "offline logs pending" in page
    devices = re.findall(r"DEV0000\d\s+398\s+\S+\s+(online|offline)", page)
    assert devices == ["online", "offline"]  # DEV00001 heartbeat just now, DEV00002 never
    faults.add(harness.store, "delay", "dudu", delay_ms=5)
    assert "delay" in text(harness.call("GET", "/console/platform/dudu"))
    dym = text(harness.call("GET", "/console/platform/dym"))
    assert "Ledger" in dym and "entries" in dym and "verifier key" in dym
    assert harness.call("GET", "/console/platform/dym/receipt").status_code == 404  # no checkpoint yet: said, not a 500
    ledger = harness.app.state_platforms["dym"].ledger
    with harness.store.transaction() as conn:
        ledger.append(conn, {"event": "console-test", "n": 1})
        ledger.checkpoint(conn)
    assert "latest checkpoint" in text(harness.call("GET", "/console/platform/dym"))
    receipt = harness.call("GET", "/console/platform/dym/receipt")
    assert receipt.status_code == 200 and "attachment" in receipt.headers["content-disposition"]
    assert receipt.json()["index"] == 0 and receipt.json()["tree_size"] == 1 and receipt.json()["proof"]
    assert harness.call("GET", "/console/platform/nope").status_code == 404


def test_try_it_signs_a_yxc_request_with_the_consoles_test_key(harness: Harness) -> None:
    page = harness.call("GET", "/console/try?platform=yxc&operation=coach")
    assert page.status_code == 200 and "TRY00" in page.text and "coachnum" in page.text
    example = json.loads(html.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", page.text, re.S).group(1)))  # type: ignore[union-attr]
    sent = harness.call(
        "POST", "/console/try", json={"platform": "yxc", "operation": "coach", "body": example}, headers={"x-harness-console": "1"}
    )
    assert sent.status_code == 200, sent.text
    entry = harness.app.state_journal.query(where=("id = ?", [sent.json()["exchange"]]), limit=1)[0]
    assert entry["operation"] == "coach" and "sign=" in entry["query"]
    signing = {v["rule"]: v["held"] for v in entry["verdicts"] if v["rule"].startswith("YXC-SIGN")}
    assert signing and all(signing.values()), signing  # the signature verified: the scheme works end to end
    again = harness.call(
        "POST", "/console/try", json={"platform": "yxc", "operation": "coach", "body": example}, headers={"x-harness-console": "1"}
    )
    assert again.status_code == 200  # the test vendor is enrolled once and reused
    assert harness.store.query_one("SELECT COUNT(*) FROM vendors WHERE platnum = 'TRY00'")[0] == 1
    stored = harness.store.query_one("SELECT key_pem FROM console_try_keys WHERE platform = 'yxc'")[0]
    assert "PRIVATE KEY" not in str(stored)  # the test vendor's key is sealed at rest (harness.sealing), never in clear


def test_try_it_runs_the_dudu_token_flow(harness: Harness) -> None:
    form = harness.call("GET", "/console/try?platform=dudu&operation=get_card_list")
    assert 'name="secret"' in form.text
    body = json.loads(html.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", form.text, re.S).group(1)))  # type: ignore[union-attr]
    assert "token" not in body  # the console gets one
    headers = {"x-harness-console": "1"}
    missing = harness.call("POST", "/console/try", json={"platform": "dudu", "operation": "get_card_list", "body": body}, headers=headers)
    assert missing.status_code == 400 and "token" in missing.json()["error"]
    wrong = harness.call(
        "POST",
        "/console/try",
        json={"platform": "dudu", "operation": "get_card_list", "body": body, "enterprise_id": "398", "secret": "wrong"},
        headers=headers,
    )
    assert wrong.status_code == 400 and "get_token refused" in wrong.json()["error"] and wrong.json()["exchange"]
    ok = harness.call(
        "POST",
        "/console/try",
        json={"platform": "dudu", "operation": "get_card_list", "body": body, "enterprise_id": "398", "secret": fx.SECRET},
        headers=headers,
    )
    assert ok.status_code == 200, ok.text
    entry = harness.app.state_journal.query(where=("id = ?", [ok.json()["exchange"]]), limit=1)[0]
    assert entry["operation"] == "get_card_list" and entry["outcome"] != "failed", entry["verdicts"]
    assert fx.SECRET not in json.dumps(harness.app.state_journal.query(operation="get_token", limit=5), ensure_ascii=False)
    bad = harness.call("POST", "/console/try", json={"platform": "zjpx", "operation": "x", "body": {}}, headers=headers)
    assert bad.status_code == 400 and "error" in bad.json()


def test_swagger_ui_pages_carry_the_cjk_font(harness: Harness) -> None:
    for base in ("/yxc/ui/", "/dudu/ui/", "/_harness/ui/"):
        page = harness.call("GET", base)
        assert page.status_code == 200 and "@font-face{font-family:HarnessCJK" in page.text, base
        assert int(page.headers["content-length"]) == len(page.content)
        font = harness.call("GET", base + "HarnessCJK-Regular.woff2", client=REMOTE if base != "/_harness/ui/" else ("127.0.0.1", 1))
        assert font.status_code == 200 and font.content[:4] == b"wOF2", base  # a platform's Swagger UI is public, and so is its font
    css = harness.call("GET", "/yxc/ui/swagger-ui.css")
    assert css.status_code == 200 and "HarnessCJK" not in css.text  # only the index page is touched


def test_the_verdict_filters_name_the_journals_outcomes() -> None:
    from harness.console import data

    internal = {"outcome": "failed", "failed": [{"rule": "INTERNAL", "clause": "harness", "held": False}]}
    refused = {"outcome": "failed", "failed": [{"rule": "SCHEMA", "clause": "x", "held": False}]}
    held = {"outcome": "held", "failed": []}
    assert data.matches(internal, {"verdict": "internal"}) and not data.matches(refused, {"verdict": "internal"})
    assert data.matches(refused, {"verdict": "refused"}) and not data.matches(held, {"verdict": "refused"})
    assert data.matches({"outcome": "failed", "verdicts": internal["failed"]}, {"verdict": "internal"})  # a journal entry
    assert data.query_args({"verdict": "internal"})["rule"] == "INTERNAL"
    assert data.query_args({"verdict": "refused", "vendor": "V"}) == {
        "platform": None,
        "vendor": "V",
        "operation": None,
        "session": None,
        "verdict": "failed",
    }
