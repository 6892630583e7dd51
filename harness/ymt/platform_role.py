"""Role ``ymt-platform --target URL``: a city's own 一码通 platform built to the standard (seed 001), graded from outside.

The seed is a standard a city's platform implements, so the harness plays both of the platform's clients: a channel
app (B.5 authorise, B.1 / B.3 show the code, B.2 tags, the emergency code; harness/ymt/channel.py) and a scene
system's scanner (B.4 decode, signed with the merchant's RSA key, the answer decrypted with its AES key; the trust list).
Every answer is graded, each check naming its clause of 001 (附录B 表B.x, §3, §7.x, §8.x) or the decision that fills the
seed's gap (specs/decisions.yaml D-YMT-…).

Levels follow the verdict rules. MUST: what the seed obliges (the envelope and success code its examples show, the
fields its tables mark 是否必填 是, masked names and ID numbers, refusing a decode whose RSA signature does not verify or
whose merchant is not registered, refusing an authorisation nobody gave, §8.1.1 only the registered data), and the
harness decisions the interface cannot work without (the AES answer that opens with the merchant's key, D-YMT-AES; an
emergency code and trust list that verify offline, D-YMT-EMERGENCY, graded when the platform offers them). SHOULD:
the rest of the harness's design (the return codes pending the missing 附录C, D-YMT-CODES; the time window and replay
guard, D-YMT-TIME-WINDOW; single-use authorisation codes, D-YMT-AUTH; code lifetime and revocation, D-YMT-QR-VALUE;
the exact mask of the seed's examples, D-YMT-MASK), each a WARNING naming its decision. Where the seed contradicts
itself (``message``/``msg``, ``concelName``, ``userNmae``, ``Icon``, the examples' serverTime), the form the seed shows
passes with a WARNING naming the decision.

What the role needs on the target is enrolment done out of band (a vendor's platform enrols its apps, scenes and
scanners its own way): ``--config FILE`` (YAML, docs/ymt.md) names the channel app and one unused authorisation code of
a person's consent, the merchant with its RSA private key and AES key, an enrolled scanner, the trust anchor, and
optionally an expired code and how to mark the platform down. ``--setup-harness`` makes all of it on the harness's own
store (the target must then be the harness serving that store).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.conformance.engine import CheckSet, TargetUnreachable, failed, passed, skipped
from harness.conformance.model import CheckFinished, CheckResult, Event, Evidence, NonFatalError, RunStarted
from harness.conformance.roles import CommonOptions, RoleOption, run_checks
from harness.conformance.validity import target_validity
from harness.errors import ConfigError
from harness.ymt import channel as sim
from harness.ymt import crypto

SPEC_FILES = ("ymt/platform.yaml", "ymt/requirements.yaml", "decisions.yaml")
OK = sim.OK
SECRET_FIELDS = frozenset({"accessToken", "aesKeyWrapped", "code"})
PERSONAL_FIELDS = frozenset({"idCard", "userName", "userNmae", "name", "mobile", "phone", "realName", "cardNo", "residence"})
CONCEAL_FORMS = {  # a masked field is shown only in the examples' form (D-YMT-MASK); anything else is described, not shown
    "concealName": re.compile(r"^\*+[^*]?$"),
    "concelName": re.compile(r"^\*+[^*]?$"),
    "concealCard": re.compile(r"^[0-9]\*{14}[0-9Xx]$"),
    "concelCard": re.compile(r"^[0-9]\*{14}[0-9Xx]$"),
}
MOBILE_PATTERN = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
BULKY_FIELDS = frozenset({"qrcodeBase64", "response", "emergencyCode", "sign", "signature", "certificate"})
CODE_PATTERN = re.compile(r"^PY[1-9][0-9]{3}$")
ID_PATTERN = re.compile(r"[0-9]{17}[0-9Xx]")
SERVER_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$")
SERVER_TIME_EXAMPLE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{4}:[0-9]{2}:[0-9]{2}$")  # the examples' 2021-09-1620:12:00
STALE_SECONDS = 600  # twice the harness's window (D-YMT-TIME-WINDOW ±300 s)
PERSONAL_DATA_FIELDS = ("userName", "idCard", "mobile", "residence", "health", "talentLevel", "veteran", "tags")
ROLE_APP = "ymt-platform-role"
ROLE_MAC = "ROLE-GATE-01"
CONSENT_SCOPE = ["concealName", "concealCard", "userName", "idCard", "tags"]
MERCHANT_FIELDS = ["concealName", "concealCard", "tags"]  # tags registered and consented; userName, idCard consented only

CLAUSE_ENVELOPE = '001 附录B 示例 {"code":"PY0000","msg":"","response":…}; 表B.1 code 是 字符串; D-YMT-ENVELOPE'
CLAUSE_CODES = "001 §9.3.2 附录C (missing); D-YMT-CODES"


# --- enrolment -----------------------------------------------------------------------------------------------------
@dataclass
class Enrolment:
    """What the role needs on the target, set up out of band (``--config``) or on the harness (``--setup-harness``)."""

    app_id: str
    auth_code: str
    merchant_id: str
    mac_id: str
    private_key: rsa.RSAPrivateKey
    aes_key: bytes
    aes_profile: str = crypto.AES_256_GCM
    fields: tuple[str, ...] | None = None  # what the merchant registered (§8.1.1); None: not known
    person: tuple[str, str] | None = None  # (name, ID number): to judge the masks exactly
    trust_anchor: str | None = None  # PEM
    expired_code: str | None = None
    mark_down: Callable[[bool], None] | None = None
    how_down: str = ""
    paths: dict[str, str] = field(default_factory=dict)  # interface path (specs/ymt/platform.yaml) -> the target's own


# The interfaces the role calls, by their path in specs/ymt/platform.yaml (relative to --target). The seed names no URL
# (D-YMT-METHOD): a platform that serves them elsewhere maps them with the config's ``paths``.
ROLE_PATHS = (
    "/oauth/token",
    "/qrcode/generate",
    "/qrcode/channel",
    "/user/tags",
    "/qrcode/decode",
    "/emergency/trust-list",
    "/emergency/code",
)


def _paths(data: Any, path: Path) -> dict[str, str]:
    """The config's ``paths``: {interface path: the target's path (starting with /, relative to --target) or a full
    http(s) URL}; ConfigError naming what is wrong."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: paths is a mapping {{interface path: the platform's path}} (docs/ymt.md)")
    mapped: dict[str, str] = {}
    for key, value in data.items():
        if key not in ROLE_PATHS:
            raise ConfigError(f"--config {path}: paths: {key!r} is not an interface the role calls (one of {', '.join(ROLE_PATHS)})")
        if not isinstance(value, str) or not (value.startswith("/") or re.match(r"https?://[^/\s]+", value)):
            raise ConfigError(f"--config {path}: paths: {key} must map to a path starting with / or an http(s):// URL, not {value!r}")
        mapped[key] = value
    return mapped


def mapped_transport(send: sim.Transport, paths: dict[str, str], client: Any = None) -> sim.Transport:
    """``send`` with each interface path replaced by the target's own (``paths``); a full URL is sent as given."""
    if not paths:
        return send
    absolute = {k: v for k, v in paths.items() if not v.startswith("/")}
    direct = {url: sim.http_transport(url, client=client) for url in absolute.values()} if absolute else {}

    def mapped(path: str, body: dict[str, Any]) -> sim.Reply:
        where = paths.get(path, path)
        if where in direct:
            return direct[where]("", body)
        return send(where, body)

    return mapped


class SwitchError(ConfigError):
    """The configured request that marks the target down or up failed."""


def _http_switch(spec: Any, what: str, verify: Any) -> Callable[[], None]:
    if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
        raise ConfigError(f"config {what}: give {{url: …, body: {{…}}, headers: {{…}}}}")
    import httpx

    def call() -> None:
        try:
            httpx.request(
                str(spec.get("method", "POST")),
                spec["url"],
                json=spec.get("body"),
                headers=spec.get("headers") or {},
                timeout=10,
                verify=verify,
            ).raise_for_status()
        except httpx.HTTPError as exc:
            raise SwitchError(f"config {what} {spec['url']}: {exc}") from None

    return call


def _private_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{path}: not an RSA private key (D-YMT-SIGN: SHA256withRSA)")
    return key


