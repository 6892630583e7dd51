"""The README walk-through: every shell block of README.md (and of the docs it sends a new user to), in order.

The repository's tracked files are copied to a fresh directory (nothing beside it), the venv the tests run in is
linked there as ``.venv`` (the README's first command made it), ``harness serve`` is started on a free loopback
port, and the README's blocks run top to bottom in one bash process (variables and ``export`` carry over, as in a
terminal) with ``set -e``: the first command that fails fails the test, naming its README line.

Rewritten, consistently: the README's ports (8000 for ``harness serve``, 8443 for the reference vendor) become free
ports; ``harness serve`` itself is not run again (the test's server is the one the README started); Locust runs a few
users for two seconds, ``pytest`` (the suite runs in CI) not at all, and Schemathesis a few examples per operation. A block preceded by
``<!-- not in CI: why -->`` is skipped; ``test_the_skipped_blocks_are_few`` keeps that list short.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NOT_IN_CI = re.compile(r"<!--\s*not in CI:\s*(.+?)\s*-->", re.S)
FENCE = re.compile(r"^```(sh|bash|shell)\s*$")
MAX_SKIPPED = 6


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    text: str
    skip: str | None  # the reason given in <!-- not in CI: … -->


def blocks(path: Path = README) -> list[Block]:
    """The shell blocks of a Markdown file, each with the not-in-CI reason written just before it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            start = i
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            before = start - 1
            while before >= 0 and not lines[before].strip():
                before -= 1
            marker = NOT_IN_CI.search(lines[before]) if before >= 0 else None
            out.append(Block(start + 1, "\n".join(lines[start + 1 : j]), marker.group(1) if marker else None))
            i = j + 1
        else:
            i += 1
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rewrite(text: str, ports: dict[int, int]) -> str:
    """A block as the walk-through runs it (see the module docstring)."""
    for old, new in ports.items():
        text = re.sub(rf"(?<=[:/ ]){old}\b", str(new), text)
        text = re.sub(rf"--port {old}\b", f"--port {new}", text)
    # harness serve: the walk-through started it (same store, same port) before the first block.
    text = re.sub(r"^(\s*)harness serve\b[^#\n]*", r"\1: harness serve is running ", text, flags=re.M)
    # pytest: the suite itself runs in CI; the walk-through need not run a test file again.
    text = re.sub(r"^(\s*)pytest\b[^#\n]*", r"\1: pytest runs in CI ", text, flags=re.M)
    # Locust: a handful of users for a few seconds; the thresholds still decide the exit code.
    if "locust " in text:
        text = re.sub(r"(?<=\s)(-t|--run-time) \S+", r"\1 2s", text)
        text = re.sub(r"(?<=\s)(-u|--users) \d+", r"\1 4", text)
        text = re.sub(r"(?<=\s)(-r|--spawn-rate) \d+", r"\1 4", text)
    text = re.sub(r"(schemathesis run \S+)", r"\1 --max-examples 3 --phases examples,fuzzing", text)
    return text


def script(selected: list[Block], ports: dict[int, int], page: str = "README.md", prelude: list[str] | None = None) -> str:
    parts = [
        "set -eo pipefail",
        f"trap 'echo \"walk-through: {page}:$README_LINE failed: $BASH_COMMAND\" >&2' ERR",
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
        *(prelude or []),
    ]
    for block in selected:
        parts.append(f'README_LINE={block.line}; echo "=== {page}:{block.line} at ${{SECONDS}} s" >&2')
        parts.append(rewrite(block.text, ports))
    parts.append("echo '=== walk-through complete' >&2")
    return "\n".join(parts) + "\n"


def copy_repository(dest: Path) -> None:
    """The tracked files as they are in the working tree: what a fresh clone of this change holds."""
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the walk-through copies the tracked files")
    for name in names:
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def test_the_skipped_blocks_are_few() -> None:
    assert len(blocks()) >= 10
    for page in WALKED:
        skipped = [b for b in blocks(ROOT / page) if b.skip]
        assert len(skipped) <= MAX_SKIPPED, [f"{page}:{b.line}: {b.skip}" for b in skipped]
        assert all(len(b.skip or "") >= 10 for b in skipped), "each skipped block says why"


