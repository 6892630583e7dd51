"""YMT operations: the operationIds ``harness.ymt.handlers.<op>`` of specs/ymt/platform.yaml (001 附录B, §3, §7, §8).

Each returns the reply document; the logic is on :class:`harness.ymt.platform.YmtPlatform`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.platform import ExchangeContext, Handlers

if TYPE_CHECKING:
    from harness.ymt.platform import YmtPlatform

HANDLERS = Handlers("ymt")
Body = dict[str, Any]


@HANDLERS.operation
def generate_qrcode(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.show_code(ctx, "generate_qrcode", body)


@HANDLERS.operation
def channel_qrcode(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.show_code(ctx, "channel_qrcode", body)


@HANDLERS.operation
def user_tags(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.user_tags(ctx, body)


@HANDLERS.operation
def decode_qrcode(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.decode(ctx, body)


@HANDLERS.operation
def exchange_authorisation_code(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.exchange_authorisation_code(ctx, body)


@HANDLERS.operation
def realname(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.realname(ctx, body)


@HANDLERS.operation
def consent(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.consent(ctx, body)


@HANDLERS.operation
def register_merchant(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.register_merchant(ctx, body)


@HANDLERS.operation
def register_device(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.register_device(ctx, body)


@HANDLERS.operation
def emergency_code(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.emergency_code(ctx, body)


@HANDLERS.operation
def trust_list(platform: YmtPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.trust_list(ctx, body)