def load_config(path: Path, verify: Any = True) -> Enrolment:
    """The enrolment from ``--config FILE`` (YAML; file names relative to the file). ConfigError (exit 2) if unusable."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:  # one line: what the parser expected and where (its own text spans several lines)
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"--config {path}: not valid YAML: {problem}{where}") from None
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"--config {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: not a YAML mapping")
    here = path.parent

    def text(source: dict[str, Any], key: str, where: str = "") -> str:
        value = source.get(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"--config {path}: {where}{key} is required (a non-empty string; docs/ymt.md)")
        return value

    merchant = data.get("merchant")
    if isinstance(merchant, str):
        merchant = {"file": merchant}
    if isinstance(merchant, dict) and isinstance(merchant.get("file"), str):  # merchant.json of harness ymt merchant-add --out
        source = here / merchant["file"]
        try:
            loaded = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--config {path}: merchant file {merchant['file']}: {getattr(exc, 'strerror', None) or exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config {path}: merchant file {merchant['file']} is not a JSON object")
        merchant = {**loaded, **{k: v for k, v in merchant.items() if k != "file"}, "_dir": str(source.parent)}
    if not isinstance(merchant, dict):
        raise ConfigError(f"--config {path}: merchant is required (a mapping, or the path of merchant.json)")
    mdir = Path(merchant.get("_dir", here))
    try:
        aes_key = base64.b64decode(text(merchant, "aesKey", "merchant."), validate=True)
    except ValueError:
        raise ConfigError(f"--config {path}: merchant.aesKey is not base64") from None
    profile = str(merchant.get("aesProfile", crypto.AES_256_GCM))
    if profile not in crypto.AES_PROFILES:
        raise ConfigError(f"--config {path}: merchant.aesProfile {profile!r}; known: {', '.join(crypto.AES_PROFILES)}")
    anchor_file = data.get("trustAnchorFile") or merchant.get("trustAnchorFile")
    anchor = data.get("trustAnchor")
    if anchor is None and anchor_file:
        base = here if data.get("trustAnchorFile") else mdir
        try:
            anchor = (base / str(anchor_file)).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--config {path}: trust anchor {anchor_file}: {exc.strerror}") from None
    person = data.get("person")
    if person is not None and not (
        isinstance(person, dict) and isinstance(person.get("name"), str) and isinstance(person.get("idCard"), str)
    ):
        raise ConfigError(f"--config {path}: person is {{name: …, idCard: …}}")
    fields = merchant.get("fields")
    mark = None
    if data.get("down") is not None or data.get("up") is not None:
        down, up = _http_switch(data.get("down"), "down", verify), _http_switch(data.get("up"), "up", verify)
        mark = lambda on: down() if on else up()  # noqa: E731
    return Enrolment(
        app_id=text(data, "appId"),
        auth_code=text(data, "authorisationCode"),
        merchant_id=text(merchant, "merchantId", "merchant."),
        mac_id=text(merchant, "macId", "merchant.") if "macId" in merchant or "devices" not in merchant else str(merchant["devices"][0]),
        private_key=_private_key(mdir / text(merchant, "privateKeyFile", "merchant.")),
        aes_key=aes_key,
        aes_profile=profile,
        fields=tuple(fields) if isinstance(fields, list) else None,
        person=(person["name"], person["idCard"].upper()) if person else None,
        trust_anchor=anchor,
        expired_code=data.get("expiredCode"),
        mark_down=mark,
        how_down="the config's down/up requests" if mark else "",
        paths=_paths(data.get("paths"), path),
    )


def enrol_on_harness(db: Path, target: str, seed: int, send: sim.Transport, *, aes_profile: str = crypto.AES_256_GCM) -> Enrolment:
    """Make what the role needs on the harness's own store (the target must serve it): a channel app, a person with
    tags who consents (POST /user/consent, the harness's flow interface, gives the authorisation code), a merchant with
    a fresh RSA key that registered concealName, concealCard and tags, an enrolled scanner, an expired code, and the
    store's up/down switch."""
    from harness.schema import open_store
    from harness.ymt import admin

    # Before anything is written: the target must answer in YMT's envelope (a consent for nobody is refused in it), so
    # that a wrong --target leaves the store as it was (an unreachable one raises ChannelError here too).
    probe = send("/user/consent", {"userId": "", "appId": ROLE_APP, "scope": CONSENT_SCOPE})
    if probe.code is None:
        raise ConfigError(
            f"--setup-harness: {target} does not answer in YMT's envelope (HTTP {probe.status}): is it the harness serving {db}?"
        )
    store = open_store(db)
    try:
        if store.query_one("SELECT 1 FROM ymt_apps WHERE id = ?", (ROLE_APP,)) is None:
            admin.add_app(store, ROLE_APP, "ymt-platform certify role")
        rng = secrets.SystemRandom()
        first17 = f"330106{1960 + seed % 40:04d}{1 + seed % 12:02d}{1 + seed % 28:02d}{rng.randrange(1000):03d}"
        id_card = first17 + admin.id_check_digit(first17)
        while admin.find_user_by_card(store, id_card) is not None:
            first17 = first17[:14] + f"{rng.randrange(1000):03d}"
            id_card = first17 + admin.id_check_digit(first17)
        name = "欧阳明月"
        user = admin.add_user(store, name, id_card, veteran=True, talent="E")
        reply = send("/user/consent", {"userId": user.user_id, "appId": ROLE_APP, "scope": CONSENT_SCOPE})
        code = reply.response.get("code") if reply.ok and isinstance(reply.response, dict) else None
        if not isinstance(code, str):
            raise ConfigError(
                f"--setup-harness: {target} did not give an authorisation code ({reply.code} {reply.msg[:120]}): is it the harness serving {db}?"
            )
        key = admin.new_rsa_key()
        merchant = admin.add_merchant(
            store,
            public_key=admin.public_pem(key.public_key()),
            scene_name="ymt-platform role gate",
            scene_type="一码入园",
            qrcode_types=("ymt", "gj"),
            fields=MERCHANT_FIELDS,
            aes_profile=aes_profile,
        )
        admin.add_device(store, merchant.merchant_id, ROLE_MAC)
        expired = admin.issue_code(store, user.user_id, ROLE_APP, "ymt", expired=True)
        anchor = admin.platform_keys(store).anchor_pem
    finally:
        store.close()

    def mark(down: bool) -> None:
        switch = open_store(db)
        try:
            admin.set_down(switch, down)
        finally:
            switch.close()

    return Enrolment(
        app_id=ROLE_APP,
        auth_code=code,
        merchant_id=merchant.merchant_id,
        mac_id=ROLE_MAC,
        private_key=key,
        aes_key=merchant.aes_key,
        aes_profile=merchant.aes_profile,
        fields=tuple(MERCHANT_FIELDS),
        person=(name, id_card),
        trust_anchor=anchor,
        expired_code=expired,
        mark_down=mark,
        how_down=f"the harness store's switch ({db.name}, as harness ymt down / up)",
    )


# --- the run's context ---------------------------------------------------------------------------------------------
@dataclass
class Sent:
    check_id: str
    reply: sim.Reply
    expect: str | None  # "ok", "refuse", or None (not judged for its code)


@dataclass
class PlatformContext:
    target: str
    send_raw: sim.Transport
    enrolment: Enrolment
    sent: list[Sent] = field(default_factory=list)
    token: str | None = None
    exchanged: sim.Reply | None = None
    shown: list[tuple[str, str, dict[str, Any], sim.Reply]] = field(default_factory=list)  # (check id, where, masked fields, reply)
    images: list[tuple[str, str, sim.QrImage, sim.Reply]] = field(default_factory=list)  # (check id, interface, image, reply)
    b3: dict[str, Any] | None = None
    tags: list[Any] | None = None
    tags_reply: sim.Reply | None = None
    decoded: list[tuple[sim.Reply, dict[str, Any]]] = field(default_factory=list)
    trust: crypto.TrustList | None = None
    trust_problem: str | None = None
    emergency_text: str | None = None
    times: set[str] = field(default_factory=set)
    redactor: Redactor = field(default_factory=lambda: Redactor())

    def __post_init__(self) -> None:
        if self.enrolment.person:
            self.redactor.learn(*self.enrolment.person)

    def send(self, check_id: str, path: str, body: dict[str, Any], expect: str | None) -> sim.Reply:
        try:
            reply = self.send_raw(path, body)
        except sim.ChannelError as exc:
            raise TargetUnreachable(str(exc)) from None
        self.sent.append(Sent(check_id, reply, expect))
        self.redactor.learn_from(reply.document)
        return reply

    # -- the person -------------------------------------------------------------------------------------------------
    @property
    def full_identity(self) -> tuple[str, str] | None:
        """The person's full name and ID number: from the config, else as B.3 returned them."""
        if self.enrolment.person:
            return self.enrolment.person
        if self.b3:
            name, card = self.b3.get("userName") or self.b3.get("userNmae"), self.b3.get("idCard")
            if isinstance(name, str) and isinstance(card, str) and name and card:
                return name, card.upper()
        return None

    # -- the scanner ------------------------------------------------------------------------------------------------
    def next_time(self, offset: int = 0) -> str:
        """A time of its own for each signed request (now, else the latest second before it not used yet)."""
        moment = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=offset)
        while (text := crypto.format_time(moment)) in self.times:
            moment -= dt.timedelta(seconds=1)
        self.times.add(text)
        return text

    def decode_body(
        self, code: str, *, merchant_id: str | None = None, mac_id: str | None = None, time: str | None = None
    ) -> dict[str, Any]:
        e = self.enrolment
        body = {"merchantId": merchant_id or e.merchant_id, "time": time or self.next_time(), "qrcod": code, "macId": mac_id or e.mac_id}
        body["sign"] = crypto.sign_request(body, e.private_key)
        return body

    def open(self, reply: sim.Reply, request: dict[str, Any]) -> dict[str, Any]:
        """The decrypted answer; CipherError / ValueError when it does not open."""
        e = self.enrolment
        aad = crypto.reply_aad(request["merchantId"], request["macId"], request["time"]) if e.aes_profile == crypto.AES_256_GCM else b""
        document = json.loads(crypto.decrypt_reply(e.aes_profile, e.aes_key, str(reply.response), aad=aad))
        if not isinstance(document, dict):
            raise ValueError("the decrypted answer is not a JSON object")
        return document

    def fresh_code(self, check_id: str) -> str | None:
        """A code just shown by B.1 (the QR read from its PNG), or None when B.1 gave none."""
        if not self.token:
            return None
        reply = self.send(check_id, "/qrcode/generate", _b1(self.token), "ok")
        if not reply.ok or not isinstance(reply.response, dict):
            return None
        image = sim.read_qr(reply.response.get("qrcodeBase64"))
        self.images.append((check_id, "B.1", image, reply))
        self._note_shown(check_id, "B.1", reply.response, reply)
        return image.value

    def _note_shown(self, check_id: str, where: str, response: dict[str, Any], reply: sim.Reply) -> None:
        self.shown.append((check_id, where, response, reply))
        self.redactor.learn_from(response)
        for key in CONCEAL_FORMS:  # a "masked" value with no * at all is the person's value itself
            value = response.get(key)
            if isinstance(value, str) and "*" not in value:
                self.redactor.learn(value)


