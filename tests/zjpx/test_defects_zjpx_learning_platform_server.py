"""examples/defects/zjpx-learning-platform-server.yaml: the conforming learning platform passes; each planted defect
fails (MUST) or warns (SHOULD) the checks it lists."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.conformance.roles import role_class
from harness.zjpx.certify import LearningPlatformServerRole
from tests.zjpx import defect_table
from tests.zjpx.fake_vendor import FakeLearningPlatform

ROLE = "zjpx-learning-platform-server"
CHECKS = role_class(ROLE).checks


def run(vendor: FakeLearningPlatform, fuzz_examples: int) -> list[Any]:
    client = httpx.Client(transport=vendor.transport())
    return list(LearningPlatformServerRole("http://vendor.example.invalid", client=client, fuzz_examples=fuzz_examples).run(seed=5))


def test_the_table_covers_every_graded_check() -> None:
    defect_table.assert_table_covers(ROLE, CHECKS)


def test_the_conforming_vendor_passes() -> None:
    defect_table.assert_conforming(run(FakeLearningPlatform(), fuzz_examples=2))


@pytest.mark.parametrize("row", defect_table.rows(ROLE), ids=lambda r: r["name"])
def test_each_planted_defect_fails_its_checks(row: dict[str, Any]) -> None:
    fuzz = 2 if any(c.startswith("ZJPX-S-FUZZ") for c in row.get("fails", ())) else 0
    defect_table.assert_planted(run(FakeLearningPlatform(**{row["name"]: True}), fuzz), CHECKS, row)
