"""The channel-app simulator (`harness ymt channel`): what a channel app (接入渠道) does with a city's 一码通 platform.

A person passes the real-name check and consents (001 §7.1.1, §7.1.2); the app exchanges the authorisation code it was
given for the channel token (B.5, D-YMT-AUTH), shows the person's code (B.1; B.3 for a channel's own code, each a PNG
QR whose content a scanner sends to B.4, D-YMT-QR-VALUE), refreshes it (a new code revokes the previous one) and shows
the identity tags (B.2). It talks to any implementation of the standard through :class:`Transport` (HTTP by default),
so it can be pointed at the harness (``http://127.0.0.1:8000/ymt``) or at a vendor's own platform.

The real-name check and the consent are the harness's own interfaces (POST /user/realname, /user/consent,
D-YMT-FLOW): the seed defines none, so a vendor's platform issues its authorisation codes its own way.

Personal data and secrets stay out of what this module prints: the accessToken and the authorisation code are shown
masked (:func:`masked`), B.3's full name and ID number only as "present".
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError

OK = "PY0000"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LATITUDE, LONGITUDE = "30.2741", "120.1551"  # 杭州 (the seed is a DB3301 standard)
STEPS = ("authorise", "generate", "refresh", "tags", "channel")


class ChannelError(HarnessError):
    """The simulator cannot go on: the platform is unreachable or answers no JSON (one line, exit 2)."""


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange with the platform: what was sent and what came back."""

    path: str
    request: dict[str, Any]
    status: int
    text: str
    document: Any  # the parsed JSON, or None when the body is not JSON

    @property
    def code(self) -> str | None:
        doc = self.document
        return doc.get("code") if isinstance(doc, dict) and isinstance(doc.get("code"), str) else None

    @property
    def ok(self) -> bool:
        return self.code == OK

    @property
    def msg(self) -> str:
        doc = self.document if isinstance(self.document, dict) else {}
        return str(doc.get("msg", doc.get("message", "")))

    @property
    def response(self) -> Any:
        return self.document.get("response") if isinstance(self.document, dict) else None


Transport = Callable[[str, dict[str, Any]], Reply]