def _b1(token: str) -> dict[str, Any]:
    return {"accessToken": token, "latitude": sim.LATITUDE, "longitude": sim.LONGITUDE}


# --- evidence (secrets and personal data never in clear) -------------------------------------------------------------
def _scrub(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, key) for v in value]
    if isinstance(value, str):
        if key in SECRET_FIELDS and not CODE_PATTERN.match(value) and value != OK:
            return sim.masked(value)
        if key in PERSONAL_FIELDS:
            return f"<{key}: {len(value)} characters, masked>"
        if key in CONCEAL_FORMS and not CONCEAL_FORMS[key].match(value):
            return f"<{key}: {describe_mask(value)}, not shown>"
        if (key in BULKY_FIELDS and len(value) > 64) or len(value) > 400:  # images, cipher texts: their start is enough
            return value[:40] + f"…({len(value)} characters)"
    return value


def _ranges(positions: list[int]) -> str:
    spans: list[list[int]] = []
    for p in positions:
        if spans and p == spans[-1][1] + 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    return ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in spans)


def describe_mask(value: Any) -> str:
    """What a masked value shows, without showing it: its length and which characters are in clear."""
    if value is None:
        return "absent"
    if not isinstance(value, str):
        return f"a {type(value).__name__}, not a string"
    clear = [i for i, ch in enumerate(value, 1) if ch != "*"]
    if not clear:
        return f"{len(value)} characters, all *"
    if len(clear) == len(value):
        return f"{len(value)} characters, none masked"
    return f"{len(value)} characters, {len(clear)} in clear (position{'s' if len(clear) > 1 else ''} {_ranges(clear)})"


