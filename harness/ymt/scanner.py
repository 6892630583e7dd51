"""The scene scanner simulator (`harness ymt scan`): what a scene system's scanner does with a scanned code.

A platform code (YMTQ…) is sent to B.4 signed with the merchant's (or the scanner's) RSA key (D-YMT-SIGN), with a fresh
``time`` (D-YMT-TIME-WINDOW), and the answer is decrypted with the merchant's AES key and profile (D-YMT-AES). An
emergency code (YMT1:…) is verified offline against the trust list fetched ahead of time (D-YMT-EMERGENCY). It talks to
any implementation of the spec through ``send(path, body) -> reply`` (HTTP by default), so it can be pointed at the
harness or at another platform.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.errors import HarnessError
from harness.ymt import crypto

Send = Callable[[str, dict[str, Any]], dict[str, Any]]


class ScannerError(HarnessError):
    """The scanner cannot do what it was asked (no key, unreachable platform, an answer that does not open)."""


def http_sender(target: str, timeout: float = 10.0) -> Send:
    """``send`` over HTTP to ``target`` (the platform's base URL, e.g. http://127.0.0.1:8000/ymt)."""
    import httpx

    base = target.rstrip("/")

    def send(path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = httpx.post(base + path, json=body, timeout=timeout)
        except httpx.HTTPError as exc:
            raise ScannerError(f"cannot reach {base + path}: {exc}") from None
        try:
            reply = response.json()
        except ValueError:
            raise ScannerError(f"{base + path} answered HTTP {response.status_code} without JSON") from None
        if not isinstance(reply, dict):
            raise ScannerError(f"{base + path} answered a JSON {type(reply).__name__}, not the envelope")
        return reply

    return send


@dataclass
class Scanner:
    """One scanner of one merchant: its ids, its signing key and the merchant's reply key."""

    merchant_id: str
    mac_id: str
    private_key: rsa.RSAPrivateKey
    aes_profile: str
    aes_key: bytes
    send: Send
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))

    @classmethod
    def from_files(cls, config: Path, mac_id: str, send: Send, key: Path | None = None) -> Scanner:
        """From the merchant.json that `harness ymt merchant-add --out DIR` writes (and its private key file)."""
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
            key_path = key or config.parent / data["privateKeyFile"]
            private = serialization.load_pem_private_key(key_path.read_bytes(), None)
            aes_key = base64.b64decode(data["aesKey"], validate=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ScannerError(f"{config}: not a merchant file of harness ymt merchant-add ({exc})") from None
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ScannerError(f"{key_path} is not an RSA private key")
        return cls(data["merchantId"], mac_id, private, data.get("aesProfile", crypto.AES_256_GCM), aes_key, send)

    def request(self, code: str, *, time: str | None = None) -> dict[str, Any]:
        """The signed B.4 request for ``code`` (the QR content, sent unchanged as qrcod)."""
        body = {"merchantId": self.merchant_id, "time": time or crypto.format_time(self.clock()), "qrcod": code, "macId": self.mac_id}
        body["sign"] = crypto.sign_request(body, self.private_key)
        return body

    def open(self, reply: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        """The decrypted answer of a PY0000 reply; :class:`ScannerError` when it does not open (wrong key, tampered)."""
        aad = crypto.reply_aad(request["merchantId"], request["macId"], request["time"]) if self.aes_profile == crypto.AES_256_GCM else b""
        try:
            document = json.loads(crypto.decrypt_reply(self.aes_profile, self.aes_key, str(reply.get("response", "")), aad=aad))
        except (crypto.CipherError, ValueError) as exc:
            raise ScannerError(f"the answer does not decrypt with the merchant's key: {exc}") from None
        if not isinstance(document, dict):
            raise ScannerError("the decrypted answer is not a JSON object")
        return document

    def decode(self, code: str, *, time: str | None = None) -> DecodeResult:
        request = self.request(code, time=time)
        reply = self.send("/qrcode/decode", request)
        fields = self.open(reply, request) if reply.get("code") == "PY0000" else None
        return DecodeResult(str(reply.get("code")), str(reply.get("msg", reply.get("message", ""))), fields, request, reply)

    def fetch_trust_list(self, anchor_pem: str) -> dict[str, Any]:
        """The trust list (POST /emergency/trust-list), verified against the anchor before it is kept."""
        reply = self.send("/emergency/trust-list", {"merchantId": self.merchant_id})
        if reply.get("code") != "PY0000":
            raise ScannerError(f"trust list refused: {reply.get('code')} {reply.get('msg', '')}")
        verify_trust_list(reply["response"], anchor_pem, self.clock())
        return reply["response"]


@dataclass(frozen=True)
class DecodeResult:
    code: str
    msg: str
    fields: dict[str, Any] | None
    request: dict[str, Any]
    reply: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.code == "PY0000"


def answer_record(result: DecodeResult) -> dict[str, Any]:
    """One line of the scene's log of decrypted answers (what `harness certify ymt-scene-client --answers` reads)."""
    r = result.request
    return {"merchantId": r["merchantId"], "macId": r["macId"], "time": r["time"], "fields": result.fields}


def emergency_record(merchant_id: str, mac_id: str, text: str, valid: bool, reason: str | None, at: float) -> dict[str, Any]:
    """One line of the scene's log for an emergency code verified offline (`harness certify ymt-scene-client --answers`)."""
    return {"merchantId": merchant_id, "macId": mac_id, "emergency": text, "valid": valid, "reason": reason, "at": int(at)}


def _anchor(anchor_pem: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(anchor_pem.encode("ascii"))
    except (ValueError, UnicodeError):
        raise ScannerError("the trust anchor is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ScannerError("the trust anchor is not an EC (P-256) key")
    return key


def verify_trust_list(document: dict[str, Any], anchor_pem: str, now: dt.datetime) -> crypto.TrustList:
    return crypto.load_trust_list(document, _anchor(anchor_pem), now)


def verify_offline(text: str, trust_list: dict[str, Any], anchor_pem: str, now: dt.datetime | None = None) -> crypto.EmergencyResult:
    """Verify an emergency code offline; raises the :class:`~harness.ymt.crypto.EmergencyCodeError` naming the stage."""
    moment = now or dt.datetime.now(dt.UTC)
    return crypto.verify_emergency(text, verify_trust_list(trust_list, anchor_pem, moment), moment)
