"""Platform pages: what a person wants to see of a platform's state (DUDU devices, the DYM ledger)."""

from __future__ import annotations

from typing import Any

from harness.store import Store


def details(store: Store, platform: str) -> dict[str, Any]:
    return {}


def dym_receipt(store: Store) -> dict[str, Any] | None:
    return None