class Redactor:
    """The last guard of the role's output: every person's value the run came to know (the config's person, B.3's
    userName and idCard, any name, ID number or mobile an answer carried), and anything shaped like an ID number or a
    mobile, is replaced in every message and evidence item before it reaches a report or the console."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def learn(self, *values: Any) -> None:
        for value in values:
            if isinstance(value, str) and len(value.strip()) >= 2:
                self.values.update({value, value.upper(), value.lower()})

    def learn_from(self, document: Any) -> None:
        if isinstance(document, dict):
            for key, value in document.items():
                if key in PERSONAL_FIELDS:
                    self.learn(value)
                self.learn_from(value)
        elif isinstance(document, list):
            for value in document:
                self.learn_from(value)

    def text(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, f"<personal data: {len(value)} characters>")
        text = ID_PATTERN.sub("<ID number>", text)
        return MOBILE_PATTERN.sub("<mobile>", text)

    def any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.any(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.any(v) for v in value)
        return value

    def result(self, result: CheckResult) -> CheckResult:
        kept = tuple(
            Evidence(self.text(e.note), self.any(e.request) if e.request else e.request, self.any(e.reply) if e.reply else e.reply)
            for e in result.evidence
        )
        return dataclasses.replace(result, message=self.text(result.message), evidence=kept)


def evidence(sent: Sent | sim.Reply, note: str = "", target: str = "") -> Evidence:
    reply = sent.reply if isinstance(sent, Sent) else sent
    body = _scrub(reply.document) if reply.document is not None else reply.text[:400]
    return Evidence(
        note,
        {"method": "POST", "url": target + reply.path, "headers": {}, "body": json.dumps(_scrub(reply.request), ensure_ascii=False)},
        {"status": reply.status, "headers": {}, "body": json.dumps(body, ensure_ascii=False) if not isinstance(body, str) else body},
    )


def _judged(found: list[tuple[Any, ...]], target: str, limit: int = 3) -> list[Evidence]:
    """The exchanges a finding judged, as evidence (first ``limit``, one per exchange): each ``(note, reply, …)``, the
    note naming what was found in that reply (never the person's values; the reply itself is masked)."""
    out: list[Evidence] = []
    seen: set[int] = set()
    for note, reply, *_ in found:
        if id(reply) in seen:
            continue
        seen.add(id(reply))
        same = "; ".join(dict.fromkeys(str(n) for n, r, *_ in found if r is reply and n))
        out.append(evidence(reply, same or str(note), target))
        if len(out) == limit:
            break
    return out


def _what(reply: sim.Reply) -> str:
    if reply.document is None:
        return f"HTTP {reply.status}, not JSON"
    said = f"{reply.code or 'no code'} {reply.msg[:80]!r}".strip()
    document = reply.document
    if reply.ok and isinstance(document, dict) and "response" not in document:  # a success with its answer elsewhere
        others = [str(k)[:32] for k in document if k not in ("code", "msg", "message")][:6]
        said += " with no response" + (f" (the reply holds {', '.join(others)} instead)" if others else "")
    return said


CHECKS = CheckSet()


def _refusal(ctx: PlatformContext, check_id: str, reply: sim.Reply, expected: str, what: str) -> list[Any]:
    """``what`` must be refused (any code but PY0000); a refusal with another code than the harness's ``expected`` is a
    WARNING naming D-YMT-CODES (the seed's 附录C is missing), whatever the check's level."""
    check = CHECKS.get(check_id)
    ev = evidence(reply, f"{what}: {_what(reply)}", ctx.target)
    if reply.ok:
        return [check.result("failed", f"{what} was answered PY0000 (success)", ev)]
    if reply.code is None:
        return [
            check.result("failed", f"{what}: the reply carries no return code ({_what(reply)}), so no client can tell it was refused", ev)
        ]
    if reply.code != expected:
        return [
            check.result(
                "warning", f"{what} was refused with {reply.code}; the harness's design answers {expected}", ev, decision="D-YMT-CODES"
            )
        ]
    return [check.result("passed", f"{what} was refused with {expected}", ev)]


def _need_token(ctx: PlatformContext) -> str | None:
    return None if ctx.token else "no accessToken: the B.5 exchange of the configured authorisation code failed (b5-exchange)"


# --- B.5 ----------------------------------------------------------------------------------------------------------
@CHECKS.check(
    "b5-unknown-code",
    title="an authorisation code the platform never issued is refused (B.5)",
    clause="001 §7.1.2 用户同意后,通过接入渠道的授权接口获取到用户个人信息; 表B.5 code 第三方授权code",
    requirements=("YMT-PLATFORM-AUTHORISE",),
    level="MUST",
)
def b5_unknown_code(ctx: PlatformContext) -> Any:
    body = {"code": secrets.token_urlsafe(24), "appId": ctx.enrolment.app_id}
    reply = ctx.send("b5-unknown-code", "/oauth/token", body, "refuse")
    return _refusal(ctx, "b5-unknown-code", reply, "PY2007", "an invented authorisation code")


@CHECKS.check(
    "b5-exchange",
    title="the person's authorisation code is exchanged for the channel token (B.5 → accessToken)",
    clause="001 表B.5 code, appId 是; 表B.1 accessToken 是 用户授权后的渠道令牌; D-YMT-AUTH",
    requirements=("YMT-PLATFORM-AUTHORISE",),
    level="MUST",
)
def b5_exchange(ctx: PlatformContext) -> Any:
    e = ctx.enrolment
    reply = ctx.send("b5-exchange", "/oauth/token", {"code": e.auth_code, "appId": e.app_id}, "ok")
    ctx.exchanged = reply
    response = reply.response if isinstance(reply.response, dict) else {}
    token = response.get("accessToken")
    if not reply.ok or not isinstance(token, str) or not token:
        ev = evidence(reply, "", ctx.target)
        if reply.ok and response:  # answered, but not with the field B.1–B.3 take
            if "accessToken" in response:
                return failed(f"the B.5 reply's accessToken is {sim.masked(str(token))!r}, not a non-empty string", ev)
            design = ("expiresIn", "expiresAt", "scope")  # D-YMT-AUTH's other fields: what the reply held instead comes first
            found = [k for k in response if k not in design][:6] + [k for k in design if k in response]
            return failed(f"the B.5 reply has no accessToken (found {', '.join(found)})", ev)
        return failed(f"the configured authorisation code was not exchanged for an accessToken: {_what(reply)}", ev)
    ctx.token = token
    return passed(f"accessToken issued ({sim.masked(token)})", evidence(reply, "", ctx.target))


@CHECKS.check(
    "b5-expiry",
    title="the B.5 answer says how long the token lives (expiresIn seconds, expiresAt yyyy-MM-dd HH:mm:ss)",
    clause="001 表B.5 (output cut off in the seed); D-YMT-AUTH",
    requirements=("YMT-PLATFORM-AUTH-LIFETIME",),
    level="SHOULD",
)
def b5_expiry(ctx: PlatformContext) -> Any:
    if ctx.exchanged is None or not ctx.token:
        return skipped(_need_token(ctx) or "no B.5 answer")
    response = ctx.exchanged.response
    seconds, at = response.get("expiresIn"), response.get("expiresAt")
    ev = evidence(ctx.exchanged, "", ctx.target)
    problems = []
    if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
        problems.append(f"expiresIn is {seconds!r}, not a positive integer of seconds")
    if not isinstance(at, str) or not SERVER_TIME.match(at):
        problems.append(f"expiresAt is {at!r}, not yyyy-MM-dd HH:mm:ss")
    if problems:
        return failed("; ".join(problems), ev)
    return passed(f"the token lives {seconds} s, until {at}", ev)


@CHECKS.check(
    "token-unknown",
    title="B.1 with an accessToken the platform never issued is refused",
    clause="001 表B.1 accessToken 是 用户授权后的渠道令牌; §7.1.2",
    requirements=("YMT-PLATFORM-AUTHORISE",),
    level="MUST",
)
def token_unknown(ctx: PlatformContext) -> Any:
    reply = ctx.send("token-unknown", "/qrcode/generate", _b1(secrets.token_urlsafe(24)), "refuse")
    return _refusal(ctx, "token-unknown", reply, "PY2006", "B.1 with an invented accessToken")


# --- B.1 / B.3 / B.2 ------------------------------------------------------------------------------------------------
B1_FIELDS = ("qrcodeType", "qrcodeBase64", "serverTime", "concealName", "concealCard")
B3_FIELDS = ("qrcodeType", "qrcodeBase64", "idCard", "serverTime", "userName", "concealName", "concealCard")
B3_TABLE_SPELLING = {
    "concealName": ("concelName", "D-YMT-CONCEAL"),
    "concealCard": ("concelCard", "D-YMT-CONCEAL"),
    "userName": ("userNmae", "D-YMT-USERNAME"),
}


def _missing(response: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if not isinstance(response.get(n), str) or not response.get(n)]


@CHECKS.check(
    "b1-fields",
    title="B.1 answers PY0000 with qrcodeType, qrcodeBase64, serverTime, concealName and concealCard",
    clause="001 表B.1 输出参数 (是否必填 是); 示例 response; D-YMT-ENVELOPE",
    requirements=("YMT-PLATFORM-QR",),
    level="MUST",
)
def b1_fields(ctx: PlatformContext) -> Any:
    if not ctx.token:
        return skipped(_need_token(ctx) or "")
    reply = ctx.send("b1-fields", "/qrcode/generate", _b1(ctx.token), "ok")
    ev = evidence(reply, "", ctx.target)
    if not reply.ok or not isinstance(reply.response, dict):
        return failed(f"B.1 was not answered with a response: {_what(reply)}", ev)
    ctx.images.append(("b1-fields", "B.1", sim.read_qr(reply.response.get("qrcodeBase64")), reply))
    ctx._note_shown("b1-fields", "B.1", reply.response, reply)
    missing = _missing(reply.response, B1_FIELDS)
    if missing:
        return failed(f"B.1's response lacks {', '.join(missing)} (or not as strings)", ev)
    return passed("B.1 answered every field of 表B.1", ev)


@CHECKS.check(
    "b3-fields",
    title="B.3 answers PY0000 with qrcodeType, qrcodeBase64, idCard, serverTime, userName, concealName and concealCard",
    clause="001 表B.3 输出参数 (是否必填 是); 示例 response; D-YMT-IDCARD",
    requirements=("YMT-PLATFORM-QR",),
    level="MUST",
)
def b3_fields(ctx: PlatformContext) -> Any:
    if not ctx.token:
        return skipped(_need_token(ctx) or "")
    body = {"accessToken": ctx.token, "longitude": sim.LONGITUDE, "latitude": sim.LATITUDE}
    reply = ctx.send("b3-fields", "/qrcode/channel", body, "ok")
    ev = evidence(reply, "", ctx.target)
    if not reply.ok or not isinstance(reply.response, dict):
        return failed(f"B.3 was not answered with a response (the person consented to userName and idCard): {_what(reply)}", ev)
    response = reply.response
    ctx.b3 = response
    ctx.images.append(("b3-fields", "B.3", sim.read_qr(response.get("qrcodeBase64")), reply))
    check = CHECKS.get("b3-fields")
    missing, table_only = [], []
    for name in _missing(response, B3_FIELDS):
        alias = B3_TABLE_SPELLING.get(name)
        if alias and isinstance(response.get(alias[0]), str) and response.get(alias[0]):
            table_only.append(alias)
        else:
            missing.append(name)
    shown = {k: response.get(k, response.get(B3_TABLE_SPELLING.get(k, ("",))[0])) for k in ("concealName", "concealCard")}
    ctx._note_shown("b3-fields", "B.3", shown | {"serverTime": response.get("serverTime")} if "serverTime" in response else shown, reply)
    results = []
    if missing:
        results.append(check.result("failed", f"B.3's response lacks {', '.join(missing)}", ev))
    card = response.get("idCard")
    if isinstance(card, str) and card and not re.fullmatch(r"[0-9]{17}[0-9Xx]", card):
        results.append(
            check.result("failed", "idCard is not the full 18-character ID number the table asks for", ev, decision="D-YMT-IDCARD")
        )
    for spelling, decision in table_only:
        results.append(check.result("warning", f"B.3 spells {spelling} as its table does, not as its example", ev, decision=decision))
    return results or [check.result("passed", "B.3 answered every field of 表B.3", ev)]


@CHECKS.check(
    "qr-png",
    title="qrcodeBase64 is base64 of a PNG image holding a readable QR code (B.1, B.3)",
    clause="001 表B.1 qrcodeBase64 二维码base64字符串; 表B.3 qrcodeBase64; 示例 iVBORw… (PNG); D-YMT-QR-VALUE",
    requirements=("YMT-PLATFORM-QR",),
    level="MUST",
)
def qr_png(ctx: PlatformContext) -> Any:
    if not ctx.images:
        return skipped("no B.1 or B.3 answer carried a qrcodeBase64 to read")
    bad = [(f"{where}: {image.problem}", reply) for _, where, image, reply in ctx.images if image.value is None]
    if bad:
        return failed(
            f"{len(bad)} of {len(ctx.images)} QR images do not read: {bad[0][0]}", *_judged([(note, r) for note, r in bad], ctx.target)
        )
    sizes = ", ".join(f"{where} {image.width}×{image.height}" for _, where, image, _ in ctx.images[:3])
    return passed(f"{len(ctx.images)} PNG QR image(s) decoded ({sizes})")


@CHECKS.check(
    "b2-tags",
    title="B.2 answers an array of tags, each with icon, no (integer), text, backgroundColor and fontColor (integers)",
    clause="001 表B.2 输出参数 (是否必填 是; no, backgroundColor, fontColor 整数); 示例 response[]; D-YMT-ICON",
    requirements=("YMT-PLATFORM-TAGS",),
    level="MUST",
)
def b2_tags(ctx: PlatformContext) -> Any:
    if not ctx.token:
        return skipped(_need_token(ctx) or "")
    reply = ctx.send("b2-tags", "/user/tags", {"accessToken": ctx.token}, "ok")
    ev = evidence(reply, "", ctx.target)
    if not reply.ok or not isinstance(reply.response, list):
        return failed(f"B.2 did not answer a list of tags: {_what(reply)}", ev)
    ctx.tags, ctx.tags_reply = reply.response, reply
    if not reply.response:
        return skipped("the person has no tags (or did not consent to them): nothing to judge", ev)
    check = CHECKS.get("b2-tags")
    problems, icon_only, text_empty = [], 0, 0
    for n, tag in enumerate(reply.response, 1):
        if not isinstance(tag, dict):
            problems.append(f"tag {n} is not an object")
            continue
        if not isinstance(tag.get("icon"), str):
            if isinstance(tag.get("Icon"), str):
                icon_only += 1
            else:
                problems.append(f"tag {n} has no icon")
        for name in ("no", "backgroundColor", "fontColor"):
            if not isinstance(tag.get(name), int) or isinstance(tag.get(name), bool):
                problems.append(f"tag {n} {name} is {tag.get(name)!r}, not an integer")
        if not isinstance(tag.get("text"), str):
            problems.append(f"tag {n} text is {tag.get('text')!r}, not a string")
        elif not tag["text"].strip():
            text_empty += 1
    results = []
    if problems:
        results.append(check.result("failed", f"{len(problems)} problem(s): " + "; ".join(problems[:4]), ev))
    if icon_only:
        results.append(
            check.result(
                "warning", f"{icon_only} tag(s) carry only Icon, the table's spelling (the example: icon)", ev, decision="D-YMT-ICON"
            )
        )
    if text_empty:
        note = (
            f'{text_empty} tag(s) answer "text":"", as the seed\'s B.2 example prints it (its 退役军人 / E类人才 stand outside '
            "the quotes); the harness reads text as the tag's words, so a client shows a tag without a label"
        )
        results.append(check.result("warning", note, ev, decision="D-YMT-TAG-TEXT"))
    return results or [check.result("passed", f"{len(reply.response)} tag(s), each with the fields of 表B.2", ev)]


@CHECKS.check(
    "b2-colours",
    title="backgroundColor and fontColor are values of the colour enumeration (1–8)",
    clause="001 表B.2 backgroundColor/fontColor 颜色枚举值; D-YMT-TAG-COLOURS",
    requirements=("YMT-PLATFORM-TAG-COLOURS",),
    level="SHOULD",
)
def b2_colours(ctx: PlatformContext) -> Any:
    tags = [t for t in ctx.tags or [] if isinstance(t, dict)]
    if not tags:
        return skipped("no tag to judge (b2-tags)")
    bad = [f"tag {t.get('no')}: {k} {t.get(k)!r}" for t in tags for k in ("backgroundColor", "fontColor") if t.get(k) not in range(1, 9)]
    ev = [evidence(ctx.tags_reply, "; ".join(bad), ctx.target)] if ctx.tags_reply is not None else []
    if bad:
        return failed(f"{len(bad)} colour(s) outside the enumeration 1–8: " + "; ".join(bad[:4]), *ev)
    return passed(f"{len(tags)} tag(s) with colours of the enumeration", *ev)


# --- B.4 ----------------------------------------------------------------------------------------------------------
def _decode(ctx: PlatformContext, check_id: str, code: str, expect: str, **kw: Any) -> tuple[sim.Reply, dict[str, Any]]:
    body = ctx.decode_body(code, **kw)
    return ctx.send(check_id, "/qrcode/decode", body, expect), body


@CHECKS.check(
    "b4-decode",
    title="a code B.1 just showed, decoded by an enrolled scanner with a valid signature, is answered and decrypts",
    clause="001 §8.3.1 应能识别由一码通平台生成的简码; 表B.4 response AES加密的传输信息; D-YMT-AES",
    requirements=("YMT-PLATFORM-DECODE",),
    level="MUST",
)
def b4_decode(ctx: PlatformContext) -> Any:
    code = ctx.fresh_code("b4-decode")
    if code is None:
        return skipped(_need_token(ctx) or "B.1 gave no readable code to decode (b1-fields, qr-png)")
    reply, body = _decode(ctx, "b4-decode", code, "ok")
    ev = evidence(reply, f"decode of {code}", ctx.target)
    if not reply.ok:
        return failed(f"the decode of a fresh code was refused: {_what(reply)}", ev)
    try:
        plain = ctx.open(reply, body)
    except (crypto.CipherError, ValueError, UnicodeError) as exc:
        return failed(f"response does not decrypt with the merchant's {ctx.enrolment.aes_profile} key: {exc}", ev)
    ctx.decoded.append((reply, plain))
    ctx._note_shown("b4-decode", "B.4 (the decrypted answer)", plain, reply)
    missing = _missing(plain, ("qrcodeType", "concealName", "concealCard"))
    if missing:
        return failed(f"the decrypted answer lacks {', '.join(missing)}", ev)
    return passed(f"decoded and decrypted ({ctx.enrolment.aes_profile}): fields {', '.join(sorted(plain))}", ev)


WEAK_WHY = {
    crypto.AES_128_CBC: "a zero IV gives equal cipher texts for equal answers, and CBC carries no integrity: nothing "
    "authenticates the answer, a changed cipher text decrypts unseen",
    crypto.AES_128_ECB: "ECB has no IV at all, so equal blocks give equal cipher texts, and nothing authenticates the answer",
}


@CHECKS.check(
    "b4-aes-profile",
    title="the decode answer is encrypted with AES-256-GCM, not a weak legacy profile",
    clause="001 表B.4 response AES加密的传输信息; D-YMT-AES (legacy profiles only for a merchant registered with one, flagged weak)",
    requirements=("YMT-PLATFORM-AES-STRONG",),
    level="SHOULD",
)
def b4_aes_profile(ctx: PlatformContext) -> Any:
    if not ctx.decoded:
        return skipped("no decoded answer to judge (b4-decode)")
    profile = ctx.enrolment.aes_profile
    reply, _ = ctx.decoded[0]
    ev = evidence(reply, f"the answer decrypted with the merchant's {profile} key", ctx.target)
    if profile in crypto.WEAK_PROFILES:
        note = f"the decode answer is encrypted with {profile}, a legacy profile, weak: {WEAK_WHY[profile]}; register AES-256-GCM"
        return CHECKS.get("b4-aes-profile").result("warning", note, ev, decision="D-YMT-AES")
    return passed(f"the decode answer is encrypted with {profile} (authenticated, bound to the request by its AAD)", ev)


@CHECKS.check(
    "b4-registered-fields",
    title="the decoded answer carries only the data fields the merchant registered",
    clause="001 §8.1.1 对使用场景、所需信息进行备案登记,获取二维码使用类型、用户信息; D-YMT-ENROL",
    requirements=("YMT-PLATFORM-DECODE-FIELDS",),
    level="MUST",
)
def b4_registered_fields(ctx: PlatformContext) -> Any:
    if not ctx.decoded:
        return skipped("no decoded answer to judge (b4-decode)")
    if ctx.enrolment.fields is None:
        return skipped("the config does not say which fields the merchant registered (merchant.fields)")
    registered = set(ctx.enrolment.fields)
    reply, plain = ctx.decoded[0]
    extra = sorted(f for f in PERSONAL_DATA_FIELDS if f in plain and f not in registered)
    ev = evidence(reply, f"decrypted fields: {', '.join(sorted(plain))}; registered: {', '.join(sorted(registered))}", ctx.target)
    if extra:
        return failed(f"the answer discloses {', '.join(extra)}, which the merchant did not register", ev)
    return passed(f"the answer holds {', '.join(sorted(plain))}: nothing the merchant did not register", ev)


@CHECKS.check(
    "b4-unknown-code",
    title="a code value the platform never issued is refused",
    clause="001 §8.3.1 识别由一码通平台生成的简码; 表B.4 qrcod 二维码值; D-YMT-QR-VALUE",
    requirements=("YMT-PLATFORM-DECODE",),
    level="MUST",
)
def b4_unknown_code(ctx: PlatformContext) -> Any:
    reply, _ = _decode(ctx, "b4-unknown-code", "YMTQ" + base64.b32encode(secrets.token_bytes(15)).decode(), "refuse")
    return _refusal(ctx, "b4-unknown-code", reply, "PY3001", "a decode of a code value nobody issued")


@CHECKS.check(
    "b4-bad-signature",
    title="a decode whose RSA signature does not verify is refused",
    clause="001 表B.4 sign 是 RSA签名; D-YMT-SIGN",
    requirements=("YMT-PLATFORM-DECODE-SIGN",),
    level="MUST",
)
def b4_bad_signature(ctx: PlatformContext) -> Any:
    code = ctx.fresh_code("b4-bad-signature")
    if code is None:
        return skipped(_need_token(ctx) or "B.1 gave no code to decode")
    body = ctx.decode_body(code)
    raw = bytearray(base64.b64decode(body["sign"]))
    raw[len(raw) // 2] ^= 0x01
    body["sign"] = base64.b64encode(bytes(raw)).decode("ascii")
    reply = ctx.send("b4-bad-signature", "/qrcode/decode", body, "refuse")
    return _refusal(ctx, "b4-bad-signature", reply, "PY2001", "a decode with one bit of its signature flipped")


@CHECKS.check(
    "b4-unknown-merchant",
    title="a decode from a merchant the platform never registered is refused",
    clause="001 §8.1.1 使用申请、备案登记; 表B.4 merchantId 商户id (no registered key to verify sign or encrypt response)",
    requirements=("YMT-PLATFORM-DECODE-SIGN",),
    level="MUST",
)
def b4_unknown_merchant(ctx: PlatformContext) -> Any:
    code = ctx.fresh_code("b4-unknown-merchant")
    if code is None:
        return skipped(_need_token(ctx) or "B.1 gave no code to decode")
    reply, _ = _decode(
        ctx, "b4-unknown-merchant", code, "refuse", merchant_id="M" + "".join(secrets.choice("0123456789") for _ in range(8))
    )
    return _refusal(ctx, "b4-unknown-merchant", reply, "PY2004", "a decode signed by an unregistered merchant")


@CHECKS.check(
    "b4-unknown-device",
    title="a decode from a scanner not enrolled under the merchant is refused",
    clause="001 §8.1.2 硬件设备…规范统一管理; 表B.4 macId 设备编号; D-YMT-ENROL",
    requirements=("YMT-PLATFORM-DECODE-GUARDS",),
    level="SHOULD",
)
def b4_unknown_device(ctx: PlatformContext) -> Any:
    code = ctx.fresh_code("b4-unknown-device")
    if code is None:
        return skipped(_need_token(ctx) or "B.1 gave no code to decode")
    reply, _ = _decode(ctx, "b4-unknown-device", code, "refuse", mac_id="NOT-ENROLLED-" + secrets.token_hex(3).upper())
    return _refusal(ctx, "b4-unknown-device", reply, "PY2005", "a decode from a scanner never enrolled")


@CHECKS.check(
    "b4-stale-time",
    title=f"a correctly signed decode whose time is {STALE_SECONDS} s old is refused",
    clause="001 表B.4 time 时间字符串; D-YMT-TIME-WINDOW (±300 s)",
    requirements=("YMT-PLATFORM-DECODE-GUARDS",),
    level="SHOULD",
)
def b4_stale_time(ctx: PlatformContext) -> Any:
    code = ctx.fresh_code("b4-stale-time")
    if code is None:
        return skipped(_need_token(ctx) or "B.1 gave no code to decode")
    reply, _ = _decode(ctx, "b4-stale-time", code, "refuse", time=ctx.next_time(STALE_SECONDS))
    return _refusal(ctx, "b4-stale-time", reply, "PY2002", f"a decode signed {STALE_SECONDS} s ago")


@CHECKS.check(
    "b4-replay",
    title="the same signed decode request sent twice: the second is refused",
    clause="001 表B.4 time, sign; D-YMT-TIME-WINDOW (replay)",
    requirements=("YMT-PLATFORM-DECODE-GUARDS",),
    level="SHOULD",
)
def b4_replay(ctx: PlatformContext) -> Any:
    code = ctx.fresh_code("b4-replay")
    if code is None:
        return skipped(_need_token(ctx) or "B.1 gave no code to decode")
    first, body = _decode(ctx, "b4-replay", code, "ok")
    if not first.ok:
        return skipped(f"the first copy was not accepted ({_what(first)}), so there was nothing to replay", evidence(first, "", ctx.target))
    again = ctx.send("b4-replay", "/qrcode/decode", body, "refuse")
    return _refusal(ctx, "b4-replay", again, "PY2003", "the same signed request a second time")


@CHECKS.check(
    "b4-expired",
    title="a code past its lifetime is refused",
    clause="001 表B.4 qrcod 二维码值; D-YMT-QR-VALUE (a code lives 60 s)",
    requirements=("YMT-PLATFORM-QR-LIFETIME",),
    level="SHOULD",
)
def b4_expired(ctx: PlatformContext) -> Any:
    if not ctx.enrolment.expired_code:
        return skipped(
            "no expired code to scan: give expiredCode in the config (on the harness: harness ymt code USER --app APP --expired)"
        )
    reply, _ = _decode(ctx, "b4-expired", ctx.enrolment.expired_code, "refuse")
    return _refusal(ctx, "b4-expired", reply, "PY3002", "a decode of an expired code")


@CHECKS.check(
    "code-revoked",
    title="refreshing the code (B.1 again) gives a new value and the previous one is refused",
    clause="001 §7.1.3 亮码; 表B.4 qrcod; D-YMT-QR-VALUE (a new code revokes the previous one)",
    requirements=("YMT-PLATFORM-QR-LIFETIME",),
    level="SHOULD",
)
def code_revoked(ctx: PlatformContext) -> Any:
    old = ctx.fresh_code("code-revoked")
    new = ctx.fresh_code("code-revoked")
    if old is None or new is None:
        return skipped(_need_token(ctx) or "B.1 gave no code to refresh")
    if old == new:
        shown = [s.reply for s in ctx.sent if s.check_id == "code-revoked"][-2:]
        return failed(f"refreshing the code gave the same value {old}", *(evidence(r, f"B.1 showed {old}", ctx.target) for r in shown))
    reply, _ = _decode(ctx, "code-revoked", old, "refuse")
    return _refusal(ctx, "code-revoked", reply, "PY3003", "a decode of the code shown before the refresh")


@CHECKS.check(
    "qr-no-personal-data",
    title="the QR content carries no personal data in clear (no name, no ID number)",
    clause="001 表B.1 qrcodeBase64; §8.3.1 简码; D-YMT-QR-VALUE (an opaque value, meaningful only to B.4)",
    requirements=("YMT-PLATFORM-QR-LIFETIME",),
    level="SHOULD",
)
def qr_no_personal_data(ctx: PlatformContext) -> Any:
    values = [(where, image.value, reply) for _, where, image, reply in ctx.images if image.value]
    if not values:
        return skipped("no QR content was read (qr-png)")
    identity = ctx.full_identity
    bad = []
    for where, value, reply in values:
        if ID_PATTERN.search(value):
            bad.append((f"{where}: holds an 18-character ID number", reply))
        elif identity and (identity[0] in value or identity[1] in value.upper()):
            bad.append((f"{where}: holds the person's name or ID number", reply))
    if bad:
        return failed(f"{len(bad)} of {len(values)} QR contents carry personal data: {bad[0][0]}", *_judged(bad, ctx.target))
    basis = "compared with the person's name and ID number" if identity else "no ID number pattern (the full identity was not known)"
    return passed(f"{len(values)} QR content(s), none with personal data ({basis})")


# --- the emergency code (§3, §7.2.2) --------------------------------------------------------------------------------
def _offered(reply: sim.Reply) -> bool:
    return reply.status != 404 and reply.code != "PY1004"


@CHECKS.check(
    "trust-list",
    title="the trust list of emergency-code issuer keys verifies against the trust anchor (when offered)",
    clause="001 §3 应急码 (可离线使用的二维码); §7.2.2; D-YMT-EMERGENCY",
    requirements=("YMT-PLATFORM-EMERGENCY",),
    level="MUST",
)
def trust_list(ctx: PlatformContext) -> Any:
    reply = ctx.send("trust-list", "/emergency/trust-list", {"merchantId": ctx.enrolment.merchant_id}, None)
    ev = evidence(reply, "", ctx.target)
    if not _offered(reply):
        ctx.trust_problem = "the platform offers no trust list"
        return skipped("the platform offers no /emergency/trust-list (the emergency code is optional, 001 §7.2.2 可)", ev)
    if not ctx.enrolment.trust_anchor:
        ctx.trust_problem = "no trust anchor"
        return skipped("no trust anchor to verify the list with: give trustAnchorFile in the config", ev)
    if not reply.ok or not isinstance(reply.response, dict):
        return failed(f"the trust list was not served: {_what(reply)}", ev)
    try:
        anchor = serialization.load_pem_public_key(ctx.enrolment.trust_anchor.encode("ascii"))
        if not isinstance(anchor, ec.EllipticCurvePublicKey):
            raise ValueError("not an EC key")
    except (ValueError, UnicodeError) as exc:
        return skipped(f"the configured trust anchor is not a P-256 public key PEM ({exc})", ev)
    try:
        ctx.trust = crypto.load_trust_list(reply.response, anchor, dt.datetime.now(dt.UTC))
    except crypto.EmergencyCodeError as exc:
        ctx.trust_problem = str(exc)
        return failed(f"the trust list does not verify: {exc}", ev)
    return passed(f"trust list version {ctx.trust.version} with {len(ctx.trust.keys)} key(s) verifies against the anchor", ev)


@CHECKS.check(
    "emergency-code",
    title="the emergency code (when offered) verifies offline against the trust list",
    clause="001 §3 应急码 (服务器不可用…可离线使用的二维码); §7.2.2 可提供应急码; D-YMT-EMERGENCY",
    requirements=("YMT-PLATFORM-EMERGENCY",),
    level="MUST",
)
def emergency_code(ctx: PlatformContext) -> Any:
    if not ctx.token:
        return skipped(_need_token(ctx) or "")
    reply = ctx.send("emergency-code", "/emergency/code", {"accessToken": ctx.token}, None)
    ev = evidence(reply, "", ctx.target)
    if not _offered(reply):
        return skipped("the platform offers no /emergency/code (optional, 001 §7.2.2 可)", ev)
    text = reply.response.get("emergencyCode") if reply.ok and isinstance(reply.response, dict) else None
    if not isinstance(text, str):
        return failed(f"no emergency code was issued: {_what(reply)}", ev)
    ctx.emergency_text = text
    if ctx.trust is None:
        return skipped(f"no verified trust list to check it with ({ctx.trust_problem or 'trust-list'})", ev)
    try:
        result = crypto.verify_emergency(text, ctx.trust, dt.datetime.now(dt.UTC))
    except crypto.EmergencyCodeError as exc:
        return failed(f"the emergency code does not verify offline: {exc.reason}: {exc}", ev)
    claims = result.claims
    ctx._note_shown("emergency-code", "the emergency code", {"concealName": claims.conceal_name, "concealCard": claims.conceal_card}, reply)
    return passed(f"verified offline: issuer {result.issuer}, valid until {claims.expires_at}", ev)


@CHECKS.check(
    "down-emergency",
    title="while the platform is marked down, B.1 is refused and the emergency code fetched before still verifies",
    clause="001 §7.2.2 系统崩溃…应…告知用户; 在突发状况下可提供应急码; §3 应急码; D-YMT-EMERGENCY (PY9002, D-YMT-CODES)",
    requirements=("YMT-PLATFORM-DOWN",),
    level="SHOULD",
)
def down_emergency(ctx: PlatformContext) -> Any:
    e = ctx.enrolment
    if e.mark_down is None:
        return skipped("no way to mark the target down was given (config down/up; --setup-harness uses the harness's switch)")
    if not ctx.token:
        return skipped(_need_token(ctx) or "")
    check = CHECKS.get("down-emergency")
    try:
        e.mark_down(True)
    except SwitchError as exc:
        return skipped(f"the target could not be marked down: {exc}")
    results = []
    try:
        refused = ctx.send("down-emergency", "/qrcode/generate", _b1(ctx.token), "refuse")
        listed = ctx.send("down-emergency", "/emergency/trust-list", {"merchantId": e.merchant_id}, None)
    finally:
        try:
            e.mark_down(False)
        except SwitchError as exc:  # the checks after this one see a platform still down: say so
            results.append(check.result("error", f"the target could not be marked up again, later checks may see it down: {exc}"))
    if refused.ok:
        results.append(
            check.result(
                "failed", f"B.1 still answered PY0000 while the platform was marked down ({e.how_down})", evidence(refused, "", ctx.target)
            )
        )
    elif refused.code != "PY9002":
        note = f"refused with {refused.code}; the harness's design answers PY9002 (use the emergency code)"
        results.append(check.result("warning", note, evidence(refused, "", ctx.target), decision="D-YMT-CODES"))
    if ctx.emergency_text and ctx.trust is not None:
        try:
            crypto.verify_emergency(ctx.emergency_text, ctx.trust, dt.datetime.now(dt.UTC))
        except crypto.EmergencyCodeError as exc:
            issued = [s.reply for s in ctx.sent if s.check_id == "emergency-code"][:1]
            note = f"the emergency code kept from before does not verify while down: {exc}"
            results.append(check.result("failed", note, *(evidence(r, note, ctx.target) for r in issued)))
    if _offered(listed) and ctx.trust is not None and not listed.ok:
        results.append(
            check.result("failed", f"the trust list is not served while down: {_what(listed)}", evidence(listed, "", ctx.target))
        )
    if not results:
        kept = "the emergency code kept from before verifies offline" if ctx.emergency_text else "no emergency code was offered"
        results.append(check.result("passed", f"B.1 refused with PY9002 while down; {kept}", evidence(refused, "", ctx.target)))
    return results


@CHECKS.check(
    "b5-reuse",
    title="the authorisation code presented a second time is refused, and the token it issued is revoked",
    clause="001 表B.5 code 第三方授权code; D-YMT-AUTH (single use, as RFC 6749 §4.1.2)",
    requirements=("YMT-PLATFORM-AUTH-LIFETIME",),
    level="SHOULD",
)
def b5_reuse(ctx: PlatformContext) -> Any:
    if not ctx.token:
        return skipped(_need_token(ctx) or "")
    e = ctx.enrolment
    reply = ctx.send("b5-reuse", "/oauth/token", {"code": e.auth_code, "appId": e.app_id}, "refuse")
    results = _refusal(ctx, "b5-reuse", reply, "PY2007", "the authorisation code presented again")
    after = ctx.send("b5-reuse", "/user/tags", {"accessToken": ctx.token}, None)
    if after.ok:
        note = "the token the code issued still works after the code was presented twice"
        results.append(CHECKS.get("b5-reuse").result("failed", note, evidence(after, "", ctx.target)))
    return results


# --- what was shown: masks and times ----------------------------------------------------------------------------------
def _masked_name(value: Any, full: str | None) -> str | None:
    if not isinstance(value, str) or "*" not in value:
        return "has no *"
    if full and value == full:
        return "is the full name"
    return None


def _masked_card(value: Any, full: str | None) -> str | None:
    if isinstance(value, str) and (ID_PATTERN.search(value) or (full and value.upper() == full)):
        return "is the full ID number"
    if not isinstance(value, str) or value.count("*") < 8:
        return "hides fewer than 8 characters"
    return None


@CHECKS.check(
    "mask",
    title="concealName and concealCard are masked wherever the platform shows them (B.1, B.3, the decode answer, the emergency code)",
    clause="001 表B.1 concealName 脱敏的用户姓名, concealCard 脱敏的用户身份证号码; 表B.3 concelName/concelCard",
    requirements=("YMT-PLATFORM-MASK",),
    level="MUST",
)
def mask(ctx: PlatformContext) -> Any:
    if not ctx.shown:
        return skipped("nothing showed concealName or concealCard")
    identity = ctx.full_identity
    name, card = identity if identity else (None, None)
    bad = []
    judged = 0
    for _, where, shown, reply in ctx.shown:
        for field_name, judge, full in (("concealName", _masked_name, name), ("concealCard", _masked_card, card)):
            if shown.get(field_name) is None:  # left out: b1-fields, b3-fields or b4-decode says so, not as a mask
                continue
            judged += 1
            why = judge(shown.get(field_name), full)
            if why:
                bad.append((f"{where} {field_name} {why}", reply))
    if bad:
        return failed(f"{len(bad)} unmasked value(s): " + "; ".join(dict.fromkeys(n for n, _ in bad)), *_judged(bad, ctx.target))
    if not judged:
        return skipped("no answer carried concealName or concealCard (the fields checks say which left them out)")
    return passed(f"{len(ctx.shown)} answer(s) show only masked names and ID numbers", *_judged([("", ctx.shown[0][3])], ctx.target))


@CHECKS.check(
    "mask-form",
    title="the masks are as the seed's examples: every character of the name but the last, the card's first and last with 14 * between",
    clause="001 表B.1/B.3 示例 (张三 → *三; 5**************4, 3**************X); D-YMT-MASK",
    requirements=("YMT-PLATFORM-MASK-FORM",),
    level="SHOULD",
)
def mask_form(ctx: PlatformContext) -> Any:
    if not ctx.shown:
        return skipped("nothing showed concealName or concealCard")
    identity = ctx.full_identity
    bad: list[tuple[str, sim.Reply]] = []
    for _, where, shown, reply in ctx.shown:
        n, c = shown.get("concealName"), shown.get("concealCard")
        # Neither the value shown nor the examples' form of it is printed: both carry the person's characters.
        name_form = f"the examples' form: every character but the last as * ({len(identity[0])} characters)" if identity else ""
        card_form = "the examples' form: the first and the last character with 14 * between (16 characters)"
        if identity:
            want_n, want_c = crypto.conceal_name(identity[0]), crypto.conceal_card(identity[1])
            if n is not None and n != want_n:
                bad.append((f"{where} concealName shows {describe_mask(n)}; {name_form}", reply))
            if isinstance(c, str) and c.upper() != want_c.upper():
                bad.append((f"{where} concealCard shows {describe_mask(c)}; {card_form}", reply))
        else:
            if n is not None and not (isinstance(n, str) and re.fullmatch(r"\*+[^*]", n)):
                bad.append((f"{where} concealName shows {describe_mask(n)}, not *…* and the last character", reply))
            if c is not None and not (isinstance(c, str) and re.fullmatch(r"[0-9]\*{14}[0-9Xx]", c)):
                bad.append((f"{where} concealCard shows {describe_mask(c)}; {card_form}", reply))
    if bad:
        return failed(
            f"{len(bad)} mask(s) not in the examples' form: " + "; ".join(dict.fromkeys(n for n, _ in bad)), *_judged(bad, ctx.target)
        )
    return passed(f"{len(ctx.shown)} answer(s) mask exactly as the seed's examples")


@CHECKS.check(
    "server-time",
    title="serverTime is yyyy-MM-dd HH:mm:ss (B.1, B.3, the decode answer)",
    clause="001 表B.1 serverTime 时间; 表B.3 serverTime 字符串; 示例 2021-09-1620:12:00; D-YMT-SERVER-TIME",
    requirements=("YMT-PLATFORM-SERVER-TIME",),
    level="SHOULD",
)
def server_time(ctx: PlatformContext) -> Any:
    times = [(where, shown.get("serverTime"), reply) for _, where, shown, reply in ctx.shown if "serverTime" in shown]
    if not times:
        return skipped("no answer carried a serverTime")
    check = CHECKS.get("server-time")
    example = [(f"{w} {t!r}", r) for w, t, r in times if isinstance(t, str) and SERVER_TIME_EXAMPLE.match(t)]
    bad = [(f"{w} {t!r}", r) for w, t, r in times if not (isinstance(t, str) and (SERVER_TIME.match(t) or SERVER_TIME_EXAMPLE.match(t)))]
    results = []
    if bad:
        results.append(
            check.result(
                "failed",
                f"{len(bad)} serverTime(s) not yyyy-MM-dd HH:mm:ss: {bad[0][0]}",
                *_judged(bad, ctx.target),
                decision="D-YMT-SERVER-TIME",
            )
        )
    if example:
        results.append(
            check.result(
                "warning",
                f"serverTime without the space, as the seed's examples print it: {example[0][0]}",
                *_judged(example, ctx.target),
                decision="D-YMT-SERVER-TIME",
            )
        )
    first = [(f"{w} {t!r}", r) for w, t, r in times[:1]]
    return results or [check.result("passed", f"{len(times)} serverTime(s) as yyyy-MM-dd HH:mm:ss", *_judged(first, ctx.target))]


# --- every reply ------------------------------------------------------------------------------------------------------
@CHECKS.check(
    "envelope",
    title="every reply is the envelope {code, msg, response} of the seed's examples",
    clause=CLAUSE_ENVELOPE,
    requirements=("YMT-PLATFORM-ENVELOPE",),
    level="MUST",
)
def envelope(ctx: PlatformContext) -> Any:
    if not ctx.sent:
        return skipped("no exchange was made")
    check = CHECKS.get("envelope")
    bad, message_only = [], []
    judged = [s for s in ctx.sent if s.expect is not None or _offered(s.reply)]  # an interface not offered may answer a bare 404
    for s in judged:
        doc = s.reply.document
        if not isinstance(doc, dict):
            bad.append(evidence(s, f"{s.check_id}: {_what(s.reply)}", ctx.target))
        elif not isinstance(doc.get("code"), str):
            bad.append(evidence(s, f"{s.check_id}: code is {doc.get('code')!r}, not a string", ctx.target))
        elif "msg" not in doc:
            (message_only if "message" in doc else bad).append(
                evidence(s, f"{s.check_id}: no msg" + (" (message instead)" if "message" in doc else ""), ctx.target)
            )
        elif s.reply.ok and s.expect == "ok" and "response" not in doc:
            bad.append(evidence(s, f"{s.check_id}: a success without response", ctx.target))
    total = len(judged)
    results = []
    if bad:
        results.append(check.result("failed", f"{len(bad)} of {total} replies are not the envelope; first: {bad[0].note}", *bad[:3]))
    if message_only:
        note = f"{len(message_only)} of {total} replies carry message (the tables' name) instead of msg (the examples'); first: {message_only[0].note}"
        results.append(check.result("warning", note, *message_only[:3], decision="D-YMT-MSG"))
    return results or [
        check.result("passed", f"{total} of {total} replies are {{code, msg, response}}", evidence(ctx.sent[0], "", ctx.target))
    ]


@CHECKS.check(
    "success-code",
    title="every request the platform carried out is answered with code PY0000",
    clause='001 附录B 示例 "code":"PY0000" 成功',
    requirements=("YMT-PLATFORM-ENVELOPE",),
    level="MUST",
)
def success_code(ctx: PlatformContext) -> Any:
    carried = [s for s in ctx.sent if s.expect == "ok" and isinstance(s.reply.document, dict) and "response" in s.reply.document]
    if not carried:
        return skipped("no request the role expected to succeed was answered with a response")
    bad = [evidence(s, f"{s.check_id}: {_what(s.reply)}", ctx.target) for s in carried if s.reply.code != OK]
    if bad:
        return failed(
            f"{len(bad)} of {len(carried)} answers carrying a response have another code than PY0000; first: {bad[0].note}", *bad[:3]
        )
    return passed(f"{len(carried)} of {len(carried)} answers carried out say PY0000")


@CHECKS.check(
    "return-codes",
    title="every refusal's code is one of the return codes (PY1xxx–PY9xxx of the harness's table, pending 附录C)",
    clause=CLAUSE_CODES,
    requirements=("YMT-PLATFORM-CODES",),
    level="SHOULD",
)
def return_codes(ctx: PlatformContext) -> Any:
    from harness.specs import load_spec

    table = set(load_spec("ymt/platform.yaml")["x-return-codes"]["codes"]) - {OK}
    refused = [s for s in ctx.sent if s.reply.code is not None and s.reply.code != OK]
    if not refused:
        return skipped("no refusal carried a code")
    bad = [evidence(s, f"{s.check_id}: {s.reply.code!r}", ctx.target) for s in refused if s.reply.code not in table]
    if bad:
        return failed(f"{len(bad)} of {len(refused)} refusal codes are not in the table; first: {bad[0].note}", *bad[:3])
    seen = sorted({s.reply.code for s in refused if s.reply.code})
    return passed(f"{len(refused)} refusal(s), every code in the table (seen: {', '.join(seen)})")


@CHECKS.check(
    "http-status",
    title="every reply is HTTP 200",
    clause="001 §9.1; D-YMT-METHOD; D-HTTP-STATUS",
    requirements=("YMT-PLATFORM-CODES",),
    level="SHOULD",
)
def http_status(ctx: PlatformContext) -> Any:
    if not ctx.sent:
        return skipped("no exchange was made")
    bad = [evidence(s, f"{s.check_id}: HTTP {s.reply.status}", ctx.target) for s in ctx.sent if s.reply.status != 200 and _offered(s.reply)]
    if bad:
        return failed(f"{len(bad)} of {len(ctx.sent)} replies were not HTTP 200; first: {bad[0].note}", *bad[:3])
    return passed(f"{len(ctx.sent)} replies were HTTP 200")


# Every SHOULD check is the harness's design where the seed is silent: its WARNING names the decision it rests on
# (docs/certify.md), whichever of its findings made it (a warning that already names one, e.g. D-YMT-CODES, keeps it).
SHOULD_DECISIONS = {
    "b5-expiry": "D-YMT-AUTH",
    "b5-reuse": "D-YMT-AUTH",
    "b2-colours": "D-YMT-TAG-COLOURS",
    "b4-aes-profile": "D-YMT-AES",
    "b4-unknown-device": "D-YMT-ENROL",
    "b4-stale-time": "D-YMT-TIME-WINDOW",
    "b4-replay": "D-YMT-TIME-WINDOW",
    "b4-expired": "D-YMT-QR-VALUE",
    "code-revoked": "D-YMT-QR-VALUE",
    "qr-no-personal-data": "D-YMT-QR-VALUE",
    "down-emergency": "D-YMT-EMERGENCY",
    "mask-form": "D-YMT-MASK",
    "server-time": "D-YMT-SERVER-TIME",
    "return-codes": "D-YMT-CODES",
    "http-status": "D-HTTP-STATUS",
}


def named(result: CheckResult) -> CheckResult:
    """A WARNING of a SHOULD check names its decision (:data:`SHOULD_DECISIONS`) when its finding did not."""
    if result.status == "warning" and not result.decision and result.check_id in SHOULD_DECISIONS:
        return dataclasses.replace(result, decision=SHOULD_DECISIONS[result.check_id])
    return result


# --- the role -------------------------------------------------------------------------------------------------------
class PlatformRole:
    """``harness certify ymt-platform --target URL (--config FILE | --setup-harness)``."""

    name = "ymt-platform"
    platform = "ymt"
    checks = CHECKS
    summary = "Certify a city's 一码通 platform built to the standard (the harness as channel app and as scanner)."
    description = (
        "Drive a city's 一码通 platform built to seed 001 as a channel app (B.5 authorise, B.1/B.3 codes with their PNG QR, "
        "B.2 tags, the emergency code) and as a scene's scanner (B.4 decode signed with the merchant's RSA key, the answer "
        "decrypted with its AES key; bad signature, unknown merchant or scanner, stale time, replay, unknown, expired and "
        "revoked codes), and grade every answer: the envelope, the fields of each table, the masks, only registered fields, "
        "the trust list and, when the target can be marked down, the emergency code while down. --config FILE (YAML, "
        "docs/ymt.md) gives the enrolment made on the target out of band; --setup-harness makes it on the harness's own "
        "store (--db) when the target is the harness."
    )
    options = (
        RoleOption("target", "The platform's base URL, e.g. https://ymt.example.gov.cn/ymt or http://127.0.0.1:8000/ymt.", required=True),
        RoleOption(
            "config",
            "YAML: the channel app, an unused authorisation code, the merchant, its scanner, the trust anchor … (docs/ymt.md).",
            type=Path,
        ),
        RoleOption(
            "setup_harness", "The target is the harness serving --db: enrol an app, a person, a merchant and a scanner there.", flag=True
        ),
        RoleOption("ca_bundle", "Trust this CA bundle (PEM) for the target's HTTPS.", type=Path),
        RoleOption("timeout", "Seconds per request.", default=10, type=int),
    )

    def __init__(
        self,
        common: CommonOptions | None = None,
        *,
        target: str,
        config: Path | str | None = None,
        setup_harness: bool = False,
        ca_bundle: Path | str | None = None,
        timeout: int = 10,
        db: Path | None = None,
    ) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"--target must be an http:// or https:// URL, not {target!r}")
        if (config is None) == (not setup_harness):
            raise ConfigError("give exactly one of --config FILE (a vendor's platform) or --setup-harness (the harness itself)")
        if ca_bundle is not None and not Path(ca_bundle).is_file():
            raise ConfigError(f"--ca-bundle {ca_bundle}: no such file")
        if not 1 <= int(timeout) <= 300:
            raise ConfigError("--timeout must be between 1 and 300 seconds")
        self.common = common
        self.target = target.rstrip("/")
        self.ca_bundle = ca_bundle
        self.verify: Any = str(ca_bundle) if ca_bundle else True
        self.timeout = float(timeout)
        self.config = Path(config) if config is not None else None
        self.setup_harness = setup_harness
        self.db = db or (common.db if common else None)
        if setup_harness and self.db is None:
            raise ConfigError("--setup-harness needs the harness's store (--db)")
        if self.config is not None:
            self.enrolment = load_config(self.config, self.verify)
        else:
            assert self.db is not None
            seed = common.seed if common else secrets.randbelow(2**31)
            try:
                self.enrolment = enrol_on_harness(
                    Path(self.db), self.target, seed, sim.http_transport(self.target, timeout=self.timeout, verify=self.verify)
                )
            except sim.ChannelError as exc:
                raise ConfigError(f"--setup-harness: {exc}") from None

    def run(self, seed: int) -> Iterator[Event]:
        import httpx

        # The role grades an http:// target without an option (a development run, the reasons in the report), so
        # the validity names no --allow-insecure-http: this role has none.
        validity = target_validity(self.target, ca_bundle=self.ca_bundle)
        with httpx.Client(timeout=self.timeout, verify=self.verify) as client:
            enrolment = self.enrolment
            send = mapped_transport(sim.http_transport(self.target, client=client), enrolment.paths, client)
            ctx = PlatformContext(self.target, send, enrolment)
            options = {
                "target": self.target,
                "config": str(self.config) if self.config else None,
                "setup_harness": self.setup_harness,
                "merchantId": enrolment.merchant_id,
                "macId": enrolment.mac_id,
                "appId": enrolment.app_id,
                "aesProfile": enrolment.aes_profile,
                "paths": dict(enrolment.paths) or None,
                "validity": validity.summary(),
            }
            events = run_checks(self, target=self.target, context=ctx, seed=seed, options=options, spec_files=SPEC_FILES)
            for event in events:
                if isinstance(event, CheckFinished):  # personal data never leaves the role in clear
                    yield dataclasses.replace(event, result=named(ctx.redactor.result(event.result)))
                    continue
                if isinstance(event, RunStarted):
                    yield dataclasses.replace(event, certification_valid=validity.valid)
                    if not validity.valid:
                        yield NonFatalError(validity.summary())
                    continue
                yield event


class PlatformRoleCommand(PlatformRole):
    """The role as ``harness certify ymt-platform`` builds it (harness/conformance/roles.py)."""

    def __init__(
        self,
        common: CommonOptions,
        target: str,
        config: Path | None = None,
        setup_harness: bool = False,
        ca_bundle: Path | None = None,
        timeout: int = 10,
    ) -> None:
        from harness.schema import open_store

        open_store(common.db).close()  # the run is recorded in the store (and --setup-harness enrols there): usable first
        super().__init__(common, target=target, config=config, setup_harness=setup_harness, ca_bundle=ca_bundle, timeout=timeout)
