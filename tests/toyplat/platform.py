from pathlib import Path

from harness.errors import PlatformError
from harness.platform import ErrorKind, Platform
from tests.toyplat import rules
from tests.toyplat.handlers import HANDLERS

CODES = {ErrorKind.FAILED: 1, ErrorKind.MALFORMED: 2, ErrorKind.NOT_FOUND: 3, ErrorKind.CERTIFICATE: 4, ErrorKind.INTERNAL: 9}


class ToyPlatform(Platform):
    name, base_path, title = "toy", "/toy", "Toy platform"
    spec_file = str(Path(__file__).with_name("toy.yaml"))
    handlers = HANDLERS

    def __init__(self, store, settings):
        super().__init__(store, settings)
        self.rules.extend(rules.RULES)

    def ok(self, data=None):
        return {"code": 0, "msg": "ok", **(data or {})}

    def error(self, error: PlatformError):
        code = error.code if error.code is not None else CODES.get(error.kind, 9)
        return {"code": code, "msg": error.summary, "violations": [v.as_dict() for v in error.violations]}

    def reply_code(self, reply):
        return str(reply["code"]) if isinstance(reply, dict) and isinstance(reply.get("code"), int) else None

    def reply_ok(self, reply):
        return isinstance(reply, dict) and reply.get("code") == 0

    async def authenticate(self, ctx):
        self.gate(ctx, ctx.operation, ctx)

    def fast_operations(self):
        return {"/toy/note": "note"}
