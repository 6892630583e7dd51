"""No secret at rest in clear: after a scenario of each platform, the store's files (database and WAL) hold none of
the passwords, enterprise secrets or tokens it used; the journal shows them as keyed hashes that still match."""

from __future__ import annotations

import asyncio
import json
import timeit
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from fixtures import dudu as fx
from harness import masking
from harness.cli import main
from harness.config import Settings
from harness.dudu import admin
from harness.journal import Exchange
from harness.schema import open_store
from harness.server import create_app
from harness.zjpx import accounts

ZJPX_PASSWORD = "Pa55-word-zjpx-42"


def post(app: Any, path: str, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://harness") as client:
            return await client.post(path, json=body, headers=headers)

    response = asyncio.run(go())
    assert response.status_code == 200, response.text
    return response.json()


def store_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def journal_cli(db: Path) -> str:
    result = CliRunner().invoke(main, ["journal", "--json", "--limit", "100", "--db", str(db)])
    assert result.exit_code == 0, result.output
    return result.output


def assert_absent(db: Path, *secrets: str) -> None:
    raw = store_bytes(db)
    shown = journal_cli(db)
    for secret in secrets:
        assert secret and secret.encode() not in raw, f"{secret!r} is in the store in clear"
        assert secret not in shown, f"{secret!r} is shown by `harness journal`"


def test_zjpx_passwords_and_tokens_never_reach_the_store(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    store = open_store(db)
    app = create_app(Settings(db=db), store)
    account = accounts.add_account(store, "platform-x", ZJPX_PASSWORD, "测试学习平台")
    head = {"deviceType": "TYPE_PC", "timestamp": "1587107195", "deviceId": "0a1b2c3d4e5f", "userToken": ""}
    tokens = []
    for _ in range(2):
        reply = post(
            app, "/zjpx/api/v1/thlogin", {"headers": head, "data": {"studyPlatformAcount": account.account, "passWord": ZJPX_PASSWORD}}
        )
        assert reply["returnCode"] == "0", reply
        tokens.append(reply["returnData"]["acceptToken"])
    wrong = post(app, "/zjpx/api/v1/thlogin", {"headers": head, "data": {"studyPlatformAcount": "nobody", "passWord": "guess-1234"}})
    assert wrong["returnCode"] != "0"
    for token in tokens:  # the token in use, under both header spellings
        post(app, "/zjpx/api/v1/authentication", {"headers": {**head, "userToken": token}, "data": {}})
        post(app, "/zjpx/api/v1/authentication", {"headers": {**head, "userToken": "", "user_token": token}, "data": {}})
    assert accounts.find_token(store, tokens[0]) is not None  # the platform still recognises its tokens
    entries = app.state_journal.query(platform="zjpx", operation="thlogin", limit=None, ascending=True)
    passwords = [json.loads(e["request_body"])["data"]["passWord"] for e in entries]
    assert passwords[0] == passwords[1] == masking.hide(store, ZJPX_PASSWORD)  # same secret, same mask: rows still match
    assert passwords[0].startswith("hmac-sha256:") and passwords[2] != passwords[0]
    assert entries[0]["reply"]["returnData"]["acceptToken"] == masking.hide(store, tokens[0])
    store.close()
    assert_absent(db, ZJPX_PASSWORD, "guess-1234", *tokens)


def test_dudu_secrets_and_tokens_never_reach_the_store(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    store = open_store(db)
    app = create_app(Settings(db=db), store)
    fx.world(store)
    fleet = admin.add_fleet(store, "399", ["F00001"], "L9", ["10000001"], secret="fleet-secret-399")
    client = fx.AsgiClient(app)
    try:
        token = client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})["token"]
        assert client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": "wrong-secret-1"})["ret_code"] == 1005
        assert client.post("get_token", {"enterprise_id": "404", "secret": "wrong-secret-2"})["ret_code"] == 1005
        other = client.post("get_token", {"enterprise_id": "399", "secret": fleet.secret})["token"]
        assert client.post("get_card_list", {"token": token, "device_id": fx.DEVICE, "type": 1})["ret_code"] == 0
        assert client.post("get_line_card_list", {"token": token, "device_id": fx.DEVICE})["ret_code"] == 0
        assert client.post("get_qrcode_keys", {"token": token, "req_id": "k1"})["ret_code"] == 0
        assert client.post("location_report", fx.heartbeat())["ret_code"] == 0
        assert client.post("card_check", fx.card_check())["ret_code"] == 0
    finally:
        client.close()
    entries = app.state_journal.query(platform="dudu", operation="get_card_list", limit=None)
    assert json.loads(entries[0]["request_body"])["token"] == masking.hide(store, token)
    store.close()
    assert_absent(db, fx.SECRET, "wrong-secret-1", "wrong-secret-2", "fleet-secret-399", token, other)


def test_yxc_credential_headers_are_masked_and_codes_kept(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    store = open_store(db)
    app = create_app(Settings(db=db), store)
    post(app, "/yxc/student", {"inscode": "x"}, headers={"authorization": "Bearer yxc-bearer-secret-77"})
    entry = app.state_journal.query(platform="yxc", limit=1)[0]
    assert entry["request_headers"]["authorization"].startswith("Bearer hmac-sha256:")
    store.close()
    assert_absent(db, "yxc-bearer-secret-77")


def test_masking_keeps_the_rest_of_the_body_byte_for_byte(tmp_path: Path) -> None:
    m = masking.masker(open_store(tmp_path / "h.db"), {"token", "passWord"})
    body = b'{"a": 1.50, "token" : "ab\\"cd1234", "n": {"passWord": 12345678}, "msg": "say \\"token\\": \\"x\\""}'
    masked = m.json_bytes(body)
    doc = json.loads(masked)
    assert doc["a"] == 1.5 and b'"a": 1.50' in masked and doc["msg"] == 'say "token": "x"'
    assert doc["token"] == m.secret('ab"cd1234') and doc["n"]["passWord"] == m.secret("12345678")
    assert m.json_bytes(masked) == masked  # idempotent
    assert m.secret("abc").endswith(":…") and m.secret("abcdefgh").endswith(":…gh") and m.secret("a" * 32).endswith(":…aaaa")
    assert m.query("a=1&token=sekrit-sekrit&b=2") == f"a=1&token={m.secret('sekrit-sekrit')}&b=2"


def test_masking_costs_nothing_on_a_heartbeat_and_little_on_a_token(tmp_path: Path) -> None:
    store = open_store(tmp_path / "h.db")
    m = masking.masker(store, {"secret", "token"})
    heartbeat = json.dumps(fx.heartbeat()).encode()
    with_token = json.dumps({"token": "0123456789abcdef0123456789abcdef", "device_id": fx.DEVICE, "type": 1}).encode()

    def cost(body: bytes) -> float:
        def once() -> None:
            e = Exchange("dudu", "POST", "/dudu/x", "", {"content-type": "application/json"}, body, reply_body=b'{"ret_code":0}')
            e.masker = m
            masking.mask_exchange(e)

        return min(timeit.repeat(once, number=2000, repeat=3)) / 2000

    baseline = min(timeit.repeat(lambda: Exchange("dudu", "POST", "/dudu/x", "", {}, heartbeat), number=2000, repeat=3)) / 2000
    hb, tok = cost(heartbeat), cost(with_token)
    assert hb - baseline < 20e-6 and tok < 100e-6, (baseline, hb, tok)  # measured: heartbeat ~1 µs, token ~5 µs


def test_replies_are_scanned_unless_their_schema_names_no_secret(tmp_path: Path) -> None:
    """The journal skips scanning a delivered reply only when the operation's reply schema names no secret field; a
    request is always scanned, so a token sent where none belongs is masked all the same."""
    db = tmp_path / "h.db"
    store = open_store(db)
    app = create_app(Settings(db=db), store)
    fx.world(store)
    client = fx.AsgiClient(app)
    try:
        token = client.post("get_token", {"enterprise_id": fx.ENTERPRISE, "secret": fx.SECRET})["token"]
        assert client.post("location_report", {**fx.heartbeat(), "token": token})["ret_code"] == 0
    finally:
        client.close()
    from harness.server import fastpath

    routes = fastpath.compile_operations([app.state_platforms["dudu"]], False)
    assert routes["/dudu/location_report"].reply_secret_free
    assert not routes["/dudu/get_token"].reply_secret_free  # its reply carries the token
    beat = app.state_journal.query(platform="dudu", operation="location_report", limit=1)[0]
    assert json.loads(beat["request_body"])["token"] == masking.hide(store, token)
    store.close()
    assert_absent(db, fx.SECRET, token)
