"""The DYM catalogue names every rule the platform journals (and only those); `harness dym enterprise-add` prints the
secret once and refuses a credit code whose check character fails; the spec says it is designed."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.dym.rules import RULES
from harness.specs import SPECS_DIR, load_spec
from harness.store import Store


def test_every_rule_is_in_the_catalogue_and_every_catalogued_rule_exists() -> None:
    catalogue = yaml.safe_load((SPECS_DIR / "dym" / "requirements.yaml").read_text(encoding="utf-8"))
    named = {r for entry in catalogue["requirements"] for r in entry.get("rules", [])}
    assert named - {"SCHEMA"} <= {r.id for r in RULES}
    assert {r.id for r in RULES} <= named


def test_the_spec_says_it_is_designed_and_every_operation_cites_the_guide() -> None:
    spec = load_spec("dym/platform.yaml")
    assert spec["info"]["x-designed"] is True and "defines no API" in spec["info"]["description"]
    for item in spec["paths"].values():
        assert item["post"]["x-designed"] is True and item["post"]["x-clause"].startswith("004 §")


def test_enterprise_add_prints_the_secret_once(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    runner = CliRunner()
    bad = runner.invoke(main, ["dym", "enterprise-add", "昆明货运", "--uscc", "91350100M000100Y44", "--db", str(db)])
    assert bad.exit_code == 2 and "GB 32100" in bad.output and "Traceback" not in bad.output
    ok = runner.invoke(
        main, ["dym", "enterprise-add", "昆明货运", "--uscc", "91350100M000100Y43", "--app-id", "ENT0000000000009", "--db", str(db)]
    )
    assert ok.exit_code == 0, ok.output
    printed = json.loads(ok.output.splitlines()[0])
    assert printed["app_id"] == "ENT0000000000009" and len(printed["secret"]) >= 40
    again = runner.invoke(main, ["dym", "enterprise-add", "昆明货运", "--app-id", "ENT0000000000009", "--db", str(db)])
    assert again.exit_code == 2 and "already exists" in again.output
    reg = runner.invoke(main, ["dym", "regulator-add", "云南省交通运输厅", "--db", str(db)])
    assert reg.exit_code == 0 and json.loads(reg.output.splitlines()[0])["kind"] == "regulator"
    from harness.schema import schemas

    store = Store(db, schemas=schemas())
    try:
        assert [r["kind"] for r in store.query("SELECT kind FROM dym_apps ORDER BY created")] == ["enterprise", "regulator"]
    finally:
        store.close()
