"""The DYM operations (operationIds ``harness.dym.handlers.<name>`` of specs/dym/platform.yaml): each hands its body to
the platform, which enforces the rules and records its state changes on the exchange's unit of work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.platform import ExchangeContext, Handlers

if TYPE_CHECKING:
    from harness.dym.platform import DymPlatform

HANDLERS = Handlers("dym")


def _op(name: str) -> Any:
    def handler(platform: DymPlatform, ctx: ExchangeContext, body: dict[str, Any]) -> dict[str, Any]:
        return platform.answer(ctx, name, body)

    handler.__name__ = name
    return HANDLERS.operation(handler)


driver_claim = _op("driver_claim")
enterprise_claim = _op("enterprise_claim")
vehicle_bind = _op("vehicle_bind")
code_status = _op("code_status")
violation_report = _op("violation_report")
violation_handle = _op("violation_handle")
consent_grant = _op("consent_grant")
consent_revoke = _op("consent_revoke")
scan_verify = _op("scan_verify")
driver_lookup = _op("driver_lookup")
waybill_push = _op("waybill_push")
waybill_accept = _op("waybill_accept")
waybill_status = _op("waybill_status")
waybill_qr = _op("waybill_qr")
