"""Certify role ``ymt-scene-client --merchant ID``: a scene system (业务应用方) as client of /ymt, graded from the journal.

The harness served the scene's scanners (``harness serve``, /ymt); every exchange is in the journal with its request, its
reply (the decode answer as the plaintext document, its personal fields as keyed hashes) and every rule's verdict. The
role reads the exchanges of one merchant in one certification session (:func:`load_scene`) and grades them itself,
from the evidence rather than from the platform's verdicts alone:

* YMT-CERT-DECODES        the scene recognises the platform's code and decodes it through B.4 (001 §8.3.1);
* YMT-CERT-SIGN           every decode request's sign verifies over the signing string with the registered key,
                          re-verified here from the journaled request (001 表B.4 sign; D-YMT-SIGN);
* YMT-CERT-SIGN-FORM      sign is standard padded base64, not hex or URL-safe base64 (SHOULD; D-YMT-SIGN);
* YMT-CERT-TIME           every request's time is within ±300 s of when the platform received it (D-YMT-TIME-WINDOW);
* YMT-CERT-REPLAY         no signed request was sent twice (D-YMT-TIME-WINDOW);
* YMT-CERT-DECRYPT        every accepted answer was decrypted: the scene's log of decrypted answers (``--answers``)
                          matches the plaintext the platform sealed (001 表B.4 response; D-YMT-AES);
* YMT-CERT-REQUEST-FIELDS the request carries 表B.4's fields only, qrcod spelled as the seed (SHOULD);
* YMT-CERT-EXPIRED        an expired or revoked code is not sent again (SHOULD; D-YMT-CODES, D-YMT-QR-VALUE);
* YMT-CERT-TRUST-LIST     the scanner fetched the emergency trust list ahead of time (SHOULD; D-YMT-EMERGENCY);
* YMT-CERT-EMERGENCY      each emergency code the scanner verified offline (its log) was judged as the trust list
                          judges it: valid accepted, forged or expired refused (SHOULD; D-YMT-EMERGENCY);
* YMT-CERT-AES            the merchant registered AES-256-GCM, not a weak legacy profile (SHOULD; D-YMT-AES);
* YMT-CERT-CALLS          every other failed verdict of the merchant's calls (MUST fails, SHOULD warns);
* YMT-CERT-OUTCOMES       decodes refused because of the person's code or an outage (REVIEW);
* YMT-CERT-REGISTRATION   what the merchant registered, for a person to judge against its need (REVIEW, §8.1.1).

The answers log (``harness ymt scan --answers FILE`` writes it) is JSON lines ``{"merchantId", "macId", "time",
"fields": {…}}``, one per decrypted answer, and ``{"merchantId", "macId", "emergency": "YMT1:…", "valid": bool,
"at": epoch}``, one per emergency code verified offline; personal values are compared by keyed hash and never reported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import faults, masking
from harness.conformance.engine import CannotRun, CheckSet, failed, passed, review, skipped
from harness.conformance.findings import Finding, call_evidence, capped, journal_url, verdict_finding
from harness.conformance.model import Event, Evidence
from harness.conformance.roles import SINCE_OPTION, CommonOptions, RoleOption, grade_journal, open_subject_store
from harness.conformance.sessions import Window
from harness.journal import Journal
from harness.store import Store
from harness.ymt import admin, crypto

SPEC_FILES = ("ymt/platform.yaml", "ymt/requirements.yaml", "decisions.yaml")
DECODE_FIELDS = frozenset({"merchantId", "time", "sign", "qrcod", "macId"})  # 表B.4 输入参数
# Rules graded by a dedicated check (from the evidence itself), or that judge the person's code or an outage rather
# than the scene: YMT-CERT-CALLS leaves them out.
OWN_CHECK_RULES = frozenset({"YMT-SIGN", "YMT-TIME", "YMT-REPLAY", "YMT-AES-STRONG"})
OWN_CHECK_DECISIONS = frozenset({"D-YMT-EXTRA-FIELDS", "D-YMT-QRCOD", "D-YMT-SIGN"})
OUTCOME_RULES = frozenset({"YMT-CODE", "YMT-CODE-EXPIRED", "YMT-CODE-REVOKED", "YMT-SCENE-TYPE", "YMT-UP"})
REFUSED_CODES = ("PY3002", "PY3003")  # expired, revoked: scanning the same code again cannot help
SECRET_FIELDS = frozenset({"accessToken", "aesKeyWrapped", "aesKey", "idCard", "userName", "name", "mobile"})

CHECKS = CheckSet()


@dataclass
class Call:
    id: int
    at: float  # epoch seconds the platform received it (journal)
    operation: str
    body: dict[str, Any]
    reply: dict[str, Any]
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""  # as sent, session prefix included (journal_url)

    @property
    def code(self) -> str:
        return str(self.reply.get("code"))

    @property
    def ok(self) -> bool:
        return self.code == "PY0000"

    @property
    def sent(self) -> bool:
        """Accepted, or refused only for SHOULD verdicts (a form one reading of a decision allows, refused under
        --profile strict): the scene did what B.4 asks; the checks of those forms report them as WARNINGs."""
        if self.ok:
            return True
        failing = [v for v in self.verdicts if not v.get("held")]
        return bool(failing) and all(v.get("level") == "SHOULD" for v in failing)

    @property
    def qrcod(self) -> str:
        return str(self.body.get("qrcod") or self.body.get("qrcode") or "")

    def evidence(self, note: str = "") -> Evidence:
        return call_evidence(
            self.id, self.operation, self.url or f"/ymt/{self.operation}", self.body, self.reply, note, hidden=SECRET_FIELDS
        )


@dataclass
class Scene:
    """The journal of one merchant's calls in a window, with its registration and its scanners' keys."""

    store: Store
    merchant_id: str
    merchant: Any
    devices: dict[str, Any]
    calls: list[Call]
    answers: list[dict[str, Any]] | None  # the scene's log of decrypted answers, when given
    answers_error: str | None = None

    @property
    def decodes(self) -> list[Call]:
        return [c for c in self.calls if c.operation == "decode_qrcode"]

    def key_for(self, call: Call) -> Any:
        device = self.devices.get(str(call.body.get("macId")))
        pem = (device["public_key"] if device is not None else None) or self.merchant["public_key"]
        return admin.cached_rsa_public(pem)


def _answers(path: Path | None) -> tuple[list[dict[str, Any]] | None, str | None]:
    if path is None:
        return None, None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        return None, f"cannot read the answers log {path}: {exc}"
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            return None, f"{path} line {n} is not JSON"
        if isinstance(record, dict):
            out.append(record)
    return out, None


def load_scene(store: Store, merchant_id: str, window: Window | int | None = None, answers: Path | None = None) -> Scene:
    """Read the journal once: every call of the merchant in ``window`` (fuzz traffic never; exchanges a drill fault
    answered in the platform's place neither), oldest first."""
    if not isinstance(window, Window):
        window = Window(after_id=window)
    merchant = store.query_one("SELECT * FROM ymt_merchants WHERE id = ?", (merchant_id,))
    devices = {r["mac_id"]: r for r in store.query("SELECT * FROM ymt_devices WHERE merchant_id = ?", (merchant_id,))}
    calls = []
    for entry in Journal(store).query(platform="ymt", where=window.sql(), limit=None, ascending=True):
        if not faults.answered_by_platform(entry):  # a drill fault answered it, not the platform (docs/faults.md)
            continue
        try:
            body = json.loads(entry["request_body"] or "null")
        except ValueError:
            continue
        reply = entry["reply"] if isinstance(entry["reply"], dict) else {}
        registered = entry["operation"] == "register_merchant" and (reply.get("response") or {}).get("merchantId") == merchant_id
        if not isinstance(body, dict) or (body.get("merchantId") != merchant_id and not registered):
            continue
        at = dt.datetime.fromisoformat(entry["at"]).timestamp()
        calls.append(Call(entry["id"], at, entry["operation"] or "", body, reply, entry["verdicts"], journal_url(entry)))
    found, error = _answers(answers)
    return Scene(store, merchant_id, merchant, devices, calls, found, error)


# --- decoding at all ------------------------------------------------------------------------------------------------------
@CHECKS.check(
    "YMT-CERT-DECODES",
    title="the scene recognises the platform's code and decodes it through B.4",
    clause="001 §8.3.1 各场景应用软件应能识别由一码通平台生成的简码; 附录B B.4",
    requirements=("YMT-SCENE-RECOGNISE", "YMT-SCENE-REGISTER"),
    level="MUST",
)
def decodes(scene: Scene) -> Any:
    if not scene.decodes:
        return failed(f"no decode request of merchant {scene.merchant_id} in the session: the scene never called B.4")
    accepted = [c for c in scene.decodes if c.sent]
    if not accepted:
        codes = Counter(c.code for c in scene.decodes)
        return failed(
            f"none of {len(scene.decodes)} decode request(s) was accepted ({', '.join(f'{k}×{n}' for k, n in codes.most_common())})",
            *(c.evidence() for c in scene.decodes[:3]),
        )
    return passed(
        f"{len(accepted)} of {len(scene.decodes)} decode request(s) accepted (or refused only for a SHOULD form)", accepted[0].evidence()
    )


# --- the signed request ---------------------------------------------------------------------------------------------------
def _signature(scene: Scene, call: Call) -> str:
    """'ok', 'tolerant' (verifies only as hex / URL-safe / unpadded base64) or 'bad', re-verified from the journal."""
    key = scene.key_for(call)
    try:
        crypto.verify_request(call.body, key)
        return "ok"
    except crypto.SignatureError:
        pass
    try:
        crypto.verify_request(call.body, key, tolerant=True)
        return "tolerant"
    except crypto.SignatureError:
        return "bad"


def _key_named(scene: Scene, call: Call) -> str:
    """Which enrolled public key a decode request is verified with (the scanner's own, else its merchant's)."""
    device = scene.devices.get(str(call.body.get("macId")))
    if device is not None and device["public_key"]:
        return f"the public key enrolled for scanner {call.body.get('macId')} (harness ymt device-add --public-key; D-YMT-ENROL)"
    return f"merchant {scene.merchant_id}'s registered public key (the scanner has no key of its own; D-YMT-ENROL)"


@CHECKS.check(
    "YMT-CERT-SIGN",
    title="every decode request is signed SHA256withRSA over the signing string with the registered key",
    clause="001 表B.4 sign 是 RSA签名; D-YMT-SIGN",
    requirements=("YMT-DECODE-SIGN", "YMT-DECODE-FIELDS"),
    level="MUST",
)
def signatures(scene: Scene) -> Any:
    if not scene.decodes:
        return skipped("no decode request to judge")
    bad = [c for c in scene.decodes if _signature(scene, c) == "bad"]
    if bad:
        return capped(
            CHECKS.get("YMT-CERT-SIGN"),
            [
                (
                    "failed",
                    f"{c.body.get('macId') or '(no macId)'}: sign does not verify over {crypto.signing_string(c.body)!r} "
                    f"with {_key_named(scene, c)}",
                    (c.evidence(),),
                    None,
                    None,
                )
                for c in bad
            ],
        )
    return passed(f"{len(scene.decodes)} decode request(s), every sign verifies with the registered key")


@CHECKS.check(
    "YMT-CERT-SIGN-FORM",
    title="sign is standard padded base64",
    clause="001 表B.4 sign; D-YMT-SIGN (tolerant: hex, URL-safe or unpadded base64)",
    requirements=("YMT-DECODE-SIGN-BASE64",),
    level="SHOULD",
)
def signature_form(scene: Scene) -> Any:
    verified = [(c, _signature(scene, c)) for c in scene.decodes]
    verified = [(c, s) for c, s in verified if s != "bad"]
    if not verified:
        return skipped("no decode request with a verifying sign")
    other = [c for c, s in verified if s == "tolerant"]
    if other:
        return capped(
            CHECKS.get("YMT-CERT-SIGN-FORM"),
            [
                (
                    "failed",
                    "sign verifies only as hex, URL-safe or unpadded base64; only the tolerant reading of D-YMT-SIGN accepts it",
                    (c.evidence(),),
                    None,
                    "D-YMT-SIGN",
                )
                for c in other
            ],
        )
    return passed(f"{len(verified)} sign(s) in standard padded base64")


@CHECKS.check(
    "YMT-CERT-TIME",
    title="every decode request's time is yyyyMMddHHmmss Beijing time within ±300 s of when the platform received it",
    clause="001 表B.4 time 时间字符串; D-YMT-TIME, D-YMT-TIME-WINDOW",
    requirements=("YMT-DECODE-TIME",),
    level="MUST",
)
def times(scene: Scene) -> Any:
    if not scene.decodes:
        return skipped("no decode request to judge")
    findings = []
    for c in scene.decodes:
        received = dt.datetime.fromtimestamp(c.at, dt.UTC)
        try:
            crypto.check_time(str(c.body.get("time")), received)
        except crypto.TimeWindowError as exc:
            literal = crypto.literal_pattern_reading(str(c.body.get("time")), received)
            if literal:  # the seed's misprint followed: still no moment the platform can check (D-YMT-TIME), but say so
                findings.append(("failed", f"{c.body.get('macId')}: {literal}", (c.evidence(),), None, "D-YMT-TIME"))
            else:
                findings.append(("failed", f"{c.body.get('macId')}: {exc} when the platform received it", (c.evidence(),), None, None))
    if findings:
        return capped(CHECKS.get("YMT-CERT-TIME"), findings)
    return passed(f"{len(scene.decodes)} decode request(s), every time within ±{crypto.TIME_WINDOW_SECONDS} s of receipt")


@CHECKS.check(
    "YMT-CERT-REPLAY",
    title="no signed decode request is sent twice (a retry is signed afresh with a new time)",
    clause="001 表B.4 time, sign; D-YMT-TIME-WINDOW",
    requirements=("YMT-DECODE-NO-REPLAY",),
    level="MUST",
)
def replays(scene: Scene) -> Any:
    if not scene.decodes:
        return skipped("no decode request to judge")
    seen: dict[tuple[str, str, str, str], Call] = {}
    findings = []
    for c in scene.decodes:
        key = (
            str(c.body.get("merchantId")),
            str(c.body.get("macId")),
            str(c.body.get("time")),
            hashlib.sha256(str(c.body.get("sign")).encode()).hexdigest(),
        )
        first = seen.setdefault(key, c)
        if first is not c:
            note = f"the same signed request as journal #{first.id} (macId {key[1]}, time {key[2]})"
            findings.append(("failed", f"{note}: a retry must be signed afresh with a new time", (c.evidence(),), None, None))
    if findings:
        return capped(CHECKS.get("YMT-CERT-REPLAY"), findings)
    return passed(f"{len(scene.decodes)} decode request(s), each signed request sent once")


@CHECKS.check(
    "YMT-CERT-REQUEST-FIELDS",
    title="a decode request carries the fields of 表B.4 only, the scanned code as qrcod",
    clause="001 表B.4 输入参数; D-YMT-QRCOD, D-YMT-EXTRA-FIELDS",
    requirements=("YMT-DECODE-QRCOD", "YMT-DECODE-FIELDS"),
    level="SHOULD",
)
def request_fields(scene: Scene) -> Any:
    if not scene.decodes:
        return skipped("no decode request to judge")
    findings = []
    for c in scene.decodes:
        if "qrcode" in c.body:
            findings.append(
                (
                    "failed",
                    "the code is sent as qrcode; the seed spells it qrcod (tolerant reading only)",
                    (c.evidence(),),
                    None,
                    "D-YMT-QRCOD",
                )
            )
        extra = sorted(set(c.body) - DECODE_FIELDS - {"qrcode"})
        if extra:
            findings.append(
                (
                    "failed",
                    f"fields 表B.4 does not list: {extra} (ignored only under the tolerant reading)",
                    (c.evidence(),),
                    None,
                    "D-YMT-EXTRA-FIELDS",
                )
            )
    if findings:
        return capped(CHECKS.get("YMT-CERT-REQUEST-FIELDS"), findings)
    return passed(f"{len(scene.decodes)} decode request(s) with exactly 表B.4's fields")


# --- the answer ----------------------------------------------------------------------------------------------------------
def _matches(store: Store, sealed: Any, logged: Any) -> bool:
    if isinstance(sealed, str) and sealed.startswith(masking.SECRET_PREFIX):
        return isinstance(logged, str) and masking.hide(store, logged) == sealed
    return sealed == logged


@CHECKS.check(
    "YMT-CERT-DECRYPT",
    title="every accepted answer was decrypted with the merchant's key and profile (the scene's log matches what was sealed)",
    clause="001 表B.4 response 是 AES加密的传输信息; D-YMT-AES",
    requirements=("YMT-DECODE-DECRYPT",),
    level="MUST",
)
def decrypted(scene: Scene) -> Any:
    accepted = [c for c in scene.decodes if c.ok and isinstance(c.reply.get("response"), dict)]
    if not accepted:
        return skipped("no accepted decode whose answer could be decrypted")
    if scene.answers_error:  # the operator's file, not the vendor's conduct: the run cannot go on (exit 2)
        raise CannotRun(f"{scene.answers_error} (--answers names the scene's log of decrypted answers)")
    if scene.answers is None:
        return failed(
            f"{len(accepted)} answer(s) sealed, and no evidence that any was decrypted: give --answers, the scene's log of "
            "decrypted answers (harness ymt scan --answers writes one)",
            accepted[0].evidence(),
        )
    logged = {(str(a.get("merchantId")), str(a.get("macId")), str(a.get("time"))): a.get("fields") for a in scene.answers}

    def logged_for(call: Call) -> Any:
        found = logged.get((scene.merchant_id, str(call.body.get("macId")), str(call.body.get("time"))))
        return found if isinstance(found, dict) else None

    findings = []
    for c in accepted:
        fields = logged_for(c)
        sealed = c.reply["response"]
        if not isinstance(fields, dict):
            # A reply lost on the way is retried (signed afresh): the retry's decrypted answer stands for it.
            retried = any(
                d.id > c.id and d.qrcod == c.qrcod and d.body.get("macId") == c.body.get("macId") and logged_for(d) is not None
                for d in accepted
            )
            if not retried:
                findings.append(
                    (
                        "failed",
                        f"no decrypted answer logged for scanner {c.body.get('macId')}'s request of time {c.body.get('time')}",
                        (c.evidence(),),
                        None,
                        None,
                    )
                )
            continue
        wrong = sorted(k for k in sealed if not _matches(scene.store, sealed[k], fields.get(k)))
        if wrong:
            findings.append(("failed", f"the logged answer differs from what was sealed in {wrong}", (c.evidence(),), None, None))
    if findings:
        return capped(CHECKS.get("YMT-CERT-DECRYPT"), findings)
    return passed(f"{len(accepted)} answer(s) decrypted: the scene's log matches every sealed field")


@CHECKS.check(
    "YMT-CERT-EXPIRED",
    title="an expired or revoked code is refused to the person, not sent again",
    clause="001 §9.3.2 返回值代码; D-YMT-CODES, D-YMT-QR-VALUE (PY3002 expired, PY3003 revoked)",
    requirements=("YMT-SCENE-CODES",),
    level="SHOULD",
)
def expired_handled(scene: Scene) -> Any:
    refused = [c for c in scene.decodes if c.code in REFUSED_CODES]
    if not refused:
        return skipped("the session scanned no expired or revoked code (harness ymt code --expired makes one)")
    findings = []
    told: set[tuple[str, Any]] = set()  # (code, scanner) already reported: one finding per code refused, counting its resends
    for c in refused:
        if (c.qrcod, c.body.get("macId")) in told:
            continue
        told.add((c.qrcod, c.body.get("macId")))
        again = [d for d in scene.decodes if d.id > c.id and d.qrcod == c.qrcod and d.body.get("macId") == c.body.get("macId")]
        if again:
            what = "expired" if c.code == "PY3002" else "revoked"
            findings.append(
                (
                    "failed",
                    f"the {what} code was sent again {len(again)} time(s) after {c.code}",
                    (again[0].evidence(),),
                    None,
                    "D-YMT-CODES",
                )
            )
    if findings:
        return capped(CHECKS.get("YMT-CERT-EXPIRED"), findings)
    return passed(f"{len(refused)} expired or revoked code(s), none sent again")


# --- the emergency code, the profile --------------------------------------------------------------------------------------
@CHECKS.check(
    "YMT-CERT-TRUST-LIST",
    title="the scanner fetches the emergency trust list ahead of time",
    clause="001 §3 应急码 (可离线使用); §7.2.2; D-YMT-EMERGENCY",
    requirements=("YMT-EMERGENCY-TRUST-LIST", "YMT-EMERGENCY-VERIFY"),
    level="SHOULD",
)
def trust_list_fetched(scene: Scene) -> Any:
    fetched = [c for c in scene.calls if c.operation == "trust_list" and c.ok]
    if not fetched:
        made = Counter(c.operation for c in scene.calls)
        seen = ", ".join(f"{op}×{n}" for op, n in made.most_common()) or "none"
        return CHECKS.get("YMT-CERT-TRUST-LIST").result(
            "warning",
            "the scene never fetched the trust list: it cannot verify an emergency code offline when the platform is down",
            Evidence(note=f"the merchant's calls in the session: {seen}; none was an accepted POST /ymt/emergency/trust-list"),
            *(c.evidence() for c in scene.calls[:1]),
            decision="D-YMT-EMERGENCY",
        )
    return passed(f"trust list fetched {len(fetched)} time(s)", fetched[-1].evidence())


@CHECKS.check(
    "YMT-CERT-EMERGENCY",
    title="the scanner's offline verdict on each emergency code it verified agrees with the platform's trust list",
    clause="001 §3 应急码 (服务器不可用…可离线使用); §7.2.2; D-YMT-EMERGENCY",
    requirements=("YMT-EMERGENCY-VERIFY", "YMT-EMERGENCY-REFUSE"),
    level="SHOULD",
)
def emergency_verified(scene: Scene) -> Any:
    logged = [a for a in scene.answers or () if isinstance(a.get("emergency"), str) and str(a.get("merchantId")) == scene.merchant_id]
    if not logged:
        return skipped("the scene logged no offline verification of an emergency code (harness ymt scan --answers logs them)")
    keys = admin.platform_keys(scene.store)
    findings = []
    for record in logged:
        at = record.get("at")
        moment = dt.datetime.fromtimestamp(at, dt.UTC) if isinstance(at, int | float) else dt.datetime.now(dt.UTC)
        trust = crypto.load_trust_list(admin.trust_list(scene.store, moment.timestamp()), keys.anchor.public_key(), moment)
        try:
            crypto.verify_emergency(record["emergency"], trust, moment)
            valid, reason = True, ""
        except crypto.EmergencyCodeError as exc:
            valid, reason = False, exc.reason
        if bool(record.get("valid")) != valid:
            said = "accepted" if record.get("valid") else "refused"
            truth = "is valid" if valid else f"does not verify ({reason})"
            note = Evidence(
                note=f"scanner {record.get('macId')}: an emergency code verified offline at {moment.isoformat(timespec='seconds')}"
            )
            findings.append(("failed", f"the scanner {said} an emergency code that {truth}", (note,), None, "D-YMT-EMERGENCY"))
    if findings:
        return capped(CHECKS.get("YMT-CERT-EMERGENCY"), findings)
    refused = sum(1 for r in logged if not r.get("valid"))
    return passed(f"{len(logged)} emergency code(s) verified offline ({refused} refused), every verdict agrees with the trust list")


@CHECKS.check(
    "YMT-CERT-AES",
    title="the merchant's reply profile is AES-256-GCM, not a weak legacy profile",
    clause="001 表B.4 response AES加密; D-YMT-AES",
    requirements=("YMT-SCENE-AES-STRONG",),
    level="SHOULD",
)
def aes_profile(scene: Scene) -> Any:
    profile = scene.merchant["aes_profile"]
    if profile in crypto.WEAK_PROFILES:
        registered = [c for c in scene.calls if c.operation == "register_merchant"][:1]
        return CHECKS.get("YMT-CERT-AES").result(
            "warning",
            f"merchant {scene.merchant_id} registered {profile}: equal answers give equal cipher texts and nothing authenticates them",
            *(c.evidence() for c in registered or scene.decodes[:1]),
            decision="D-YMT-AES",
        )
    return passed(f"merchant {scene.merchant_id} registered {profile}")


# --- everything else ----------------------------------------------------------------------------------------------------
@CHECKS.check(
    "YMT-CERT-CALLS",
    title="every other rule holds on every call of the merchant (refused calls included)",
    clause="001 附录B 输入参数 (是否必填 是); §9.3.2 返回值代码; D-YMT-CODES",
    requirements=("YMT-SCENE-DEVICE", "YMT-DECODE-FIELDS", "YMT-SCENE-REGISTER"),
    level="MUST",
)
def calls_hold(scene: Scene) -> Any:
    if not scene.calls:
        return skipped(f"no call of merchant {scene.merchant_id} in the session")
    findings: list[Finding] = []
    for c in scene.calls:
        failing = [v for v in c.verdicts if not v.get("held")]
        graded = False
        for v in failing:
            if v["rule"] in OWN_CHECK_RULES or v["rule"] in OUTCOME_RULES or v.get("decision") in OWN_CHECK_DECISIONS:
                graded = True
                continue
            graded = True
            findings.append(verdict_finding(v, f"{c.operation} ({c.code})", c.evidence()))
        if not graded and not c.ok:
            findings.append(("failed", f"{c.operation} refused with {c.code} but no rule verdict failed", (c.evidence(),), None, None))
    if not findings:
        return passed(f"{len(scene.calls)} call(s), every other rule held")
    return capped(CHECKS.get("YMT-CERT-CALLS"), findings)


@CHECKS.check(
    "YMT-CERT-OUTCOMES",
    title="decodes refused because of the person's code or an outage (a person judges whether the scene told them)",
    clause="001 §9.3.2; §7.2.2; D-YMT-CODES",
    requirements=("YMT-SCENE-CODES",),
    level="REVIEW",
)
def outcomes(scene: Scene) -> Any:
    refused = [c for c in scene.decodes if not c.ok and any(not v.get("held") and v["rule"] in OUTCOME_RULES for v in c.verdicts)]
    if not refused:
        return skipped("no decode was refused for the person's code or an outage")
    codes = Counter(c.code for c in refused)
    return review(
        f"{len(refused)} decode(s) refused ({', '.join(f'{k}×{n}' for k, n in codes.most_common())}): did the scene tell the person what each means?",
        *(c.evidence() for c in refused[:3]),
    )


@CHECKS.check(
    "YMT-CERT-REGISTRATION",
    title="what the merchant registered (a person judges whether the scene needs each field)",
    clause="001 §8.1.1 对使用场景、所需信息进行备案登记",
    requirements=("YMT-SCENE-MINIMAL-FIELDS",),
    level="REVIEW",
)
def registration(scene: Scene) -> Any:
    m = scene.merchant
    fields = json.loads(m["fields"])
    return review(
        f"{m['scene_name']} ({m['scene_type']}): fields {fields}, code types {json.loads(m['qrcode_types'])}, "
        f"service types {json.loads(m['service_types'])}, {len(scene.devices)} scanner(s): does the scene need each field?",
        Evidence(note=f"merchant {scene.merchant_id} as registered (ymt_merchants)"),
    )


class YmtSceneClientRole:
    """``harness certify ymt-scene-client --merchant ID``: the checks, as conformance-engine events."""

    name = "ymt-scene-client"
    platform = "ymt"
    description = "A scene system's scanners, graded from the journal of one merchant's calls to /ymt"
    checks = CHECKS

    def __init__(
        self, store: Store, merchant_id: str, *, answers: Path | None = None, after_id: int | None = None, window: Window | None = None
    ) -> None:
        self.store = store
        self.merchant_id = merchant_id
        self.answers = answers
        self.window = window or Window(after_id=after_id)

    def run(self, seed: int) -> Iterator[Event]:
        scene = load_scene(self.store, self.merchant_id, self.window, self.answers)
        options = {"merchant": self.merchant_id, "answers": str(self.answers) if self.answers else None}
        yield from grade_journal(
            self, target=f"journal: merchant {self.merchant_id}", context=scene, seed=seed, options=options, spec_files=SPEC_FILES
        )


class SceneClientRoleCommand(YmtSceneClientRole):
    """The role as ``harness certify ymt-scene-client`` builds it (harness/conformance/roles.py)."""

    summary = "Grade a scene system (vendor as client of /ymt B.4) from the journal of its merchant's calls."
    description = (
        "Grade what a merchant's scanners sent to `harness serve` under /ymt: the code decoded through B.4 (001 §8.3.1), "
        "every sign re-verified with the registered key (D-YMT-SIGN), time within ±300 s of receipt and no signed request "
        "sent twice (D-YMT-TIME-WINDOW), every accepted answer decrypted (--answers: the scene's log, D-YMT-AES), expired "
        "codes not sent again, the trust list fetched, and every other failed verdict of its calls."
    )
    options = (
        RoleOption("merchant", "The merchantId (printed by harness ymt merchant-add or POST /merchant/register).", required=True),
        RoleOption("answers", "The scene's log of decrypted answers, JSON lines (harness ymt scan --answers writes one).", type=Path),
        SINCE_OPTION,
    )

    def __init__(
        self, common: CommonOptions, merchant: str, answers: Path | None = None, since: int | None = None, window: Window | None = None
    ) -> None:
        missing = f"no YMT merchant {merchant!r} in {common.db} (harness ymt merchant-add)"
        store = open_subject_store(common, "SELECT id FROM ymt_merchants WHERE id = ?", (merchant,), missing)
        super().__init__(store, merchant, answers=answers, after_id=since, window=window)


__all__ = ["CHECKS", "SceneClientRoleCommand", "YmtSceneClientRole", "load_scene"]
