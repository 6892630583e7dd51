"""The YXC province platform: the general reply, the Y11 signing gate, and the filing handlers (Y5–Y10)."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from harness import limits
from harness.errors import PlatformError
from harness.files import IMAGE_FORMATS, sniff
from harness.journal import now_iso
from harness.platform import ErrorKind, ExchangeContext, Platform, exchange_context
from harness.yxc import codes, rules
from harness.yxc.handlers import HANDLERS

# 000 附件二 返回码定义
CODES = {
    ErrorKind.FAILED: 1,
    ErrorKind.INTERNAL: 1,
    ErrorKind.NOT_FOUND: 100,
    ErrorKind.MALFORMED: 200,
    ErrorKind.TIMESTAMP: 201,
    ErrorKind.CERTIFICATE: 202,
}
MESSAGES = {0: "成功", 1: "执行失败", 100: "请求的服务/资源不存在", 200: "数据格式错误", 201: "时间戳重复或错误", 202: "证书无法通过验证"}
MESSAGE_MAX = 128  # 000 附件四 A.5.3 message V128 (D-YXC-MESSAGE-LENGTH)
RECORD_KEYS = {
    "coach": lambda b: b["coachnum"],
    "trainingsimulator": lambda b: f"{b['inscode']}/{b['simulatornum']}",
    "student": lambda b: b["stunum"],
    "learningcertificate": lambda b: f"{b['stunum']}/{b['number']}",
    "classrecord": lambda b: f"{b['stunum']}/{b['recnum']}",
}


# Fields of the 附件四 tables holding a person's name, ID or licence number, phone or address (表A.2 #3 name, #5 idcard,
# #6 mobile, #7 address, drilicence, jtdz; 表A.4 idcard, name, phone, address, drilicnum).
PERSONAL_FIELDS = ("name", "idcard", "mobile", "phone", "address", "jtdz", "drilicence", "drilicnum")


class YxcPlatform(Platform):
    name = "yxc"
    handlers = HANDLERS
    base_path = "/yxc"
    spec_file = "yxc/province.yaml"
    title = "粤学车 province supervision platform"
    not_found_clause = "000 附件二 返回码 100 请求的服务/资源不存在"
    # Personal data of 000 附件四 (表A.2 coach, 表A.4 student: name, ID or licence numbers, phone, addresses) is journaled
    # and kept in yxc_records as keyed hashes; every rule judges it as sent, before the row is written. Calls are signed
    # with certificates and sign-in codes are proofs, kept in clear as evidence.
    secret_fields: frozenset[str] = frozenset(PERSONAL_FIELDS)
    body_clause = "000 附件二 (body 采用 UTF-8 编码)"

    def __init__(self, store: Any, settings: Any) -> None:
        super().__init__(store, settings)
        rules.install(self.rules)

    # -- envelope: 通用应答 ----------------------------------------------------------------------------------------
    def ok(self, data: Any = None) -> dict[str, Any]:
        return {"errorcode": 0, "message": MESSAGES[0], "data": data}

    def error(self, error: PlatformError) -> dict[str, Any]:
        code = int(error.code) if error.code is not None else CODES.get(error.kind, 1)
        message = f"{MESSAGES[code]}: {error.summary}" if error.violations else MESSAGES[code]
        if len(message) > MESSAGE_MAX:
            message = message[: MESSAGE_MAX - 1] + "…"
        data = {"violations": [v.as_dict() for v in error.violations]} if error.violations else None
        return {"errorcode": code, "message": message, "data": data}

    def reply_code(self, reply: Any) -> str | None:
        if isinstance(reply, dict) and isinstance(reply.get("errorcode"), int) and "message" in reply:
            return str(reply["errorcode"])
        return None

    def reply_ok(self, reply: Any) -> bool:
        return isinstance(reply, dict) and reply.get("errorcode") == 0

    def respond(self, data: Any = None) -> Response:
        return Response(self.encode(self.ok(data)), media_type="application/json")

    # -- Y11 signing gate -----------------------------------------------------------------------------------------
    async def authenticate(self, ctx: ExchangeContext) -> None:
        """The signing gate (rules YXC-SIGN-*, in order; the first refusing one answers 202 or 201)."""
        query = {k: v[0] for k, v in parse_qs(ctx.exchange.query, keep_blank_values=True).items()}
        payload = await self._payload(ctx)
        gate = rules.GateContext(self.store, self.name, query, payload, time.time() * 1000, self.settings.ts_window_seconds)
        try:
            self.gate(ctx, ctx.operation or "", gate)
        finally:
            if gate.vendor is not None:
                ctx.vendor = gate.vendor
                ctx.exchange.vendor = gate.vendor.user

    async def _payload(self, ctx: ExchangeContext) -> bytes:
        """The signed payload: the body, or for multipart uploads the raw bytes of field `file`."""
        content_type = ctx.exchange.request_headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return ctx.body
        scope = {
            "type": "http",
            "method": "POST",
            "headers": [(b"content-type", content_type.encode("latin-1"))],
            "path": ctx.exchange.path,
            "query_string": b"",
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": ctx.body, "more_body": False}

        try:
            form = await Request(scope, receive).form()
            item = form.get("file")
            data = await item.read() if hasattr(item, "read") else (item or "").encode("utf-8")
        except Exception:  # unparseable multipart: nothing was signed that we can find
            data = b""
        ctx.payload = data
        return data

    def _rule_context(self, ctx: ExchangeContext, operation: str) -> rules.RuleContext:
        assert ctx.vendor is not None
        return rules.RuleContext(self.store, ctx.vendor, self.settings.strict, self.spec, operation, int(time.time() * 1000))

    async def imageup(self, type: str, file: Any = None) -> Response:  # noqa: A002 - the spec names the path parameter `type`
        ctx = exchange_context()
        data = ctx.payload if ctx.payload is not None else await self._payload(ctx)
        rctx = self._rule_context(ctx, "imageup")
        rctx.payload, rctx.upload_type = data, type
        rctx.facts["format"] = sniff(data)
        if rctx.facts["format"] in IMAGE_FORMATS:  # bytes that start like an image are decoded for real, pixel-bounded
            _, rctx.facts["image_problem"] = limits.decode_image(data)
        self.enforce(ctx, "imageup", rctx, None)
        assert ctx.vendor is not None
        file_id = self.store.execute(
            "INSERT INTO yxc_files (vendor, platnum, type, format, size, sha256, content, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ctx.vendor.user,
                ctx.vendor.platnum,
                type,
                rctx.facts["format"],
                len(data),
                hashlib.sha256(data).hexdigest(),
                data,
                now_iso(),
            ),
        )
        return self.respond({"id": file_id})

    def _at_rest(self, body: dict[str, Any]) -> str:
        """The record as stored: its personal fields as the journal shows them (keyed hashes), nothing else changed."""
        kept = {k: self.masker.secret(str(v)) if k in self.secret_fields and v is not None else v for k, v in body.items()}
        return json.dumps(kept, ensure_ascii=False)

    def file_record(self, operation: str, body: dict[str, Any]) -> Response:
        """备案及修改: store (or replace) the record once every rule of the operation held."""
        ctx = exchange_context()
        rctx = self._rule_context(ctx, operation)
        self.enforce(ctx, operation, rctx, body)
        assert ctx.vendor is not None
        key = RECORD_KEYS[operation](body)
        self.store.execute(
            "INSERT INTO yxc_records (vendor, kind, key, inscode, body, at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (vendor, kind, key) DO UPDATE SET inscode = excluded.inscode, body = excluded.body, at = excluded.at",
            (ctx.vendor.platnum, operation, key, body["inscode"], self._at_rest(body), now_iso()),
        )
        if operation == "classrecord":
            for name in ("logininfo", "logoutinfo"):
                if body.get(name):
                    codes.bind(self.store, str(body[name]), key)
        return self.respond(None)
