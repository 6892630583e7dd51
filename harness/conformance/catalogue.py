"""Requirement catalogues (``specs/<platform>/requirements.yaml``): every rule a platform holds vendors to.

Reports list each requirement with the checks that ran for it, so a requirement no check enforced is visible.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import yaml

from harness.conformance.model import LEVELS, CheckResult, Requirement
from harness.errors import ConfigError
from harness.specs import spec_path, spec_sha256

REQUIRED_KEYS = ("id", "clause", "rule")


def catalogue_file(platform: str) -> str:
    """The catalogue's path relative to ``specs/``."""
    return f"{platform}/requirements.yaml"


@functools.lru_cache(maxsize=8)
def load(platform: str) -> tuple[Requirement, ...]:
    """Every requirement of a platform, in catalogue order; raises ConfigError on a malformed or duplicate entry."""
    path = spec_path(catalogue_file(platform))
    try:
        data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read requirement catalogue {path}: {exc}") from exc
    seen: set[str] = set()
    out: list[Requirement] = []
    for entry in data.get("requirements") or []:
        missing = [k for k in REQUIRED_KEYS if not entry.get(k)]
        if missing:
            raise ConfigError(f"{path}: requirement {entry.get('id', '?')} lacks {', '.join(missing)}")
        if entry["id"] in seen:
            raise ConfigError(f"{path}: requirement {entry['id']} is listed twice")
        seen.add(entry["id"])
        level = str(entry.get("level", "MUST"))
        if level not in LEVELS:
            raise ConfigError(f"{path}: requirement {entry['id']} has level {level!r}; levels are {', '.join(LEVELS)}")
        out.append(
            Requirement(
                id=str(entry["id"]),
                platform=str(data.get("platform", platform)),
                clause=str(entry["clause"]),
                text=str(entry["rule"]),
                decision=entry.get("decision"),
                checks=tuple(entry.get("checks") or ()),
                rules=tuple(entry.get("rules") or ()),
                level=level,
                level_reason=str(entry.get("level_reason") or ""),
                roles=tuple(entry.get("roles") or ()),
            )
        )
    return tuple(out)


def by_id(platform: str) -> dict[str, Requirement]:
    return {r.id: r for r in load(platform)}


def sha256(platform: str) -> str:
    return spec_sha256(catalogue_file(platform))


def coverage(requirements: Iterable[Requirement], results: Iterable[CheckResult]) -> list[dict[str, Any]]:
    """Per requirement, the checks that ran for it and whether any of them enforced it in this run.

    A skipped check did not enforce anything: a requirement whose only checks were skipped is "not covered".
    """
    results = list(results)
    rows: list[dict[str, Any]] = []
    for req in requirements:
        ran = [r for r in results if req.id in r.requirements]
        enforced = [r for r in ran if r.status != "skipped"]
        if not enforced:
            state = "not covered"
        elif any(r.fails_run for r in enforced):
            state = "failed"
        elif any(r.status in ("failed", "error", "warning") for r in enforced):
            state = "warning"
        elif any(r.status == "review" for r in enforced):
            state = "review"
        else:
            state = "passed"
        rows.append(
            {
                "id": req.id,
                "clause": req.clause,
                "rule": req.text,
                "level": req.level,
                "level_reason": req.level_reason,
                "decision": req.decision,
                "declared_checks": list(req.checks),
                "checks": _per_check(ran),
                "coverage": state,
            }
        )
    return rows


def observable(requirements: Iterable[Requirement], role: str, check_ids: Iterable[str], named: Iterable[str]) -> list[Requirement]:
    """The requirements a role can observe: those the catalogue assigns to it (``roles``), else those its checks name
    or whose declared ``checks`` it runs. A report's coverage counts only these."""
    check_ids, named = set(check_ids), set(named)
    out = []
    for req in requirements:
        if req.roles:
            if role in req.roles:
                out.append(req)
        elif req.id in named or check_ids.intersection(req.checks):
            out.append(req)
    return out


_WORST = ("error", "failed", "warning", "review", "passed", "skipped")


def _per_check(results: list[CheckResult]) -> list[dict[str, Any]]:
    """One row per check id (a check may yield several results): its worst status and how many results it gave."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault(r.check_id, {"id": r.check_id, "status": r.status, "results": 0})
        row["results"] += 1
        if _WORST.index(r.status) < _WORST.index(row["status"]):
            row["status"] = r.status
    return list(rows.values())
