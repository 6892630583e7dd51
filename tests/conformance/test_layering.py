"""harness/conformance/ only yields events: it never imports the reports or the CLI."""

import ast
from pathlib import Path

import harness.conformance

FORBIDDEN = ("harness.reports", "harness.cli")


def test_conformance_never_imports_reports_or_cli():
    offenders = []
    for path in Path(harness.conformance.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            # the modules and their submodules (harness.cli_options, the options every command shares, is neither)
            offenders += [f"{path.name}: {n}" for n in names if n in FORBIDDEN or n.startswith(tuple(f + "." for f in FORBIDDEN))]
    assert offenders == []


def test_the_store_knows_nothing_of_its_users():
    """harness/store.py imports nothing of the harness package but harness.errors: owners hand it their schemas."""
    import harness.store

    imported = []
    for node in ast.walk(ast.parse(Path(harness.store.__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
    assert [n for n in imported if n == "harness" or n.startswith("harness.")] == ["harness.errors"]
