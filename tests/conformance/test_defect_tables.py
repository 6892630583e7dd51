"""Every check of every certify role can fail: each role has a defect table (examples/defects/<role>.yaml) naming, for
every MUST and SHOULD check it registers, a planted defect that makes the check FAILED (a MUST) or WARNING (a SHOULD,
or a reading a decision allows: ``warns``), and a test module that plants each row and asserts it.

A check no defect can break is a check that passes with nothing to judge: this file is where CI catches it.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.conformance.roles import ROLES, role_class

ROOT = Path(__file__).resolve().parents[2]
TABLES = ROOT / "examples" / "defects"


def _table(role: str) -> dict[str, Any]:
    path = TABLES / f"{role}.yaml"
    assert path.is_file(), f"certify role {role} has no defect table {path.relative_to(ROOT)}"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_every_table_belongs_to_a_role() -> None:
    assert {p.stem for p in TABLES.glob("*.yaml")} == set(ROLES)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_check_of_the_role_has_a_planted_defect(role: str) -> None:
    table = _table(role)
    assert table["role"] == role
    assert (ROOT / table["vendor"]).exists(), f"{role}: the conforming vendor {table['vendor']} does not exist"
    checks = role_class(role).checks  # a class attribute, so that this test needs no running role
    known = {c.id: c for c in checks}
    rows = table["defects"]
    assert rows, f"{role}: the table plants no defect"
    names = [r["name"] for r in rows]
    assert len(names) == len(set(names)), f"{role}: a defect is listed twice"
    named: set[str] = set()
    for row in rows:
        assert row.get("what"), f"{role}/{row['name']}: say what the defect is and which clause it breaks"
        listed = [*row.get("fails", ()), *row.get("warns", ())]
        assert listed, f"{role}/{row['name']}: the defect breaks no check"
        unknown = set(listed) - set(known)
        assert not unknown, f"{role}/{row['name']}: no such check {sorted(unknown)}"
        named.update(listed)
    graded = {c.id for c in checks if c.level in ("MUST", "SHOULD")}
    assert graded <= named, f"{role}: no planted defect breaks {sorted(graded - named)}: a check that cannot fail"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_table_is_run_by_its_test_module(role: str) -> None:
    """The module named by the table exists, reads this table, and has a test for the conforming vendor and one
    parametrised over the rows (its assertions are the module's own; this pins that they exist)."""
    table = _table(role)
    module = ROOT / table["test"]
    assert module.is_file(), f"{role}: the test module {table['test']} does not exist"
    source = module.read_text(encoding="utf-8")
    tree = ast.parse(source)
    tests = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert role in source or f"{role}.yaml" in source, f"{table['test']} does not read the {role} table"
    assert any("conform" in t.name for t in tests), f"{table['test']}: no test runs the conforming vendor"
    parametrised = [
        t for t in tests if any(isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "parametrize" for d in t.decorator_list)
    ]
    assert parametrised, f"{table['test']}: no test is parametrised over the defect rows"


def test_every_catalogue_requirement_carries_a_level_and_its_reason() -> None:
    from harness.conformance.model import LEVELS

    for path in sorted((ROOT / "specs").glob("*/requirements.yaml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["requirements"]:
            assert entry.get("level") in LEVELS, f"{path.parent.name} {entry['id']}: level {entry.get('level')!r}"
            assert entry.get("level_reason"), f"{path.parent.name} {entry['id']} does not say why it is {entry['level']}"
