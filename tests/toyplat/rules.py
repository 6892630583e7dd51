import hashlib
import hmac

from harness.rules import REPORT_ALL, Fail, RuleSet

SECRET = b"toy-secret"
RULES = RuleSet("toy", policy=REPORT_ALL)


@RULES.rule("TOY-SIGN", kind="certificate", clause="toy §2 X-Toy-Sign", operations=("note",), title="HMAC-SHA256 of the body")
def signed(ctx, body):  # the gate: ctx is the ExchangeContext
    sign = ctx.exchange.request_headers.get("x-toy-sign", "")
    if not hmac.compare_digest(sign, hmac.new(SECRET, ctx.body, hashlib.sha256).hexdigest()):
        yield Fail("X-Toy-Sign is not the HMAC-SHA256 of the body", "headers.X-Toy-Sign")


@RULES.rule("TOY-QUIET", clause="toy §1.1", operations=("note",), title="a note is not shouted")
def quiet(ctx, body):
    if body["text"].isupper():
        yield Fail("text is all capitals", "body.text")
