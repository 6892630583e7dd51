from harness.platform import Handlers

HANDLERS = Handlers("toy")


@HANDLERS.operation
def note(platform, ctx, body):
    platform.enforce(ctx, "note", None, body)
    ctx.exchange.work.write("INSERT INTO toy_notes (text) VALUES (?)", (body["text"],))
    return platform.ok()
