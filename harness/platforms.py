"""The registry of reference platforms: one line per platform. The server, the store migrations and the CLI read it.

Each entry names the Platform subclass (``module:Class``); the module of each platform's ``state`` (its tables) is
``harness.<name>.state``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.platform import Platform

PLATFORMS: dict[str, str] = {
    "yxc": "harness.yxc.platform:YxcPlatform",
    "zjpx": "harness.zjpx.platform:ZjpxPlatform",
    "dudu": "harness.dudu.platform:DuduPlatform",
}


def platform_class(name: str) -> type[Platform]:
    module, _, cls = PLATFORMS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def import_state_modules() -> None:
    """Import every platform's ``state`` module so its tables are registered with the store."""
    for name in PLATFORMS:
        try:
            importlib.import_module(f"harness.{name}.state")
        except ModuleNotFoundError as exc:
            if exc.name != f"harness.{name}.state":
                raise
