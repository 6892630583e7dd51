"""examples/defects/zjpx-business-platform.yaml: the conforming business platform passes; each planted defect fails
(MUST) or warns (SHOULD) the checks it lists."""

from __future__ import annotations

from typing import Any

import pytest

from harness.conformance.roles import role_class
from harness.zjpx.business import BusinessPlatformRole
from tests.zjpx import defect_table
from tests.zjpx.conftest import Zjpx
from tests.zjpx.scenarios import business_platform

ROLE = "zjpx-business-platform"
CHECKS = role_class(ROLE).checks


def run(zj: Zjpx) -> list[Any]:
    return list(BusinessPlatformRole(zj.store, zj.code).run(seed=0))


def test_the_table_covers_every_graded_check() -> None:
    defect_table.assert_table_covers(ROLE, CHECKS)


def test_the_conforming_business_platform_passes(zj: Zjpx) -> None:
    business_platform(zj)
    events = run(zj)
    defect_table.assert_conforming(events)
    assert {r.status for r in defect_table.results(events).values()} == {"passed"}  # every check had something to judge


@pytest.mark.parametrize("row", defect_table.rows(ROLE), ids=lambda r: r["name"])
def test_each_planted_defect_fails_its_checks(zj: Zjpx, row: dict[str, Any]) -> None:
    business_platform(zj, **{row["name"]: True})
    defect_table.assert_planted(run(zj), CHECKS, row)
