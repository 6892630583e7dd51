"""The registry of reference platforms: one line per platform. The server, the store's composition root
(:mod:`harness.schema`) and the CLI read it.

Each entry names the Platform subclass (``module:Class``); each platform's tables are the ``SCHEMA`` of the module
``state`` beside it (``harness.<name>.state``; a platform without tables has no such module). docs/platforms.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.platform import Platform
    from harness.store import Schema

PLATFORMS: dict[str, str] = {
    "yxc": "harness.yxc.platform:YxcPlatform",  # seed 000
    "ymt": "harness.ymt.platform:YmtPlatform",  # seed 001
    "zjpx": "harness.zjpx.platform:ZjpxPlatform",  # seed 002
    "dudu": "harness.dudu.platform:DuduPlatform",  # seed 003
    "dym": "harness.dym.platform:DymPlatform",  # seed 004
}


def platform_class(name: str) -> type[Platform]:
    module, _, cls = PLATFORMS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def state_schemas() -> list[Schema]:
    """Every platform's table schema (the ``SCHEMA`` of ``harness.<name>.state``), in registry order."""
    found = []
    for where in PLATFORMS.values():
        state = where.partition(":")[0].rpartition(".")[0] + ".state"  # the state module beside the platform module
        try:
            module = importlib.import_module(state)
        except ModuleNotFoundError as exc:
            if exc.name != state:
                raise
            continue
        found.append(module.SCHEMA)
    return found
