"""Loading the OpenAPI definitions in ``specs/`` and deriving the profile-specific variant.

The files are the single source of truth. The tolerant profile is derived, not written twice: every schema node
may carry ``x-tolerant``, an object whose keys replace the node's own under ``--profile tolerant`` (a ``null`` value
removes the keyword), so the derived spec is still valid OpenAPI 3.0.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from pathlib import Path
from typing import Any

import yaml

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"


def spec_path(relative: str) -> Path:
    return SPECS_DIR / relative


@functools.lru_cache(maxsize=32)
def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_spec(relative: str, profile: str = "strict") -> dict[str, Any]:
    """The spec as a fresh dict, with ``x-tolerant`` overrides applied for the tolerant profile."""
    spec = copy.deepcopy(_load(spec_path(relative)))
    if profile == "tolerant":
        _apply_tolerant(spec)
    return spec


def _apply_tolerant(node: Any) -> None:
    if isinstance(node, dict):
        override = node.pop("x-tolerant", None)
        for value in node.values():
            _apply_tolerant(value)
        if isinstance(override, dict):
            for key, value in override.items():
                if value is None:  # null deletes the strict keyword
                    node.pop(key, None)
                else:
                    node[key] = value
            _type_list_to_any_of(node)
    elif isinstance(node, list):
        for item in node:
            _apply_tolerant(item)


def _type_list_to_any_of(node: dict[str, Any]) -> None:
    """OpenAPI 3.0 (which Connexion validates at start-up) forbids ``type: [a, b]``; ``anyOf`` of single types is the
    same JSON Schema, because every other keyword (pattern, minimum, enum…) already applies per instance type."""
    types = node.get("type")
    if isinstance(types, list):
        del node["type"]
        node["anyOf"] = [{"type": t} for t in types]


def spec_sha256(relative: str) -> str:
    return hashlib.sha256(spec_path(relative).read_bytes()).hexdigest()


def resolve_ref(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node
