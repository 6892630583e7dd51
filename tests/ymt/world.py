"""A small YMT world for tests: one channel app, one person who consented, one merchant with one scanner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from harness.store import Store
from harness.ymt import admin, crypto

APP = "ymt-app"
NAME = "张三"
ID_CARD = "33010219900101123" + admin.id_check_digit("33010219900101123")
MAC = "GATE-01"
_KEY: list[rsa.RSAPrivateKey] = []
_USED: dict[tuple[str, str], set[str]] = {}  # the times each scanner has signed (decode_body)


def merchant_key() -> rsa.RSAPrivateKey:
    """One 2048-bit key for the whole test run (key generation costs ~50 ms)."""
    if not _KEY:
        _KEY.append(admin.new_rsa_key())
    return _KEY[0]


@dataclass
class Scene:
    client: Any
    store: Store
    user_id: str
    token: str
    merchant_id: str
    aes_key: bytes
    key: rsa.RSAPrivateKey
    profile: str = crypto.AES_256_GCM

    def post(self, path: str, body: Any) -> dict[str, Any]:
        response = self.client.raw("POST", f"/ymt{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def code(self, qrcode_type: str = "ymt") -> str:
        return admin.issue_code(self.store, self.user_id, APP, qrcode_type)

    def decode_body(self, code: str, *, time: str | None = None, mac: str = MAC, key: rsa.RSAPrivateKey | None = None) -> dict[str, Any]:
        """A signed B.4 request; each of one scanner gets a time of its own (now, else the latest second before it not
        used yet, within the window), as a scanner signing a retry afresh would, so that no two are a replay."""
        if time is None:
            used = _USED.setdefault((self.merchant_id, mac), set())
            moment = crypto.datetime.now(crypto.UTC)
            while (time := crypto.format_time(moment)) in used:
                moment -= crypto.timedelta(seconds=1)
            used.add(time)
        body = {"merchantId": self.merchant_id, "time": time, "qrcod": code, "macId": mac}
        body["sign"] = crypto.sign_request(body, key or self.key)
        return body

    def open(self, reply: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        import json

        aad = crypto.reply_aad(body["merchantId"], body["macId"], body["time"]) if self.profile == crypto.AES_256_GCM else b""
        return json.loads(crypto.decrypt_reply(self.profile, self.aes_key, reply["response"], aad=aad))


def scene(
    client: Any, store: Store, *, fields: tuple[str, ...] = ("concealName", "concealCard", "userName"), profile: str = crypto.AES_256_GCM
) -> Scene:
    if store.query_one("SELECT 1 FROM ymt_apps WHERE id = ?", (APP,)) is None:
        admin.add_app(store, APP)
    user = admin.add_user(store, NAME, ID_CARD, veteran=True, talent="E", app_id=APP, scope=("userName", "idCard", "tags", "concealName"))
    key = merchant_key()
    merchant = admin.add_merchant(
        store,
        public_key=admin.public_pem(key.public_key()),
        scene_name="西湖公园东门",
        scene_type="一码入园",
        fields=fields,
        aes_profile=profile,
    )
    admin.add_device(store, merchant.merchant_id, MAC)
    assert user.access_token is not None
    return Scene(client, store, user.user_id, user.access_token, merchant.merchant_id, merchant.aes_key, key, profile)
