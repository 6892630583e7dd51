"""DUDU operations: the operationIds ``harness.dudu.handlers.<op>`` of specs/dudu/platform.yaml (003 §3–§5).

Each returns the reply document; the logic is on :class:`harness.dudu.platform.DuduPlatform`. Both request paths
(Connexion and the fast path) dispatch through :data:`HANDLERS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.platform import ExchangeContext, Handlers

if TYPE_CHECKING:
    from harness.dudu.platform import DuduPlatform

HANDLERS = Handlers("dudu")
Body = dict[str, Any]


@HANDLERS.operation
def get_token(platform: DuduPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.get_token(ctx, body)


@HANDLERS.operation
def location_report(platform: DuduPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.location_report(ctx, body)


@HANDLERS.operation
def get_card_list(platform: DuduPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.get_card_list(ctx, body)


@HANDLERS.operation
def card_check(platform: DuduPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.card_check(ctx, body)


@HANDLERS.operation
def card_check_log(platform: DuduPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.card_check_log(ctx, body)


@HANDLERS.operation
def get_line_card_list(platform: DuduPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.get_line_card_list(ctx, body)


@HANDLERS.operation
def get_qrcode_keys(platform: DuduPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.get_qrcode_keys(ctx, body)


@HANDLERS.operation
def ticket_check(platform: DuduPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.ticket_check(ctx, body)


@HANDLERS.operation
def offline_qrcode_log(platform: DuduPlatform, ctx: ExchangeContext, body: Body) -> Body:
    return platform.offline_qrcode_log(ctx, body)
