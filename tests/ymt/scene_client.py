"""A conforming scene system (业务应用方) written from docs/ymt.md and the spec alone: it does its own signing and
decryption with `cryptography` (no harness.ymt import), registers over HTTP, enrols its scanner, fetches the trust list,
scans codes and logs what it decrypted. ``DEFECTS`` plants one defect at a time (examples/defects/ymt-scene-client.yaml).

``session(send, store, defect, answers)`` runs the certification scenario: register, enrol GATE-01, fetch the trust
list, scan a fresh code, rescan a second code, scan an expired code; the person and their codes come from the
platform's own reference data (harness.ymt.admin), as a channel app would have made them."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Send = Callable[[str, dict[str, Any]], dict[str, Any]]
BEIJING = dt.timezone(dt.timedelta(hours=8))
DEFECTS = (
    "no-decode",
    "bad-sign",
    "hex-sign",
    "no-time-freshness",
    "literal-time",
    "resend-signed",
    "no-decrypt",
    "log-subset",
    "extra-field",
    "qrcode-spelling",
    "retry-expired",
    "no-trust-list",
    "weak-aes",
    "unenrolled-scanner",
    "accept-forged-emergency",
)
_KEY: list[rsa.RSAPrivateKey] = []


def _key() -> rsa.RSAPrivateKey:
    if not _KEY:
        _KEY.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEY[0]


def signing_string(body: dict[str, Any]) -> str:
    """docs/ymt.md "The request signature": every field but sign with a value, ASCII-sorted, name=value joined by &."""
    return "&".join(f"{k}={body[k]}" for k in sorted(body) if k != "sign" and body[k] not in (None, ""))


class SceneClient:
    def __init__(self, send: Send, *, defect: str | None = None, answers: Path | None = None) -> None:
        assert defect in (None, *DEFECTS), defect
        self.send, self.defect, self.answers = send, defect, answers
        self.key = _key()
        self.merchant_id = ""
        self.profile = "AES-256-GCM"
        self.aes_key = b""
        self.last = dt.datetime.min.replace(tzinfo=dt.UTC)
        self.frozen = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)  # no-time-freshness: time computed once, long ago
        self.refused: set[str] = set()
        self.sent = 0

    def register(self) -> str:
        pem = self.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.profile = "AES-128-ECB" if self.defect == "weak-aes" else "AES-256-GCM"
        reply = self.send(
            "/merchant/register",
            {
                "sceneName": "西湖公园东门",
                "sceneType": "一码入园",
                "serviceTypes": [20000],
                "qrcodeTypes": ["ymt"],
                "fields": ["concealName", "userName"],
                "publicKey": pem,
                "aesProfile": self.profile,
            },
        )
        assert reply["code"] == "PY0000", reply
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        self.aes_key = self.key.decrypt(base64.b64decode(reply["response"]["aesKeyWrapped"]), oaep)
        self.merchant_id = reply["response"]["merchantId"]
        self.anchor = reply["response"]["trustAnchor"]
        return self.merchant_id

    def use(self, merchant_file: Path) -> str:
        """A merchant enrolled beforehand with `harness ymt merchant-add --out DIR` (its merchant.json and key)."""
        config = json.loads(merchant_file.read_text(encoding="utf-8"))
        key = serialization.load_pem_private_key((merchant_file.parent / config["privateKeyFile"]).read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self.key, self.merchant_id, self.profile = key, config["merchantId"], config["aesProfile"]
        self.aes_key = base64.b64decode(config["aesKey"])
        self.anchor = (merchant_file.parent / config["trustAnchorFile"]).read_text(encoding="utf-8")
        return self.merchant_id

    def enrol(self, mac: str) -> None:
        assert self.send("/merchant/device", {"merchantId": self.merchant_id, "macId": mac})["code"] == "PY0000"

    def fetch_trust_list(self) -> None:
        reply = self.send("/emergency/trust-list", {"merchantId": self.merchant_id})
        assert reply["code"] == "PY0000"
        self.trust = reply["response"]

    def verify_emergency(self, text: str, mac: str = "GATE-01") -> bool:
        """Offline, with the trust list fetched ahead of time (docs/ymt.md "Offline verification"); logs the verdict."""
        import time

        from harness.ymt import crypto
        from harness.ymt.scanner import verify_offline

        try:
            verify_offline(text, self.trust, self.anchor)
            valid, reason = True, None
        except crypto.EmergencyCodeError as exc:
            valid, reason = self.defect == "accept-forged-emergency", exc.reason
        if self.answers is not None:
            record = {
                "merchantId": self.merchant_id,
                "macId": mac,
                "emergency": text,
                "valid": valid,
                "reason": reason,
                "at": int(time.time()),
            }
            with self.answers.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        return valid

    def _time(self) -> str:
        if self.defect == "no-time-freshness":
            moment = self.frozen
        else:  # a fresh time, one second past the last if need be: no two requests of this scanner are the same
            moment = max(dt.datetime.now(dt.UTC), self.last + dt.timedelta(seconds=1))
            if self.defect == "literal-time" and moment.astimezone(BEIJING).second == moment.astimezone(BEIJING).day:
                moment += dt.timedelta(seconds=1)  # the seconds would stand for today's day: the literal pattern unseen
            self.last = moment
        if self.defect == "literal-time":  # 表B.4's printed yyyyMMssHHmmss taken literally (SimpleDateFormat would)
            return moment.astimezone(BEIJING).strftime("%Y%m%S%H%M%S")
        return moment.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")

    def _sign(self, body: dict[str, Any]) -> str:
        text = signing_string(body)
        if self.defect == "bad-sign" and self.sent == 2:  # the second request signs the URL-encoded string
            text = quote(text, safe="")
        signature = self.key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        return signature.hex() if self.defect == "hex-sign" else base64.b64encode(signature).decode()

    def _open(self, body: dict[str, Any], response: str) -> dict[str, Any]:
        data = base64.b64decode(response)
        if self.profile == "AES-256-GCM":
            aad = f"macId={body['macId']}&merchantId={body['merchantId']}&time={body['time']}".encode()
            plain = AESGCM(self.aes_key).decrypt(data[:12], data[12:], aad)
        else:
            decryptor = Cipher(algorithms.AES(self.aes_key), modes.ECB()).decryptor()
            padded = decryptor.update(data) + decryptor.finalize()
            plain = padded[: -padded[-1]]
        return json.loads(plain)

    def scan(self, code: str, mac: str = "GATE-01") -> dict[str, Any]:
        if code in self.refused and self.defect != "retry-expired":
            return {"code": "refused-locally"}  # the person was told the code expired: nothing to send
        self.sent += 1
        body: dict[str, Any] = {"merchantId": self.merchant_id, "time": self._time(), "macId": mac}
        body["qrcode" if self.defect == "qrcode-spelling" else "qrcod"] = code
        if self.defect == "extra-field":
            body["deviceName"] = "east-gate"
        body["sign"] = self._sign(body)
        reply = self.send("/qrcode/decode", body)
        if self.defect == "resend-signed" and self.sent == 1:  # the reply "was lost": the same signed request again
            reply = self.send("/qrcode/decode", body)
        if reply.get("code") in ("PY3002", "PY3003"):
            self.refused.add(code)
        if reply.get("code") == "PY0000" and self.defect != "no-decrypt":
            fields = self._open(body, reply["response"])
            if self.defect == "log-subset":  # what a scene that never opened the answer could log: the non-personal part
                fields = {k: v for k, v in fields.items() if k not in ("userName", "idCard", "concealName", "concealCard", "mobile")}
            if self.answers is not None:
                with self.answers.open("a", encoding="utf-8") as fh:
                    fh.write(
                        json.dumps(
                            {"merchantId": self.merchant_id, "macId": mac, "time": body["time"], "fields": fields}, ensure_ascii=False
                        )
                        + "\n"
                    )
        return reply


def session(send: Send, store: Any, defect: str | None, answers: Path, merchant_file: Path | None = None) -> str:
    """The certification scenario; returns the merchantId. ``merchant_file``: a merchant enrolled beforehand (with its
    scanner GATE-01), else the scene registers itself and enrols its scanner over HTTP."""
    from harness.ymt import admin
    from tests.ymt import world

    client = SceneClient(send, defect=defect, answers=answers)
    if merchant_file is not None:
        merchant_id = client.use(merchant_file)
    else:
        merchant_id = client.register()
        client.enrol("GATE-01")
    if defect != "no-trust-list":
        client.fetch_trust_list()
    if store.query_one("SELECT 1 FROM ymt_apps WHERE id = ?", (world.APP,)) is None:
        admin.add_app(store, world.APP)
    person = admin.add_user(store, world.NAME, world.ID_CARD, app_id=world.APP, scope=("userName", "concealName"))
    user_id = person.user_id
    if defect != "no-trust-list":  # the platform is down: the person shows the emergency code their app kept
        emergency = send("/emergency/code", {"accessToken": person.access_token})["response"]["emergencyCode"]
        assert client.verify_emergency(emergency)
        forged = emergency[:-6] + ("000000" if not emergency.endswith("000000") else "111111")
        client.verify_emergency(forged)  # a tampered screenshot: refused
    if defect == "no-decode":
        return merchant_id
    client.scan(admin.issue_code(store, user_id, world.APP))  # a fresh code
    second = admin.issue_code(store, user_id, world.APP)
    client.scan(second)  # … and the person scans again at the next gate
    client.scan(second)
    expired = admin.issue_code(store, user_id, world.APP, expired=True)
    client.scan(expired)  # PY3002: tell the person, do not send it again
    client.scan(expired)
    if defect == "retry-expired":  # and once more: the finding counts the resends of one code (not one finding each)
        client.scan(expired)
    if defect == "unenrolled-scanner":
        client.scan(admin.issue_code(store, user_id, world.APP), mac="GATE-99")
    return merchant_id
