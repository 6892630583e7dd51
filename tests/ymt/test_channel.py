"""`harness ymt channel`: the channel-app simulator against the harness's own platform on a loopback port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.ymt import admin, channel
from tests.ymt.served_platform import ServedPlatform

APP = "channel-app"
NAME = "王小明"
ID_CARD = "11010519900307" + "123" + admin.id_check_digit("11010519900307123")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedPlatform]:
    served = ServedPlatform(tmp_path_factory.mktemp("channel"))
    admin.add_app(served.store, APP)
    yield served
    served.close()


def _consented(platform: ServedPlatform, id_card: str, scope: list[str]) -> str:
    """An authorisation code, as a person's consent gives it on the harness (POST /user/realname, /user/consent)."""
    app = channel.ChannelApp(channel.http_transport(platform.url), APP)
    step = app.realname("李四", id_card)
    assert step.passed, step.line()
    consent = app.consent(step.detail["userId"], scope)
    assert consent.passed, consent.line()
    return consent.detail["_code"]


def test_the_whole_channel_flow_against_the_harness(platform: ServedPlatform) -> None:
    first17 = "33010619851111201"
    code = _consented(platform, first17 + admin.id_check_digit(first17), ["concealName", "userName", "idCard", "tags"])
    app = channel.ChannelApp(channel.http_transport(platform.url), APP)
    steps = channel.run(app, channel.STEPS, code=code)
    assert [s.step for s in steps] == list(channel.STEPS)
    assert all(s.passed for s in steps), [s.line() for s in steps]
    shown = [s for s in steps if s.step in ("generate", "refresh", "channel")]
    assert all(s.detail["png"] and s.detail["value"].startswith("YMTQ") for s in shown)
    assert shown[0].detail["value"] != shown[1].detail["value"]  # refresh makes a new code
    assert steps[1].detail["concealName"] == "*四" and steps[1].detail["concealCard"].count("*") == 14
    text = "\n".join(s.line() for s in steps)
    assert app.access_token and app.access_token not in text  # the token is printed masked
    assert first17 not in text and "李四" not in text  # nor B.3's full identity
    # The code was single use: the same one again is refused (D-YMT-AUTH).
    again = channel.ChannelApp(channel.http_transport(platform.url), APP).authorise(code)
    assert not again.passed and again.reply is not None and again.reply.code == "PY2007"


def test_read_qr_tells_what_is_wrong() -> None:
    assert channel.read_qr("not base64!").problem == "qrcodeBase64 is not standard base64"
    assert "not a PNG" in (channel.read_qr("R0lGODlhAQABAAAAACw=").problem or "")
    assert channel.read_qr(None).problem


def test_cli_runs_the_flow_on_the_harness_and_keeps_the_token(platform: ServedPlatform, tmp_path: Path) -> None:
    token_file, png = tmp_path / "token", tmp_path / "qr.png"
    args = ["ymt", "channel", "--target", platform.url, "--app", APP, "--name", NAME, "--id-card", ID_CARD]
    result = CliRunner().invoke(main, [*args, "--token-out", str(token_file), "--png", str(png)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["realname", "consent", *channel.STEPS]
    assert token_file.read_text() not in result.stdout and ID_CARD not in result.stdout
    assert (token_file.stat().st_mode & 0o777) == 0o600 and png.read_bytes().startswith(channel.PNG_SIGNATURE)
    # --json, reusing the token: one object per step
    again = CliRunner().invoke(
        main, ["ymt", "channel", "--target", platform.url, "--app", APP, "--token", token_file.read_text(), "--json", "--steps", "tags"]
    )
    assert again.exit_code == 0, again.output
    rows = [json.loads(line) for line in again.stdout.strip().splitlines()]
    assert [(r["step"], r["code"], r["ok"]) for r in rows] == [("tags", "PY0000", True)]


def test_cli_json_never_prints_the_authorisation_code(platform: ServedPlatform) -> None:
    first17 = "33010619700101555"
    args = [
        "ymt",
        "channel",
        "--target",
        platform.url,
        "--app",
        APP,
        "--name",
        "孙七",
        "--id-card",
        first17 + admin.id_check_digit(first17),
    ]
    result = CliRunner().invoke(main, [*args, "--json", "--steps", "authorise"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["step"] for r in rows] == ["realname", "consent", "authorise"]
    assert all("_code" not in r and "accessToken" not in r for r in rows)
    assert first17 not in result.stdout


def test_cli_a_refused_step_exits_1(platform: ServedPlatform) -> None:
    result = CliRunner().invoke(main, ["ymt", "channel", "--target", platform.url, "--app", APP, "--code", "x" * 32])
    assert result.exit_code == 1
    assert result.stdout.split()[:2] == ["authorise", "PY2007"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--target", "ftp://x", "--app", "a", "--code", "c"], "--target must be"),
        (["--target", "http://127.0.0.1:9/ymt", "--app", "a"], "authorise needs an authorisation code"),
        (["--target", "http://127.0.0.1:9/ymt", "--app", "a", "--code", "c", "--token", "t"], "give one of"),
        (["--target", "http://127.0.0.1:9/ymt", "--app", "a", "--name", "x"], "go together"),
        (["--target", "http://127.0.0.1:9/ymt", "--app", "a", "--code", "c", "--steps", "fly"], "unknown steps"),
        (["--target", "http://127.0.0.1:9/ymt", "--app", "a", "--code", "c"], "cannot reach"),
        (["--target", "http://127.0.0.1:9/ymt", "--app", "a", "--token", "t", "--steps", "authorise"], "nothing to authorise"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args: list[str], says: str) -> None:
    result = CliRunner().invoke(main, ["ymt", "channel", *args])
    assert result.exit_code == 2, result.output
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
