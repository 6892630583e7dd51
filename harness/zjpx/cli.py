"""``harness zjpx …``: the operator's side of the ZJPX reference (accounts, classes, the rule catalogue)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import click

from harness.cli_options import db_option
from harness.config import default_db_path
from harness.errors import ConfigError


def _store(db: Path | None) -> object:
    from harness.schema import open_store

    return open_store(db or default_db_path())


@click.group("zjpx")
def zjpx() -> None:
    """ZJPX (职业技能培训在线学习监管服务平台) helpers: learning-platform accounts, classes, rules."""


@zjpx.group("account")
def account() -> None:
    """Learning-platform accounts for /zjpx/api/v1/thlogin (002 §1.1)."""


@account.command("add")
@click.option("--account", "name", required=True, help="studyPlatformAcount (the login name).")
@click.option("--password", required=True, help="passWord.")
@click.option("--platform-name", default="学习平台", show_default=True, help="studyPlatformName returned at login.")
@click.option("--platform-code", default=None, help="studyPlatformCode (32 hex); generated when omitted.")
@db_option
def account_add(name: str, password: str, platform_name: str, platform_code: str | None, db: Path | None) -> None:
    """Create an account and print it as JSON (its studyPlatformCode goes in every data.studyPlatformCode)."""
    from harness.zjpx.accounts import add_account

    if platform_code is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", platform_code):
        # every data.studyPlatformCode is checked against ^[0-9a-fA-F]{32}$: no call of such a platform would pass
        raise ConfigError(f"--platform-code is 32 hex digits (D-ZJPX-UUID32), not {platform_code[:40]!r}")
    created = add_account(_store(db), name, password, platform_name, platform_code)  # type: ignore[arg-type]
    click.echo(
        json.dumps(
            {
                "studyPlatformAcount": created.account,
                "studyPlatformCode": created.platform_code,
                "studyPlatformName": created.platform_name,
            },
            ensure_ascii=False,
        )
    )


@account.command("list")
@db_option
def account_list(db: Path | None) -> None:
    """List accounts."""
    from harness.zjpx.accounts import list_accounts

    for a in list_accounts(_store(db)):  # type: ignore[arg-type]
        click.echo(f"{a.account}\t{a.platform_code}\t{a.platform_name}")


@zjpx.group("class")
def class_() -> None:
    """Classes (what the business platform files through §2.4)."""


@class_.command("add")
@click.option("--platform-code", required=True, help="The learning platform the class belongs to.")
@click.option("--seed", type=int, default=0, show_default=True, help="Fixture seed: the same seed gives the same class.")
@click.option("--students", type=click.IntRange(1), default=2, show_default=True)
@click.option("--videos", type=click.IntRange(1), default=2, show_default=True, help="Videos per chapter (2 chapters).")
@click.option("--real-name", type=click.IntRange(0, 1), default=0, show_default=True, help="realNameAuthentication.")
@click.option("--study-hour-limit", type=click.IntRange(0, 24), default=0, show_default=True, help="Hours per day, 0 = none.")
@click.option("--video-on-hook", type=click.IntRange(0, 2), default=0, show_default=True, help="0 none, 1 code, 2 face.")
@click.option("--trigger-type", type=click.IntRange(0, 2), default=1, show_default=True, help="0 count, 1 every N min, 2 increasing.")
@click.option("--trigger-value", type=click.IntRange(0, 10_000), default=5, show_default=True, help="triggervValue (count or minutes).")
@click.option("--video-start-face", type=click.IntRange(0, 1), default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the class with its learners in full (cardNo, name, mobile: what a load test logs in with) to this file (mode 600).",
)
@click.option("--show-personal-data", is_flag=True, help="Print the learners in clear (masked on the console by default).")
@db_option
def class_add(
    platform_code: str,
    seed: int,
    students: int,
    videos: int,
    real_name: int,
    study_hour_limit: int,
    video_on_hook: int,
    trigger_type: int,
    trigger_value: int,
    video_start_face: int,
    out: Path | None,
    show_personal_data: bool,
    db: Path | None,
) -> None:
    """File a generated class (course tree, learners, anti-idling configuration) and print it as JSON (the learners'
    cardNo, name and mobile masked: generated, they still have the form of personal data; --out FILE keeps them)."""
    from fixtures.zjpx import ZjpxData
    from harness.zjpx.platform import file_class

    intake = ZjpxData(seed).class_intake(
        students=students,
        videos=videos,
        real_name=real_name,
        study_hour_limit=study_hour_limit,
        video_on_hook=video_on_hook,
        trigger_type=trigger_type,
        trigger_value=trigger_value if video_on_hook else 0,
        video_start_face=video_start_face,
    )
    store = _store(db)
    if store.query_one("SELECT 1 FROM zjpx_accounts WHERE platform_code = ?", (platform_code,)) is None:
        raise ConfigError(
            f"no learning-platform account has studyPlatformCode {platform_code[:40]!r}: "
            "`harness zjpx account add` prints it (`harness zjpx account list`)"
        )
    text = json.dumps(intake, ensure_ascii=False, indent=2)
    if out is not None:  # before filing: an unwritable file leaves the store as it was
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:
            raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    file_class(store, platform_code, intake, int(time.time() * 1000))  # type: ignore[arg-type]
    from harness.masking import mask_value

    click.echo(text if show_personal_data else json.dumps(mask_value(intake), ensure_ascii=False, indent=2))
    if out is not None:
        click.echo(f"wrote {out} (the learners in full)", err=True)


@zjpx.command("rules")
def rules_() -> None:
    """Print every rule the ZJPX reference enforces, with its clause and decision."""
    from harness.rules import RuleSet
    from harness.zjpx import rules

    for r in rules.install(RuleSet("zjpx")):
        extra = f" ({r.decision})" if r.decision else ""
        click.echo(f"{r.id:26} {r.kind:9} {r.clause}{extra}\n  {r.title}")


@click.command("zjpx-push-class")
@click.option("--target", required=True, help="Base URL of the vendor's learning platform (its /api/v1/pushClassInfo is called).")
@click.option("--seed", type=int, default=0, show_default=True, help="Fixture seed for the class, course tree and learners.")
@click.option("--students", type=click.IntRange(1, 500), default=3, show_default=True, help="Learners in the class (1-500).")
@click.option("--profile", type=click.Choice(["strict", "tolerant"]), default="strict", show_default=True)
@click.option(
    "--show-personal-data",
    is_flag=True,
    help="Print the learners' cardNo, name and mobile in clear (masked by default: generated, they still have the form of personal data).",
)
def push_class_command(target: str, seed: int, students: int, profile: str, show_personal_data: bool) -> None:
    """Push a class to a learning platform (002 §1.12) and check it returns one account per learner."""
    from harness.masking import mask_value
    from harness.zjpx.simulate import push_class

    result = push_class(target, seed=seed, students=students, profile=profile)
    shown: dict[str, object] = {"request": result.exchange.request, "status": result.exchange.status, "reply": result.exchange.reply}
    click.echo(json.dumps(shown if show_personal_data else mask_value(shown), ensure_ascii=False, indent=2))
    for problem in result.problems:
        click.echo(f"FAIL {problem} [002 §1.12]", err=True)
    click.echo("PASS" if result.passed else "FAIL", err=True)
    raise SystemExit(0 if result.passed else 1)