def http_transport(target: str, *, timeout: float = 10.0, verify: Any = True, client: Any = None) -> Transport:
    """POST JSON to ``target`` + path (``target`` is the platform's base URL, e.g. http://127.0.0.1:8000/ymt)."""
    import httpx

    base = target.rstrip("/")
    session = client or httpx.Client(timeout=timeout, verify=verify)

    def send(path: str, body: dict[str, Any]) -> Reply:
        try:
            response = session.post(
                base + path,
                content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"content-type": "application/json; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            raise ChannelError(f"cannot reach {base + path}: {exc}") from None
        text = response.text
        try:
            document = response.json()
        except ValueError:
            document = None
        return Reply(path, body, response.status_code, text, document)

    return send


def masked(secret: str | None) -> str:
    """A secret as the simulator prints it: its first four characters and its length."""
    if not secret:
        return "-"
    return f"{secret[:4]}…({len(secret)} chars)"


@dataclass(frozen=True)
class QrImage:
    """What qrcodeBase64 held: whether it is a PNG, what the QR decodes to, and why not when it does not."""

    png: bool
    value: str | None
    problem: str | None
    width: int = 0
    height: int = 0


def read_qr(text: Any) -> QrImage:
    """Decode 表B.1/B.3 qrcodeBase64: base64 → PNG (the examples begin iVBORw) → the QR's content (zxing-cpp)."""
    if not isinstance(text, str) or not text:
        return QrImage(False, None, "qrcodeBase64 is missing or not a string")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return QrImage(False, None, "qrcodeBase64 is not standard base64")
    if not raw.startswith(PNG_SIGNATURE):
        return QrImage(False, None, f"qrcodeBase64 is not a PNG image (it begins {raw[:8]!r})")
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        return QrImage(True, None, f"the PNG does not open: {exc}")
    found = [s for s in zxingcpp.read_barcodes(image.convert("L")) if s.format == zxingcpp.BarcodeFormat.QRCode]
    if not found:
        return QrImage(True, None, "the PNG holds no readable QR code", image.width, image.height)
    return QrImage(True, found[0].text, None, image.width, image.height)


@dataclass
class Step:
    """One step of the simulator and what it printed."""

    step: str
    reply: Reply | None
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    ok: bool | None = None  # None: from the reply's code

    @property
    def passed(self) -> bool:
        return self.ok if self.ok is not None else bool(self.reply is not None and self.reply.ok)

    def line(self) -> str:
        code = self.reply.code if self.reply is not None else None
        return f"{self.step:<10} {code or '-':<7} {self.summary}"

    def as_json(self) -> dict[str, Any]:
        shown = {k: v for k, v in self.detail.items() if not k.startswith("_")}  # _code: a secret kept for the next step
        out: dict[str, Any] = {"step": self.step, "ok": self.passed, "summary": self.summary, **shown}
        if self.reply is not None:
            out.update(code=self.reply.code, msg=self.reply.msg, http=self.reply.status)
        return out


class ChannelApp:
    """One channel app (表B.5 appId) with the token of one person (表B.1 accessToken)."""

    def __init__(self, send: Transport, app_id: str, *, access_token: str | None = None) -> None:
        self.send = send
        self.app_id = app_id
        self.access_token = access_token
        self.codes: list[str] = []  # the code values shown, newest last

    # -- the harness's flow interfaces (D-YMT-FLOW) -------------------------------------------------------------------
    def realname(self, name: str, id_card: str, mobile: str | None = None) -> Step:
        body: dict[str, Any] = {"appId": self.app_id, "name": name, "idType": "01", "idCard": id_card}
        if mobile:
            body["mobile"] = mobile
        reply = self.send("/user/realname", body)
        response = reply.response if isinstance(reply.response, dict) else {}
        user_id = response.get("userId")
        return Step("realname", reply, f"userId {user_id}" if reply.ok else _refused(reply), {"userId": user_id})

    def consent(self, user_id: str, scope: list[str]) -> Step:
        reply = self.send("/user/consent", {"userId": user_id, "appId": self.app_id, "scope": scope})
        response = reply.response if isinstance(reply.response, dict) else {}
        code = response.get("code") if isinstance(response.get("code"), str) else None
        summary = f"authorisation code {masked(code)} for {','.join(scope)}" if reply.ok else _refused(reply)
        step = Step("consent", reply, summary, {"scope": scope})
        step.detail["_code"] = code  # kept for authorise, never printed
        return step

    # -- B.5 ------------------------------------------------------------------------------------------------------------
    def authorise(self, code: str) -> Step:
        """B.5: the authorisation code → accessToken and its expiry (D-YMT-AUTH)."""
        reply = self.send("/oauth/token", {"code": code, "appId": self.app_id})
        response = reply.response if isinstance(reply.response, dict) else {}
        token = response.get("accessToken")
        if reply.ok and isinstance(token, str):
            self.access_token = token
            summary = f"accessToken {masked(token)}, expiresIn {response.get('expiresIn')} s, expiresAt {response.get('expiresAt')}"
        else:
            summary = _refused(reply)
        detail = {"expiresIn": response.get("expiresIn"), "expiresAt": response.get("expiresAt"), "scope": response.get("scope")}
        return Step("authorise", reply, summary, detail)

    # -- B.1 / B.3 / B.2 --------------------------------------------------------------------------------------------------
    def _token(self) -> str:
        if not self.access_token:
            raise ChannelError("no accessToken: authorise first (--code) or give --token")
        return self.access_token

    def generate(self, latitude: str = LATITUDE, longitude: str = LONGITUDE, *, step: str = "generate") -> Step:
        """B.1: the person's code; the PNG is decoded and its content kept (what a scanner sends to B.4)."""
        reply = self.send("/qrcode/generate", {"accessToken": self._token(), "latitude": latitude, "longitude": longitude})
        return self._shown(step, reply)

    def refresh(self, latitude: str = LATITUDE, longitude: str = LONGITUDE) -> Step:
        """B.1 again: a new code, which revokes the one shown before (D-YMT-QR-VALUE)."""
        return self.generate(latitude, longitude, step="refresh")

    def channel_code(self, latitude: str = LATITUDE, longitude: str = LONGITUDE) -> Step:
        """B.3: a channel's own code with the person's identity (its full name and ID number are never printed)."""
        reply = self.send("/qrcode/channel", {"accessToken": self._token(), "longitude": longitude, "latitude": latitude})
        return self._shown("channel", reply)

    def _shown(self, step: str, reply: Reply) -> Step:
        response = reply.response if isinstance(reply.response, dict) else {}
        if not reply.ok:
            return Step(step, reply, _refused(reply))
        image = read_qr(response.get("qrcodeBase64"))
        if image.value:
            self.codes.append(image.value)
        name = response.get("concealName", response.get("concelName"))
        card = response.get("concealCard", response.get("concelCard"))
        qr = f"QR {image.value}" if image.value else f"QR unreadable: {image.problem}"
        summary = f"{response.get('qrcodeType')} {qr} for {name} {card} at {response.get('serverTime')}"
        detail: dict[str, Any] = {
            "qrcodeType": response.get("qrcodeType"),
            "value": image.value,
            "png": image.png,
            "qrProblem": image.problem,
            "concealName": name,
            "concealCard": card,
            "serverTime": response.get("serverTime"),
        }
        if step == "channel":
            present = [f for f in ("userName", "userNmae", "idCard") if response.get(f)]
            detail["identity"] = present
            summary += f" (with {', '.join(present) or 'no'} full identity, not printed)"
        return Step(step, reply, summary, detail, ok=image.value is not None)

    def tags(self) -> Step:
        """B.2: the identity tags the person consented to show (§7.1.3)."""
        reply = self.send("/user/tags", {"accessToken": self._token()})
        tags = reply.response if isinstance(reply.response, list) else []
        if not reply.ok:
            return Step("tags", reply, _refused(reply))
        words = ", ".join(f"{t.get('no')}:{t.get('text')}" for t in tags if isinstance(t, dict)) or "none"
        return Step("tags", reply, f"{len(tags)} tag(s): {words}", {"tags": tags})

    def emergency(self) -> Step:
        """The emergency code to keep for when the platform is down (§3, §7.2.2; D-YMT-EMERGENCY)."""
        reply = self.send("/emergency/code", {"accessToken": self._token()})
        response = reply.response if isinstance(reply.response, dict) else {}
        text = response.get("emergencyCode")
        summary = f"emergency code {str(text)[:12]}… expires {response.get('expiresAt')}" if reply.ok else _refused(reply)
        return Step("emergency", reply, summary, {"emergencyCode": text, "expiresAt": response.get("expiresAt")})


def _refused(reply: Reply) -> str:
    if reply.document is None:
        return f"HTTP {reply.status}, not JSON: {reply.text[:80]!r}"
    return f"refused: {reply.msg[:160]}" if reply.code else f"HTTP {reply.status}, no envelope code"


def run(
    app: ChannelApp,
    steps: tuple[str, ...],
    *,
    code: str | None = None,
    latitude: str = LATITUDE,
    longitude: str = LONGITUDE,
    on_step: Callable[[Step], None] | None = None,
) -> list[Step]:
    """Run the steps in order (authorise needs ``code``); a refused authorise stops the rest, which need its token."""
    done: list[Step] = []

    def record(step: Step) -> Step:
        done.append(step)
        if on_step is not None:
            on_step(step)
        return step

    for name in steps:
        if name == "authorise":
            if code is None:
                raise ChannelError("the authorise step needs an authorisation code (--code, or --name/--id-card on the harness)")
            if not record(app.authorise(code)).passed:
                break
        elif name == "generate":
            record(app.generate(latitude, longitude))
        elif name == "refresh":
            record(app.refresh(latitude, longitude))
        elif name == "tags":
            record(app.tags())
        elif name == "channel":
            record(app.channel_code(latitude, longitude))
        elif name == "emergency":
            record(app.emergency())
        else:
            raise ChannelError(f"unknown step {name!r}; steps: {', '.join((*STEPS, 'emergency'))}")
    return done
