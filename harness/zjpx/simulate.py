"""`harness simulate zjpx-push-class`: push one generated class (anti-idling configuration, course tree, learners) to a
vendor's learning platform as the supervision platform does after approving it (002 §1.12), and check the accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from harness.zjpx.vendor import Exchanged, VendorClient, account_problems


@dataclass
class PushResult:
    exchange: Exchanged
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


def push_class(
    target: str,
    *,
    seed: int = 0,
    students: int = 3,
    profile: str = "strict",
    config: dict[str, Any] | None = None,
    client: httpx.Client | None = None,
) -> PushResult:
    from fixtures.zjpx import ZjpxData

    intake = ZjpxData(seed).class_intake(students=students, **(config or {"video_on_hook": 2, "trigger_type": 1, "trigger_value": 5}))
    body = ZjpxData.push_class_info(intake, strict=profile == "strict")
    exchange = VendorClient(target, profile, client).push_class(body)
    problems = [f"reply does not match the spec: {e}" for e in exchange.schema_errors]
    if not exchange.ok:
        problems.append(f'returnCode {exchange.reply.get("returnCode") if isinstance(exchange.reply, dict) else None!r}, not "0"')
    problems += account_problems(body, exchange.reply)
    return PushResult(exchange, problems)
