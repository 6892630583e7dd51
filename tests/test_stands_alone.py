"""The repository stands alone: no file points into material outside it (the seeds are cited by number and clause)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = re.compile(r"\.\./shared|/work/shared|shared/(?:seeds|vectors|INTERFACES|TOOLCHAIN|STYLE)|INTERFACES\.md|TOOLCHAIN\.md|STYLE\.md")
TEXT = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".json", ".cfg", ".ini", ".sh", ""}


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist): every file under the root
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts and ".git" not in p.parts]
    return [ROOT / name for name in out]


def test_no_file_points_outside_the_repository() -> None:
    offenders = []
    this = Path(__file__).resolve()
    for path in tracked_files():
        if path.resolve() == this or path.suffix not in TEXT or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert not offenders, "files point outside the repository:\n" + "\n".join(offenders)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """The README's second command (install and run the tests) is what .ci/run runs, word for word."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(commands) == 2 and commands[0].endswith("harness serve"), commands
    ci = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line.startswith("python3 -m venv")]
    assert ci == [commands[1]]
