"""The YMT 一码通 reference platform: the ``{code, msg, response}`` envelope, the rules, and the B.1–B.5 and flow handlers.

State changes of an accepted exchange are recorded on its unit of work (they commit with the journal row, and a refused
exchange changes nothing). A signed decode request seen (YMT-REPLAY) is a *claim* on that unit: the table's PRIMARY KEY
decides at commit between two racing copies, and the loser is answered PY2003 (harness.unit_of_work). What must hold
even when the exchange is refused is written at once by its rule: an authorisation code claimed or, presented twice,
the token it issued revoked (YMT-AUTH-CODE).

The decode answer (B.4) is encrypted with the merchant's AES profile (D-YMT-AES) by the handler, which leaves the
plaintext document in the exchange's extras: :meth:`YmtPlatform.journal_form` journals that (its personal fields masked
as secrets) and the exchange layer keeps the SHA-256 of the sealed bytes sent beside it. The reply validated against
the spec is the sealed one, on both request paths; every interface is served on the fast path.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from typing import Any

import orjson
import qrcode

from harness.errors import PlatformError
from harness.platform import ErrorKind, ExchangeContext, Platform, current_exchange
from harness.ymt import admin, crypto, rules
from harness.ymt.handlers import HANDLERS
from harness.ymt.rules import YmtContext

OK = "PY0000"
KIND_CODES = {
    ErrorKind.NOT_FOUND: "PY1004",
    ErrorKind.CERTIFICATE: "PY2001",
    ErrorKind.TIMESTAMP: "PY2002",
    ErrorKind.FAILED: "PY1003",
    ErrorKind.INTERNAL: "PY9999",
}
AUTH_CODE_FIELD = re.compile(rb'"code"(\s*:\s*)"((?:[^"\\]|\\.)*)"')  # the B.5 request's code (a JSON string)
PLAINTEXT = "ymt_plaintext"  # ExchangeContext.extras key: the decode answer before it was sealed, masked (journal_form)


def qr_png_base64(text: str) -> str:
    """base64 of a PNG image of the QR code holding ``text`` (表B.1 qrcodeBase64; the examples begin iVBORw, a PNG)."""
    out = io.BytesIO()
    qrcode.make(text, box_size=4, border=2).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


class YmtPlatform(Platform):
    name = "ymt"
    base_path = "/ymt"
    spec_file = "ymt/platform.yaml"
    title = "一码通 city identity-code platform"
    not_found_clause = "001 §9.1; D-YMT-METHOD (no such interface: PY1004, D-YMT-CODES)"
    body_clause = "001 §9.1; D-YMT-METHOD (a UTF-8 JSON body: PY1001)"
    # Tokens, wrapped keys and a person's full name, ID number and mobile: keyed hashes in the journal and reports.
    secret_fields = frozenset({"accessToken", "aesKeyWrapped", "idCard", "userName", "userNmae", "name", "mobile"})
    handlers = HANDLERS

    def __init__(self, store: Any, settings: Any) -> None:
        super().__init__(store, settings)
        rules.install(self.rules)
        self.codes: dict[str, dict[str, Any]] = self.spec["x-return-codes"]["codes"]
        self.tolerant = settings.profile == "tolerant"
        self.enrolment = admin.Enrolment(store, cached=True)  # merchants, scanners, up/down: read on every decode

    # -- envelope {code, msg, response} (D-YMT-ENVELOPE, D-YMT-MSG) ---------------------------------------------------------
    def _envelope(self, code: str, msg: str) -> dict[str, Any]:
        head: dict[str, Any] = {"code": code, "msg": msg}
        if self.tolerant:
            head["message"] = msg  # the tables' name (D-YMT-MSG)
        return head

    def ok(self, data: Any = None) -> dict[str, Any]:
        reply = self._envelope(OK, "")
        if data is not None:
            reply["response"] = data
        return reply

    @staticmethod
    def _malformed_code(error: PlatformError) -> str:
        text = " ".join(v.message for v in error.violations)
        if "malformed JSON" in text or "not valid utf" in text.lower():
            return "PY1001"
        # a field the table requires is missing; a form only the strict reading of a decision refuses (qrcode for
        # qrcod, an unknown field) is an invalid field (PY1003, D-YMT-QRCOD), whatever keyword refused it
        musts = " ".join(v.message for v in error.violations if v.level == "MUST")
        if "(required)" in musts or "request body is required" in musts:
            return "PY1002"
        return "PY1003"

    def error(self, error: PlatformError) -> dict[str, Any]:
        if error.code is not None:
            code = str(error.code)
        elif error.kind == ErrorKind.MALFORMED:
            code = self._malformed_code(error)
        else:
            code = KIND_CODES.get(error.kind, "PY9999")
        entry = self.codes.get(code, self.codes["PY9999"])
        reply = self._envelope(code, f"{entry['msg']}: {error.summary}"[:256] if error.violations else entry["msg"])
        if error.violations:
            reply["violations"] = [v.as_dict() for v in error.violations]
        return reply

    def reply_code(self, reply: Any) -> str | None:
        if isinstance(reply, dict) and isinstance(reply.get("code"), str) and "msg" in reply:
            return reply["code"]
        return None

    def reply_ok(self, reply: Any) -> bool:
        return isinstance(reply, dict) and reply.get("code") == OK

    @staticmethod
    def encode(document: Any) -> bytes:
        return orjson.dumps(document)

    # -- the encrypted decode answer (D-YMT-AES) ----------------------------------------------------------------------------
    def fast_operations(self) -> dict[str, str]:
        """Every interface on the fast path (harness/server/fastpath.py): ``/ymt/<path>`` → operation name."""
        return {self.base_path + path: item["post"]["operationId"].rsplit(".", 1)[-1] for path, item in self.spec["paths"].items()}

    def journal_form(self, operation: str, reply: Any) -> tuple[Any, list[tuple[str, tuple[Any, ...]]]]:
        """A delivered decode answer is journaled as the plaintext document it sealed (its personal fields masked as
        secrets; the journal row keeps the SHA-256 of the sealed bytes sent); an authorisation code (x-secret, in a
        field named like the envelope's own ``code``, which the masker cannot tell apart) as its keyed hash; every other
        reply as it is."""
        ctx = current_exchange.get()
        plain = ctx.extras.get(PLAINTEXT) if ctx is not None else None
        if operation == "decode_qrcode" and plain is not None and self.reply_ok(reply):
            # Masked by the handler, where the fields are known (once per person, admin.OpenPerson), rather than by a
            # scan of the serialised reply (harness.masking).
            ctx.exchange.reply_secret_free = True  # type: ignore[union-attr]
            return plain, []
        if operation == "consent" and self.reply_ok(reply) and isinstance(reply.get("response", {}).get("code"), str):
            return {**reply, "response": {**reply["response"], "code": self.masker.secret(reply["response"]["code"])}}, []
        return reply, []

    def request_extras(self, ctx: ExchangeContext, document: Any) -> None:
        """The B.5 request's authorisation code is journaled as its keyed hash (x-secret), whatever the answer."""
        if ctx.operation != "exchange_authorisation_code":
            return
        exchange = ctx.exchange
        sent = exchange.request_body
        masked = AUTH_CODE_FIELD.sub(
            lambda m: b'"code"%s"%s"' % (m.group(1), self.masker.secret(m.group(2).decode("utf-8", "replace")).encode()), sent
        )
        if masked != sent:
            exchange.request_sha256 = exchange.request_sha256 or hashlib.sha256(sent).hexdigest()  # what was received
            exchange.request_body = masked

    # -- rules -----------------------------------------------------------------------------------------------------------
    def _context(self, operation: str) -> YmtContext:
        down = operation in rules.UP_OPS and self.enrolment.down()
        return YmtContext(self.store, operation, admin.now(), down, enrolment=self.enrolment)

    def _judge(self, ctx: ExchangeContext, operation: str, body: dict[str, Any]) -> YmtContext:
        rctx = self._context(operation)
        self.enforce(ctx, operation, rctx, body)
        return rctx

    def _write(self, ctx: ExchangeContext, statements: list[tuple[str, tuple[Any, ...]]], *, cached: bool = False) -> None:
        """``cached``: tables no cache holds (codes): committing them leaves every cache of the store as it is."""
        work = ctx.exchange.work
        for sql, params in statements:
            work.write(sql, params, cached=cached)

    # -- B.1 / B.3: show the code (001 §7.1.3) ------------------------------------------------------------------------------
    def show_code(self, ctx: ExchangeContext, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._judge(ctx, operation, body)
        token, user = rctx.token, rctx.user
        qrcode_type = admin.QRCODE_TYPES[operation]
        value = admin.new_code_value(admin.platform_keys(self.store).code_key)
        statements = admin.code_statements(user["id"], token["app_id"], qrcode_type, json.loads(token["scope"]), value, rctx.now)
        self._write(ctx, statements, cached=True)
        name, card = crypto.conceal_name(user["name"]), crypto.conceal_card(user["id_card"])
        reply: dict[str, Any] = {
            "qrcodeType": qrcode_type,
            "qrcodeBase64": qr_png_base64(value),
            "serverTime": admin.server_time(rctx.now),
            "concealName": name,
            "concealCard": card,
        }
        if operation == "channel_qrcode":
            reply.update(idCard=user["id_card"], userName=user["name"])
            if self.tolerant:  # the table's spellings as well (D-YMT-CONCEAL, D-YMT-USERNAME)
                reply.update(concelName=name, concelCard=card, userNmae=user["name"])
        return self.ok(reply)

    def _tags(self, user: Any, scope: list[str]) -> list[dict[str, Any]]:
        if "tags" not in scope:
            return []  # only what the person consented to (001 §7.1.3 b)
        tags = admin.tags_for(user)
        if self.tolerant:  # the table's spelling as well (D-YMT-ICON)
            tags = [{**t, "Icon": t["icon"]} for t in tags]
        return tags

    def user_tags(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._judge(ctx, "user_tags", body)
        return self.ok(self._tags(rctx.user, json.loads(rctx.token["scope"])))

    # -- B.4: decode (the scene's scanner) ------------------------------------------------------------------------------------
    def decode(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._judge(ctx, "decode_qrcode", body)
        merchant, code = rctx.merchant, rctx.code  # the code row carries its person's columns (rules.CODE_SQL)
        person = self.enrolment.person(code, self.masker)  # opened once while the store reports no change
        shared = merchant.fields.intersection(orjson.loads(code["scope"]))  # registered and consented (D-YMT-ENROL)
        plaintext: dict[str, Any] = {
            "qrcodeType": code["qrcode_type"],
            "concealName": person.conceal_name,
            "concealCard": person.conceal_card,
            "serverTime": admin.server_time(rctx.now),
        }
        journaled = dict(plaintext)  # the same answer with the personal fields as the journal keeps them (keyed hashes)
        if "userName" in shared:
            plaintext["userName"], journaled["userName"] = person.name, person.masked["userName"]
        if "idCard" in shared:
            plaintext["idCard"], journaled["idCard"] = person.id_card, person.masked["idCard"]
        if "tags" in shared:
            plaintext["tags"] = journaled["tags"] = person.tags
        profile = merchant["aes_profile"]
        aad = crypto.reply_aad(str(body["merchantId"]), str(body["macId"]), str(body["time"])) if profile == crypto.AES_256_GCM else b""
        ctx.extras[PLAINTEXT] = self.ok(journaled)
        return self.ok(crypto.encrypt_reply(profile, merchant.reply_key, orjson.dumps(plaintext), aad=aad))

    # -- B.5 and the flows (D-YMT-FLOW, D-YMT-AUTH) --------------------------------------------------------------------------
    def exchange_authorisation_code(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._judge(ctx, "exchange_authorisation_code", body)
        expires = rctx.now + admin.TOKEN_TTL
        return self.ok(
            {
                "accessToken": rctx.facts["token"],
                "expiresIn": admin.TOKEN_TTL,
                "expiresAt": admin.server_time(expires),
                "scope": rctx.facts["scope"],
            }
        )

    def realname(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._judge(ctx, "realname", body)
        id_card = str(body["idCard"]).upper()
        if rctx.user is not None:
            user_id = rctx.user["id"]  # the same person checked again: the same userId
        else:
            user_id = admin.user_id_for(self.store, id_card)
            self._write(ctx, admin.user_statements(self.store, user_id, body["name"], id_card, body.get("mobile"), False, None))
        return self.ok({"userId": user_id, "concealName": crypto.conceal_name(body["name"]), "concealCard": crypto.conceal_card(id_card)})

    def consent(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._judge(ctx, "consent", body)
        code = admin.new_secret()
        scope = sorted(set(body["scope"]))
        statements = admin.consent_statements(body["userId"], body["appId"], scope)
        statements.append(
            (
                "INSERT INTO ymt_auth_codes (code_hash, user_id, app_id, scope, expires) VALUES (?, ?, ?, ?, ?)",
                (self.masker.secret(code), body["userId"], body["appId"], json.dumps(scope), rctx.now + admin.AUTH_CODE_TTL),
            )
        )
        self._write(ctx, statements)
        return self.ok({"code": code, "expiresIn": admin.AUTH_CODE_TTL})

    # -- enrolment (D-YMT-ENROL) ---------------------------------------------------------------------------------------------
    def register_merchant(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        self._judge(ctx, "register_merchant", body)
        profile = body.get("aesProfile", crypto.AES_256_GCM)
        key = crypto.new_reply_key(profile)
        merchant_id = admin.new_merchant_id(self.store)
        self._write(
            ctx,
            admin.merchant_statements(
                merchant_id,
                scene_name=body["sceneName"],
                scene_type=body["sceneType"],
                service_types=body["serviceTypes"],
                qrcode_types=body["qrcodeTypes"],
                fields=body.get("fields", []),
                public_key=body["publicKey"],
                aes_profile=profile,
                aes_key=key,
                store=self.store,
            ),
        )
        wrapped = crypto.wrap_key(admin.load_rsa_public(body["publicKey"]), key)
        return self.ok(
            {
                "merchantId": merchant_id,
                "aesProfile": profile,
                "aesKeyWrapped": wrapped,
                "weak": profile in crypto.WEAK_PROFILES,
                "trustAnchor": admin.platform_keys(self.store).anchor_pem,
            }
        )

    def register_device(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        self._judge(ctx, "register_device", body)
        self._write(ctx, admin.device_statements(body["merchantId"], body["macId"], body.get("publicKey") or None))
        return self.ok({"merchantId": body["merchantId"], "macId": body["macId"]})

    # -- the emergency code (D-YMT-EMERGENCY) --------------------------------------------------------------------------------
    def emergency_code(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._judge(ctx, "emergency_code", body)
        keys = admin.platform_keys(self.store)
        user, scope = rctx.user, json.loads(rctx.token["scope"])
        tags = [t["no"] for t in admin.tags_for(user)] if "tags" in scope else []
        claims = crypto.emergency_claims(admin.ISSUER, user["name"], user["id_card"], tags, rctx.moment)
        text = crypto.make_emergency(claims, keys.issuer, keys.certificate)
        return self.ok({"emergencyCode": text, "expiresAt": admin.server_time(claims.expires_at)})

    def trust_list(self, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        rctx = self._judge(ctx, "trust_list", body)
        return self.ok(admin.trust_list(self.store, rctx.now))
