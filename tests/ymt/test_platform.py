"""The YMT reference platform under /ymt, in process: the flows, the decode capability and its refusals, the emergency
code while the platform is down, and what the journal keeps."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from harness.ymt import admin, crypto
from tests.ymt import world
from tests.ymt.world import Scene


def _journal(store: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in store.query("SELECT * FROM journal ORDER BY id")]


def _qr_text(png_base64: str) -> str:
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(png_base64))))
    assert found, "the PNG holds no readable QR code"
    return found[0].text


def test_a_person_goes_through_realname_consent_b5_and_shows_a_code_a_scene_decodes(served: Any) -> None:
    client, store = served
    admin.add_app(store, world.APP)
    post = world.Scene(client, store, "", "", "", b"", world.merchant_key()).post
    person = post("/user/realname", {"appId": world.APP, "name": world.NAME, "idType": "01", "idCard": world.ID_CARD})
    assert person["code"] == "PY0000", person
    assert (
        person["response"]["concealName"] == "*三" and person["response"]["concealCard"] == world.ID_CARD[0] + "*" * 14 + world.ID_CARD[-1]
    )
    user_id = person["response"]["userId"]
    granted = post("/user/consent", {"userId": user_id, "appId": world.APP, "scope": ["userName", "idCard", "tags"]})
    assert granted["code"] == "PY0000" and granted["response"]["expiresIn"] == admin.AUTH_CODE_TTL
    token_reply = post("/oauth/token", {"code": granted["response"]["code"], "appId": world.APP})
    assert token_reply["code"] == "PY0000", token_reply
    token = token_reply["response"]["accessToken"]
    assert token_reply["response"]["expiresIn"] == admin.TOKEN_TTL and token_reply["response"]["scope"] == ["idCard", "tags", "userName"]

    shown = post("/qrcode/generate", {"accessToken": token, "latitude": "30.2741", "longitude": "120.1551"})
    assert shown["code"] == "PY0000", shown
    assert shown["response"]["qrcodeBase64"].startswith("iVBORw")  # a PNG, as the seed's example
    value = _qr_text(shown["response"]["qrcodeBase64"])
    assert value.startswith("YMTQ") and len(value) == 28 and world.ID_CARD not in value  # a reference, never personal data
    tags = post("/user/tags", {"accessToken": token})
    assert [t["text"] for t in tags["response"]] == []  # the person has no category data yet
    channel = post("/qrcode/channel", {"accessToken": token, "latitude": "30.2741", "longitude": "120.1551"})
    assert channel["response"]["qrcodeType"] == "gj" and channel["response"]["idCard"] == world.ID_CARD

    key = world.merchant_key()
    registered = post(
        "/merchant/register",
        {
            "sceneName": "西湖公园东门",
            "sceneType": "一码入园",
            "serviceTypes": [20000],
            "qrcodeTypes": ["ymt"],
            "fields": ["concealName", "userName"],
            "publicKey": admin.public_pem(key.public_key()),
        },
    )
    assert registered["code"] == "PY0000", registered
    merchant_id = registered["response"]["merchantId"]
    aes_key = crypto.unwrap_key(key, registered["response"]["aesKeyWrapped"])
    assert "BEGIN PUBLIC KEY" in registered["response"]["trustAnchor"]
    assert post("/merchant/device", {"merchantId": merchant_id, "macId": world.MAC})["code"] == "PY0000"

    scene = Scene(client, store, user_id, token, merchant_id, aes_key, key)
    body = scene.decode_body(value)
    reply = post("/qrcode/decode", body)
    assert reply["code"] == "PY0000", reply
    answer = scene.open(reply, body)
    assert answer["userName"] == world.NAME and answer["concealName"] == "*三"
    assert "idCard" not in answer and "tags" not in answer  # consented, but not registered: only registered fields
    # B.3 made a newer code of another type: the B.1 code stays valid; a B.1 code made now revokes the first.
    again = post("/qrcode/generate", {"accessToken": token, "latitude": "30.2741", "longitude": "120.1551"})
    assert again["code"] == "PY0000"
    revoked = post("/qrcode/decode", scene.decode_body(value))
    assert revoked["code"] == "PY3003", revoked


def test_decode_answers_only_registered_and_consented_fields(served: Any) -> None:
    client, store = served
    scene = world.scene(client, store, fields=("concealName", "idCard", "tags", "mobile"))
    body = scene.decode_body(scene.code())
    reply = scene.post("/qrcode/decode", body)
    answer = scene.open(reply, body)
    assert answer["idCard"] == world.ID_CARD and [t["text"] for t in answer["tags"]] == ["退役军人", "E类人才"]
    assert "userName" not in answer and "mobile" not in answer


def test_the_documented_refusals_of_a_decode(scene: Scene) -> None:
    code = scene.code()
    assert scene.post("/qrcode/decode", {**scene.decode_body(code), "sign": base64.b64encode(b"x" * 256).decode()})["code"] == "PY2001"
    stale = crypto.format_time(crypto.datetime.now(crypto.UTC) - crypto.timedelta(seconds=301))
    assert scene.post("/qrcode/decode", scene.decode_body(code, time=stale))["code"] == "PY2002"
    fresh = scene.decode_body(code)
    assert scene.post("/qrcode/decode", fresh)["code"] == "PY0000"
    replayed = scene.post("/qrcode/decode", fresh)
    assert replayed["code"] == "PY2003" and replayed["violations"][0]["rule"] == "YMT-REPLAY"
    assert scene.post("/qrcode/decode", {**scene.decode_body(code), "merchantId": "M99999999"})["code"] == "PY2004"
    assert scene.post("/qrcode/decode", scene.decode_body(code, mac="GATE-99"))["code"] == "PY2005"
    assert scene.post("/qrcode/decode", scene.decode_body("YMTQ" + "A" * 24))["code"] == "PY3001"
    scene.store.execute("UPDATE ymt_codes SET expires = expires - 61 WHERE value = ?", (code,))
    expired = scene.post("/qrcode/decode", scene.decode_body(code))
    assert expired["code"] == "PY3002" and "expired" in expired["msg"]
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code("bus")))["code"] == "PY3004"
    missing = scene.decode_body(code)
    del missing["macId"]
    assert scene.post("/qrcode/decode", missing)["code"] == "PY1002"
    bad = scene.client.raw("POST", "/ymt/qrcode/decode", content=b"{not json", headers={"content-type": "application/json"}).json()
    assert bad["code"] == "PY1001"


def test_an_unsigned_or_wrongly_signed_request_changes_nothing_and_is_not_remembered(scene: Scene) -> None:
    body = scene.decode_body(scene.code())
    forged = {**body, "sign": crypto.sign_request(body, admin.new_rsa_key())}
    assert scene.post("/qrcode/decode", forged)["code"] == "PY2001"
    assert scene.store.query_one("SELECT COUNT(*) AS n FROM ymt_seen_requests")["n"] == 0
    assert scene.post("/qrcode/decode", body)["code"] == "PY0000"


def test_a_scanner_enrolled_with_its_own_key_signs_with_it(scene: Scene) -> None:
    device_key = admin.new_rsa_key()
    admin.add_device(scene.store, scene.merchant_id, "GATE-02", admin.public_pem(device_key.public_key()))
    code = scene.code()
    assert scene.post("/qrcode/decode", scene.decode_body(code, mac="GATE-02"))["code"] == "PY2001"  # the merchant's key no longer
    assert scene.post("/qrcode/decode", scene.decode_body(code, mac="GATE-02", key=device_key))["code"] == "PY0000"


def test_b5_codes_are_single_use_and_a_reuse_revokes_the_token(served: Any) -> None:
    client, store = served
    scene = world.scene(client, store)
    granted = scene.post("/user/consent", {"userId": scene.user_id, "appId": world.APP, "scope": ["concealName"]})["response"]["code"]
    admin.add_app(store, "other-app")
    assert scene.post("/oauth/token", {"code": granted, "appId": "other-app"})["code"] == "PY2007"
    assert scene.post("/oauth/token", {"code": granted, "appId": "nobody"})["code"] == "PY2008"
    token = scene.post("/oauth/token", {"code": granted, "appId": world.APP})["response"]["accessToken"]
    assert scene.post("/user/tags", {"accessToken": token})["code"] == "PY0000"
    reuse = scene.post("/oauth/token", {"code": granted, "appId": world.APP})
    assert reuse["code"] == "PY2007" and "revoked" in reuse["msg"]
    assert scene.post("/user/tags", {"accessToken": token})["code"] == "PY2006"
    # B.3 gives the full name and ID number: a token without that consent is refused
    late = scene.post("/user/consent", {"userId": scene.user_id, "appId": world.APP, "scope": ["concealName"]})["response"]["code"]
    narrow = scene.post("/oauth/token", {"code": late, "appId": world.APP})["response"]["accessToken"]
    assert scene.post("/qrcode/channel", {"accessToken": narrow, "latitude": "30.1", "longitude": "120.1"})["code"] == "PY3005"


def test_while_down_decode_answers_py9002_and_the_emergency_code_verifies_offline(scene: Scene) -> None:
    listed = scene.post("/emergency/trust-list", {"merchantId": scene.merchant_id})
    anchor = admin.platform_keys(scene.store).anchor.public_key()
    admin.set_down(scene.store, True)
    down = scene.post("/qrcode/decode", scene.decode_body("YMTQ" + "A" * 24))
    assert down["code"] == "PY9002" and down["violations"][0]["rule"] == "YMT-UP"
    issued = scene.post("/emergency/code", {"accessToken": scene.token})
    assert issued["code"] == "PY0000", issued
    now = crypto.datetime.now(crypto.UTC)
    trust = crypto.load_trust_list(listed["response"], anchor, now)
    result = crypto.verify_emergency(issued["response"]["emergencyCode"], trust, now)
    assert result.claims.conceal_name == "*三" and result.claims.tags == (1, 4)
    admin.set_down(scene.store, False)
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY0000"


def test_the_journal_keeps_the_plaintext_masked_and_the_wire_digest(scene: Scene) -> None:
    body = scene.decode_body(scene.code())
    wire = scene.client.raw("POST", "/ymt/qrcode/decode", json=body).content
    scene.post("/user/tags", {"accessToken": scene.token})
    rows = _journal(scene.store)
    decode = next(r for r in rows if r["operation"] == "decode_qrcode")
    document = json.loads(decode["reply_body"])
    assert document["response"]["concealName"] == "*三"  # the plaintext document …
    assert document["response"]["userName"].startswith("hmac-sha256:")  # … personal fields as keyed hashes
    assert hashlib.sha256(wire).hexdigest() == decode["reply_sha256"] and isinstance(json.loads(wire)["response"], str)  # … what was sent
    granted = scene.post("/user/consent", {"userId": scene.user_id, "appId": world.APP, "scope": ["concealName"]})["response"]["code"]
    scene.post("/oauth/token", {"code": granted, "appId": world.APP})
    scene.post("/oauth/token", {"code": granted, "appId": "no-such-app"})
    rows = _journal(scene.store)
    assert [json.loads(r["reply_body"])["code"] for r in rows[-3:]] == ["PY0000", "PY0000", "PY2008"]  # the envelope's code stays
    for row in rows:
        text = json.dumps({k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v) for k, v in row.items()}, ensure_ascii=False)
        assert world.NAME not in text and world.ID_CARD not in text and scene.token not in text and granted not in text


@pytest.mark.parametrize("profile", [crypto.AES_128_CBC, crypto.AES_128_ECB])
def test_legacy_profiles_decrypt_and_are_flagged_weak(served: Any, profile: str) -> None:
    client, store = served
    scene = world.scene(client, store, profile=profile)
    body = scene.decode_body(scene.code())
    reply = scene.post("/qrcode/decode", body)
    assert reply["code"] == "PY0000" and scene.open(reply, body)["concealName"] == "*三"
    row = _journal(store)[-1]
    assert row["outcome"] == "warning" and '"rule":"YMT-AES-STRONG","clause"' in row["verdicts"]


def test_tolerant_forms_are_accepted_with_a_should_verdict(tolerant: Any) -> None:
    client, store = tolerant
    scene = world.scene(client, store)
    code = scene.code()
    body = {
        "merchantId": scene.merchant_id,
        "time": crypto.format_time(crypto.datetime.now(crypto.UTC)),
        "qrcode": code,
        "macId": world.MAC,
    }
    body["sign"] = crypto.sign_request(body, scene.key)
    reply = scene.post("/qrcode/decode", body)
    assert reply["code"] == "PY0000" and reply["message"] == "", reply  # message beside msg (D-YMT-MSG)
    hexed = scene.decode_body(scene.code())
    hexed["sign"] = base64.b64decode(hexed["sign"]).hex()
    assert scene.post("/qrcode/decode", hexed)["code"] == "PY0000"
    rows = _journal(store)
    assert [r["outcome"] for r in rows[-2:]] == ["warning", "warning"]
    assert "D-YMT-QRCOD" in rows[-2]["verdicts"] and '"decision":"D-YMT-SIGN"' in rows[-1]["verdicts"]


def test_the_strict_profile_refuses_qrcode_for_qrcod_as_an_invalid_field(scene: Scene) -> None:
    body = scene.decode_body(scene.code())
    body["qrcode"] = body.pop("qrcod")
    body["sign"] = crypto.sign_request(body, scene.key)
    reply = scene.post("/qrcode/decode", body)
    assert reply["code"] == "PY1003" and {v["level"] for v in reply["violations"]} == {"SHOULD"}  # D-YMT-QRCOD strict


def test_the_strict_profile_refuses_a_hex_sign(scene: Scene) -> None:
    body = scene.decode_body(scene.code())
    body["sign"] = base64.b64decode(body["sign"]).hex()
    reply = scene.post("/qrcode/decode", body)
    assert reply["code"] == "PY2001" and reply["violations"][0]["level"] == "SHOULD"


def test_the_connexion_path_answers_and_journals_as_the_fast_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from fixtures.dudu import AsgiClient
    from harness.config import Settings
    from harness.schema import open_store
    from harness.ymt.platform import YmtPlatform

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from harness.server import create_app
    monkeypatch.setattr(YmtPlatform, "fast_operations", lambda self: {})
    store = open_store(tmp_path / "connexion.db")
    app = create_app(Settings(db=tmp_path / "connexion.db", validate_responses=True, profile="strict"), store)
    client = AsgiClient(app)
    try:
        scene = world.scene(client, store)
        body = scene.decode_body(scene.code())
        wire = client.raw("POST", "/ymt/qrcode/decode", json=body).content
        assert scene.open(json.loads(wire), body)["userName"] == world.NAME
        assert scene.post("/qrcode/decode", body)["code"] == "PY2003"
        missing = {k: v for k, v in body.items() if k != "sign"}
        assert scene.post("/qrcode/decode", missing)["code"] == "PY1002"
        row = next(r for r in _journal(store) if r["operation"] == "decode_qrcode")
        assert json.loads(row["reply_body"])["response"]["userName"].startswith("hmac-sha256:")
        assert hashlib.sha256(wire).hexdigest() == row["reply_sha256"]
    finally:
        client.close()
        store.close()


def test_two_racing_checks_of_one_person_give_one_user_and_break_no_other_exchange(served: Any) -> None:
    import asyncio

    client, store = served
    admin.add_app(store, world.APP)
    body = {"appId": world.APP, "name": world.NAME, "idType": "01", "idCard": world.ID_CARD}

    async def race() -> list[Any]:
        return list(await asyncio.gather(*(client.client.post("/ymt/user/realname", json=body) for _ in range(4))))

    replies = [r.json() for r in client.loop.run_until_complete(race())]
    assert {r["code"] for r in replies} == {"PY0000"}, replies
    assert len({r["response"]["userId"] for r in replies}) == 1
    assert store.query_one("SELECT COUNT(*) AS n FROM ymt_users")["n"] == 1


def test_tokens_and_authorisation_codes_never_reach_the_store_in_clear(served: Any) -> None:
    from click.testing import CliRunner

    from harness.cli import main

    client, store = served
    scene = world.scene(client, store)
    granted = scene.post("/user/consent", {"userId": scene.user_id, "appId": world.APP, "scope": ["concealName"]})["response"]["code"]
    token = scene.post("/oauth/token", {"code": granted, "appId": world.APP})["response"]["accessToken"]
    assert scene.post("/user/tags", {"accessToken": token})["code"] == "PY0000"
    body = scene.decode_body(scene.code())
    assert scene.post("/qrcode/decode", body)["code"] == "PY0000"
    raw = b"".join(p.read_bytes() for p in sorted(store.path.parent.glob(store.path.name + "*")))
    shown = CliRunner().invoke(main, ["journal", "--json", "--limit", "100", "--db", str(store.path)]).output
    for secret in (granted, token, scene.token):
        assert secret.encode() not in raw and secret not in shown, secret
    assert world.ID_CARD not in shown and world.NAME not in shown  # the store keeps them (B.3 returns them); the journal never


def test_the_control_api_marks_the_platform_down_and_up(scene: Scene) -> None:
    assert scene.client.raw("GET", "/_harness/ymt/status").json() == {"down": False}
    assert scene.client.raw("POST", "/_harness/ymt/status", json={"down": True}).json() == {"down": True}
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY9002"
    assert scene.client.raw("POST", "/_harness/ymt/status", json={"down": False}).json() == {"down": False}
    assert scene.post("/qrcode/decode", scene.decode_body(scene.code()))["code"] == "PY0000"


@pytest.mark.parametrize(("path", "field"), [("/user/tags", "accessToken"), ("/user/realname", "name"), ("/qrcode/decode", "qrcod")])
def test_a_lone_surrogate_escape_is_refused_as_invalid_text_and_journaled(scene: Scene, path: str, field: str) -> None:
    """``"\\ud800"`` is valid JSON bytes but no character: before, Python's parser read it into a string that could not
    be hashed (a secret field's keyed hash in the journal) or written back, and the reply was PY9999 with the exchange
    unjournaled. Now it is refused in the YMT envelope as bad JSON/UTF-8 (PY1001) naming the field, and the refusal is journaled."""
    bodies = {
        "/user/tags": {"accessToken": scene.token},
        "/user/realname": {"appId": world.APP, "name": "李四", "idType": "01", "idCard": world.ID_CARD},
        "/qrcode/decode": scene.decode_body(scene.code()),
    }
    raw = json.dumps({**bodies[path], field: "@@"}).replace('"@@"', '"\\ud800"').encode()
    before = scene.store.query_one("SELECT COUNT(*) AS n FROM journal")["n"]
    reply = scene.client.raw("POST", f"/ymt{path}", content=raw, headers={"content-type": "application/json"}).json()
    assert reply["code"] == "PY1001", reply  # bad JSON/UTF-8 (D-YMT-CODES)
    assert [(v["rule"], v["field"]) for v in reply["violations"]] == [("LIMIT", f"body.{field}")], reply
    assert reply["violations"][0]["clause"].startswith("harness limit: Unicode text")
    scene.client.raw("POST", "/ymt/user/tags", json={"accessToken": scene.token})  # the journal writer has caught up
    assert scene.store.query_one("SELECT COUNT(*) AS n FROM journal")["n"] >= before + 1


def test_a_store_of_the_previous_version_has_its_people_sealed_on_opening(tmp_path: Any) -> None:
    """Schema step 2 seals the name, ID number and mobile an older store kept in clear and fills the blind index; the
    clear values are gone from the database file, and the people still decode and are found by ID number."""
    from harness.schema import open_store, schemas
    from harness.store import Schema, Store
    from harness.ymt import state

    db = tmp_path / "old.db"
    older = [Schema("ymt", state.SCHEMA.steps[:1]) if s.owner == "ymt" else s for s in schemas()]
    old = Store(db, schemas=older)
    old.execute(
        "INSERT INTO ymt_users (id, name, id_type, id_card, mobile, veteran, talent_level, realname_at, created)"
        " VALUES ('U1', ?, '01', ?, '13612345678', 1, 'E', 'then', 'then')",
        (world.NAME, world.ID_CARD),
    )
    old.close()
    assert world.ID_CARD.encode() in db.read_bytes()
    store = open_store(db)
    try:
        assert store.versions()["ymt"] == state.SCHEMA.version
        row = store.query_one("SELECT * FROM ymt_users WHERE id = 'U1'")
        assert all(row[c].startswith("sealed:v1:") for c in ("name", "id_card", "mobile"))
        person = admin.find_user_by_card(store, world.ID_CARD.lower())
        assert person is not None and (person["name"], person["id_card"], person["mobile"]) == (world.NAME, world.ID_CARD, "13612345678")
        with pytest.raises(admin.YmtError):
            admin.add_user(store, world.NAME, world.ID_CARD)
    finally:
        store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("old.db*") if not p.name.endswith(".seal-key"))
    for value in (world.NAME, world.ID_CARD, "13612345678"):
        assert value.encode() not in raw, f"{value!r} is still in the store file in clear"