def test_every_relative_link_of_the_readme_and_docs_exists() -> None:
    """README links to files a clone has (no link into material outside the repository)."""
    missing = []
    for page in [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").rglob("README.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                missing.append(f"{page.relative_to(ROOT)} → {target}")
    # Paths written as code (`fixtures/signing/vectors.json`) name files of the repository too.
    top = "|".join(p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith("."))
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for path in re.findall(rf"`((?:{top})/[\w./-]+?)(?:#[\w-]+)?`", page.read_text(encoding="utf-8")):
            if not (ROOT / path.rstrip("/.")).exists():
                missing.append(f"{page.relative_to(ROOT)} → `{path}`")
    assert not missing, missing


# The docs the README sends a new user to, whose blocks are practical to run here (the others need a vendor's system).
WALKED = ["README.md", "docs/zjpx.md", "docs/dudu.md"]


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="the walk-through runs in the venv the README's first command makes")
@pytest.mark.parametrize("page", WALKED)
def test_the_readme_runs_as_written(tmp_path: Path, page: str) -> None:
    work = tmp_path / "harness"
    work.mkdir()
    copy_repository(work)
    (work / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    ports = {8000: free_port(), 8443: free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "VIRTUAL_ENV", "PYTEST_"))}
    env.update(
        HOME=str(tmp_path / "home"),
        PATH=os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(sys.prefix)),
        HARNESS_DB=str(work / "harness.db"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    (tmp_path / "home").mkdir()
    serve_log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.prefix) / "bin" / "harness"), "serve", "--port", str(ports[8000])],
        cwd=work,
        env=env,
        stdout=serve_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{ports[8000]}/yxc", timeout=2)
                break
            except httpx.HTTPError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("harness serve did not start:\n" + (tmp_path / "serve.log").read_text(errors="replace"))
                time.sleep(0.2)
        selected = [b for b in blocks(ROOT / page) if not b.skip]
        assert selected, f"{page} has no block to run"
        prelude = [] if page == "README.md" else [". .venv/bin/activate  # as the README's first section says"]
        (tmp_path / "walk.sh").write_text(script(selected, ports, page, prelude), encoding="utf-8")
        walk = subprocess.Popen(
            ["bash", str(tmp_path / "walk.sh")],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: whatever the README started in the background ends with it
        )
        try:
            stdout, stderr = walk.communicate(timeout=400)
        finally:
            try:
                os.killpg(walk.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        output = stdout[-6000:] + "\n--- stderr ---\n" + stderr[-8000:]
        (tmp_path / "walk.log").write_text(stdout + "\n--- stderr ---\n" + stderr, encoding="utf-8")
        if os.environ.get("HARNESS_README_KEEP"):  # a developer's aid: keep the directory to read
            keep = Path(os.environ["HARNESS_README_KEEP"]) / page.replace("/", "-")
            shutil.copytree(tmp_path, keep, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".venv"))
        assert walk.returncode == 0, output
        assert "=== walk-through complete" in stderr, output
        # The banner's URLs answer in their platform's envelope, never "internal error".
        for base in ("/yxc", "/zjpx", "/dudu", "/ymt", "/dym"):
            reply = httpx.get(f"http://127.0.0.1:{ports[8000]}{base}", timeout=5)
            assert "internal error" not in reply.text.lower(), (base, reply.text)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        serve_log.close()


def test_a_failing_command_fails_the_walk_through_naming_its_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```sh\nexport A=1\necho ok\n```\n\n<!-- not in CI: shows what a skipped block looks like -->\n```sh\nfalse\n```\n\n"
        '```sh\ntest "$A" = 1   # variables carry over\nharness-no-such-command --flag\necho never\n```\n',
        encoding="utf-8",
    )
    found = blocks(page)
    assert [b.line for b in found] == [1, 7, 11] and found[1].skip == "shows what a skipped block looks like"
    (tmp_path / "walk.sh").write_text(script([b for b in found if not b.skip], {}, "page.md"), encoding="utf-8")
    run = subprocess.run(["bash", str(tmp_path / "walk.sh")], capture_output=True, text=True, timeout=30)
    assert run.returncode != 0
    assert "walk-through: page.md:11 failed: harness-no-such-command --flag" in run.stderr
    assert "never" not in run.stdout and "walk-through complete" not in run.stderr


def test_the_rewrites_are_consistent() -> None:
    ports = {8000: 41001, 8443: 41002}
    text = rewrite(
        "harness serve &   # note\ncurl http://127.0.0.1:8000/yxc\npython -m examples.yxc_vendor.app --port 8443\n"
        "curl https://localhost:8443/qr\nlocust -f x.py --headless -u 2000 -r 200 -t 2m --host http://127.0.0.1:8000\n",
        ports,
    )
    assert text.splitlines() == [
        ": harness serve is running # note",
        "curl http://127.0.0.1:41001/yxc",
        "python -m examples.yxc_vendor.app --port 41002",
        "curl https://localhost:41002/qr",
        "locust -f x.py --headless -u 4 -r 4 -t 2s --host http://127.0.0.1:41001",
    ]
