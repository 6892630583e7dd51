"""`harness simulate zjpx-push-class`: push one generated class (anti-idling configuration, course tree, learners) to a
vendor's learning platform as the supervision platform does after approving it (002 §1.12), and check the accounts.
As the seed orders it, the class is on one of the platform's own course packages: the first that thirdCoursePull (§1.14)
lists with a video; only a platform that lists none gets a class on a generated course tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from harness.zjpx.vendor import Exchanged, VendorClient, account_problems, page_of


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
    from fixtures.zjpx import ZjpxData, package_videos

    vendor = VendorClient(target, profile, client)
    settings = config or {"video_on_hook": 2, "trigger_type": 1, "trigger_value": 5}
    listed = [p for p in page_of(vendor.pull(1, 20).reply)[1] if isinstance(p, dict) and package_videos(p) > 0]
    data = ZjpxData(seed)
    intake = data.class_on_package(listed[0], students=students, **settings) if listed else data.class_intake(students=students, **settings)
    body = ZjpxData.push_class_info(intake, strict=profile == "strict")
    exchange = vendor.push_class(body)
    problems = [f"reply does not match the spec: {e}" for e in vendor.errors_for(exchange)]
    if not exchange.ok:
        problems.append(f'returnCode {exchange.reply.get("returnCode") if isinstance(exchange.reply, dict) else None!r}, not "0"')
    problems += account_problems(body, exchange.reply)
    return PushResult(exchange, problems)
