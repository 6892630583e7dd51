"""The decisions register (``specs/decisions.yaml``): where a seed is silent or contradicts itself."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import yaml

from harness.specs import SPECS_DIR

DECISIONS_FILE = SPECS_DIR / "decisions.yaml"


@dataclass(frozen=True)
class Decision:
    id: str
    platform: str
    clause: str
    issue: str
    strict: str
    tolerant: str

    def treatment(self, profile: str) -> str:
        return self.strict if profile == "strict" else self.tolerant


@functools.lru_cache(maxsize=1)
def decisions() -> dict[str, Decision]:
    data = yaml.safe_load(DECISIONS_FILE.read_text(encoding="utf-8"))
    out: dict[str, Decision] = {}
    for entry in data["decisions"]:
        decision = Decision(**{k: str(v).strip() for k, v in entry.items()})
        if decision.id in out:
            raise ValueError(f"decision {decision.id} is listed twice in {DECISIONS_FILE}")
        out[decision.id] = decision
    return out


def decision(decision_id: str) -> Decision:
    return decisions()[decision_id]
