"""Loading the OpenAPI definitions in ``specs/`` and deriving the profile-specific variant.

The files are the single source of truth. The tolerant profile is derived, not written twice: every schema node
may carry ``x-tolerant``, an object whose keys replace the node's own under ``--profile tolerant`` (a ``null`` value
removes the keyword), so the derived spec is still valid OpenAPI 3.0.

The derived spec remembers what it relaxed: each node an override changed carries ``x-strict`` (the keywords the
file itself states, and the decision that relaxes them). The validators accept what the derived spec accepts and
then check ``x-strict``: a request that only the file's own reading refuses is journaled as a SHOULD verdict naming
the decision (and refused only under ``--profile strict``), so a verdict never depends on the profile.
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


PROFILE_MARK = "x-harness-profile"
ABSENT = "x-absent"  # in ``x-strict``: the file states no such keyword (the override added it)


def load_spec(relative: str, profile: str = "strict") -> dict[str, Any]:
    """The spec as a fresh dict, with ``x-tolerant`` overrides applied for the tolerant profile.

    ``strict`` is the file as written; ``tolerant`` is the derived spec, annotated with ``x-strict`` wherever it
    accepts more than the file. ``served`` is what ``harness serve --profile strict`` loads: the derived schemas
    (so that a verdict is the same under both profiles; the validators then refuse what ``x-strict`` refuses) but only
    the paths the file itself lists."""
    spec = copy.deepcopy(_load(spec_path(relative)))
    if profile in ("tolerant", "served"):
        _apply_tolerant(spec, None, paths=profile == "tolerant")
    spec[PROFILE_MARK] = profile  # the form was chosen here: harness.fuzz leaves it as it is
    return spec


def derive_served(spec: dict[str, Any]) -> None:
    """Derive, in place, the schemas ``harness serve`` accepts by default (the paths the file lists)."""
    _apply_tolerant(spec, None, paths=False)


def served_profile(profile: str) -> str:
    """The form of the spec ``harness serve`` loads under a settings profile."""
    return "tolerant" if profile == "tolerant" else "served"


def _apply_tolerant(node: Any, decision: str | None, *, paths: bool) -> None:
    if isinstance(node, dict):
        override = node.pop("x-tolerant", None)
        decision = node.get("x-decision", decision)
        for value in node.values():
            _apply_tolerant(value, decision, paths=paths)
        if isinstance(override, dict) and not paths and any(k.startswith("/") for k in override):
            return  # path aliases (a mangled URL the seed prints) are served under the tolerant profile only
        if isinstance(override, dict):
            original = {k: node.get(k, ABSENT) for k in override if not k.startswith("x-")}
            for key, value in override.items():
                if value is None:  # null deletes the strict keyword
                    node.pop(key, None)
                else:
                    node[key] = value
                    if key.startswith("/"):  # a path alias: its schemas are derived like the file's own paths
                        _apply_tolerant(value, decision, paths=paths)
            added = _type_list_to_any_of(node)
            if added and "anyOf" not in original:
                original["anyOf"] = ABSENT
            if any(k.startswith("/") for k in original):  # path aliases (a mangled URL the seed prints): not a schema
                return
            node["x-strict"] = {"keys": original, "decision": override.get("x-decision") or decision}
    elif isinstance(node, list):
        for item in node:
            _apply_tolerant(item, decision, paths=paths)


def strict_node(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The keywords of a derived node as the file states them, to validate an instance the derived node accepted.

    Only the relaxed keywords are checked (nested schemas are checked at their own nodes). A relaxed ``properties``
    is kept whole: the file's subtree (itself annotated) is what the instance must meet."""
    strict = schema.get("x-strict")
    if not strict:
        return None
    node: dict[str, Any] = {}
    for key, value in strict["keys"].items():
        if value == ABSENT:
            continue
        node[key] = value
    if node.get("additionalProperties") is False and "properties" not in node:
        node["properties"] = {name: {} for name in schema.get("properties", {})}
        if "patternProperties" in schema:
            node["patternProperties"] = {pattern: {} for pattern in schema["patternProperties"]}
    return node


def _type_list_to_any_of(node: dict[str, Any]) -> bool:
    """OpenAPI 3.0 (which Connexion validates at start-up) forbids ``type: [a, b]``; ``anyOf`` of single types is the
    same JSON Schema, because every other keyword (pattern, minimum, enum…) already applies per instance type."""
    types = node.get("type")
    if isinstance(types, list):
        del node["type"]
        node["anyOf"] = [{"type": t} for t in types]
        return True
    return False


def spec_sha256(relative: str) -> str:
    return hashlib.sha256(spec_path(relative).read_bytes()).hexdigest()


def resolve_ref(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node
