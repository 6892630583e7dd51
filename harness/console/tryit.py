"""Try it: send a request signed with a test key the harness holds, and show the exchange it made."""

from __future__ import annotations

from typing import Any

from harness.platform import Platform
from harness.store import Store


class TryIt:
    def __init__(self, store: Store, platforms: dict[str, Platform]) -> None:
        self.store = store
        self.platforms = platforms

    def operations(self, platform: str) -> list[str]:
        return []

    def form(self, platform: str, operation: str) -> dict[str, Any]:
        return {"platform": platform, "operation": operation, "platforms": list(self.platforms), "ops": [], "example": "", "how": ""}

    async def send(self, base: str, form: dict[str, Any]) -> dict[str, Any]:
        return {"error": "not available"}
