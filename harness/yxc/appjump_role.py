"""Role ``yxc-app-jump``: a remote-teaching APP's jumps to the mini-program (000 附件三; 2.2 1)).

The vendor's APP (or its test build) opens the mini-program page ``pages/soild/soild-sign-in?from=app&appName=…&
responseType=code`` within 2 minutes after its own photo check. In the harness the mini-program is played by the
control endpoint ``POST /_harness/yxc/app-jump`` (or ``harness simulate yxc-app-jump``), which records every jump as
opened (table ``yxc_app_jumps``). This role grades the recorded jumps of one session: those of ``--app-name`` (the
appName the page received) and/or those after jump ``--since``.

Each rule is graded on every jump of the session, from what was recorded, the same under either profile: a form only
the tolerant reading of a decision accepts (a leading "/", a clock skew between 5 and 30 s) is a WARNING naming the
decision. The page, the three 必填 parameters and the 2-minute window are MUST; no extra parameters is SHOULD (the
seed lists three parameters and forbids no others).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.conformance import catalogue, sessions
from harness.conformance.engine import CheckSet, failed, passed, skipped
from harness.conformance.engine import run as run_checks
from harness.conformance.model import CheckResult, Event, Evidence, Requirement
from harness.conformance.roles import CommonOptions, RoleOption
from harness.conformance.sessions import Window
from harness.errors import ConfigError
from harness.schema import open_store
from harness.specs import spec_sha256
from harness.yxc import appjump

SPEC_FILES = ("yxc/requirements.yaml", "decisions.yaml")
CLAUSE_JUMPS = "000 2.2 1) (跳转至粤学车服务小程序); 000 附件三"
MAX_EVIDENCE = 3


@dataclass
class Session:
    """What the checks read: the selection and the recorded jumps, oldest first."""

    app_name: str | None
    since: int | None
    jumps: list[appjump.Jump] = field(default_factory=list)
    session: str | None = None  # the certification session whose jumps these are (recorded while it was open)

    @property
    def what(self) -> str:
        parts = [f"appName {self.app_name!r}" if self.app_name is not None else "any appName"]
        nameless = sum(1 for j in self.jumps if not j.app_name)
        if self.app_name is not None and nameless:
            parts[0] += f" (and {nameless} jump(s) without appName, which name no other APP)"
        if self.session is not None:
            parts.append(f"recorded during certification session {self.session}")
        if self.since is not None:
            parts.append(f"after jump #{self.since}")
        if self.session is None and self.since is None:
            parts.append("every recorded jump (no --since and no session: earlier runs included)")
        return ", ".join(parts)


def jump_evidence(jump: appjump.Jump, note: str = "") -> Evidence:
    """A recorded jump as evidence: the page as opened and the two moments the window is measured between."""
    where = f"jump #{jump.id} at {jump.at} ({jump.source})"
    return Evidence(
        note=f"{note} ({where})" if note else where,
        request={
            "method": "OPEN",
            "url": jump.path,
            "body": {
                "stunum": jump.stunum,
                "photo_checked_at": round(jump.photo_checked_at, 3),
                "opened_at": round(jump.opened_at, 3),
                "elapsed_seconds": round(jump.elapsed_seconds, 3),
            },
            "jump_id": jump.id,
        },
    )


CHECKS = CheckSet()


@CHECKS.check(
    "app-jumps",
    title="The APP opened the mini-program page in this session",
    clause=CLAUSE_JUMPS,
    level="MUST",  # 2.2 1) 要求 … 跳转至粤学车服务小程序: without a jump there is nothing the APP did
)
def app_jumps(s: Session) -> Any:
    if not s.jumps:
        return failed(f"no jump recorded for {s.what}: the APP must open pages/soild/soild-sign-in (here: POST /_harness/yxc/app-jump)")
    names = appjump.app_names(s.jumps)
    return passed(
        f"{len(s.jumps)} jump(s) recorded for {s.what} (appName: {', '.join(names) or 'none'})",
        jump_evidence(s.jumps[0], "first jump"),
    )


def _path_rule(check_id: str, requirement: Requirement) -> Callable[[Session], Any]:
    """Grade one rule of the page contract on every jump: the strict reading's finding that the tolerant reading also
    makes is FAILED; one only the strict reading makes is a WARNING naming the decision."""

    def grade(s: Session) -> Any:
        if not s.jumps:
            return skipped(f"no jump recorded for {s.what} to judge")
        check = CHECKS.get(check_id)
        hard: list[Evidence] = []
        soft: list[Evidence] = []
        for jump in s.jumps:
            strict = [f for f in appjump.parse_path(jump.path, "strict")[1] if f.requirement == requirement.id]
            tolerant = [f for f in appjump.parse_path(jump.path, "tolerant")[1] if f.requirement == requirement.id]
            if tolerant:
                hard.append(jump_evidence(jump, "; ".join(f.message for f in tolerant)))
            elif strict:
                soft.append(jump_evidence(jump, "; ".join(f.message for f in strict)))
        return _grade(check, requirement, len(s.jumps), hard, soft)

    return grade


def _grade(check: Any, requirement: Requirement, judged: int, hard: list[Evidence], soft: list[Evidence]) -> list[CheckResult]:
    results = []
    if hard:
        results.append(check.result("failed", f"{len(hard)} of {judged} jumps: {hard[0].note}", *hard[:MAX_EVIDENCE]))
    if soft:
        message = f"{len(soft)} of {judged} jumps only the tolerant reading of {requirement.decision} accepts: {soft[0].note}"
        results.append(check.result("warning", message, *soft[:MAX_EVIDENCE], decision=requirement.decision))
    if not results:
        results.append(check.result("passed", f"{judged} of {judged} jumps: {requirement.text}"))
    return results


def _window(s: Session) -> Any:
    """000 2.2 1) 2 分钟内跳转, measured from the APP's photo check to the page opening (D-YXC-APPJUMP-WINDOW)."""
    if not s.jumps:
        return skipped(f"no jump recorded for {s.what} to judge")
    requirement = REQUIREMENTS["YXC-APP-WINDOW"]
    hard: list[Evidence] = []
    soft: list[Evidence] = []
    strict_skew, tolerant_skew = appjump.FUTURE_SKEW["strict"], appjump.FUTURE_SKEW["tolerant"]
    for jump in s.jumps:
        elapsed = jump.elapsed_seconds
        if elapsed > appjump.WINDOW_SECONDS:
            hard.append(
                jump_evidence(jump, f"the page opened {elapsed:.0f} s after the photo check; the limit is {appjump.WINDOW_SECONDS} s")
            )
        elif -elapsed > tolerant_skew:
            hard.append(
                jump_evidence(jump, f"the photo check is {-elapsed:.0f} s after the page opened (clock skew over {tolerant_skew} s)")
            )
        elif -elapsed > strict_skew:
            soft.append(jump_evidence(jump, f"the photo check is {-elapsed:.0f} s after the page opened (strict skew {strict_skew} s)"))
    return _grade(CHECKS.get("app-window"), requirement, len(s.jumps), hard, soft)


REQUIREMENTS = {r.id: r for r in appjump.REQUIREMENTS}
PATH_CHECKS = (
    ("app-page", "YXC-APP-PAGE", "MUST"),
    ("app-responsetype", "YXC-APP-RESPONSETYPE", "MUST"),
    ("app-from", "YXC-APP-FROM", "MUST"),
    ("app-appname", "YXC-APP-APPNAME", "MUST"),
    ("app-no-extra", "YXC-APP-NO-EXTRA", "SHOULD"),
)
for _check_id, _rid, _level in PATH_CHECKS:
    _req = REQUIREMENTS[_rid]
    CHECKS.check(_check_id, title=_req.text, clause=_req.clause, requirements=(_rid,), level=_level)(_path_rule(_check_id, _req))
CHECKS.check(
    "app-window",
    title=REQUIREMENTS["YXC-APP-WINDOW"].text,
    clause=f"{REQUIREMENTS['YXC-APP-WINDOW'].clause}; D-YXC-APPJUMP-WINDOW",
    requirements=("YXC-APP-WINDOW",),
    level="MUST",
)(_window)


class YxcAppJumpRole:
    """``harness certify yxc-app-jump``: grade the jumps a remote-teaching APP made to the harness's mini-program page."""

    name = "yxc-app-jump"
    platform = "yxc"
    checks = CHECKS
    summary = "Certify a remote-teaching APP's jumps to the mini-program (000 附件三), graded from the recorded jumps."
    description = (
        "Certify a YXC remote-teaching APP (000 附件三; 2.2 1)): its test build opens the mini-program page through "
        "POST /_harness/yxc/app-jump (or harness simulate yxc-app-jump), which records every jump; this role grades the "
        "jumps of --app-name (the appName the page received) and/or after jump --since: the page path, responseType=code, "
        "from=app, a non-empty appName, the 2-minute window after the APP's photo check, and (SHOULD) no other parameters."
    )
    options = (
        RoleOption("app_name", "Grade the jumps whose appName is this (the APP's name, as it sends it)."),
        RoleOption("since", "Grade only jumps recorded after this jump id (a fresh session; the control API returns jump_id).", type=int),
    )

    session_capable = True  # `harness certify start yxc-app-jump` / `finish`: the jumps recorded while the session was open

    def __init__(self, common: CommonOptions, app_name: str | None = None, since: int | None = None, window: Window | None = None) -> None:
        if app_name is not None and not app_name.strip():
            raise ConfigError("--app-name must not be empty")
        if since is not None and since < 0:
            raise ConfigError("--since must be a jump id (0 or more)")
        self.common = common
        self.app_name = app_name
        self.since = since
        self.window = window  # a certification session's (harness certify finish)

    def _jumps(self, store: Any) -> tuple[list[appjump.Jump], str | None]:
        bounded = self.since is not None or (self.window is not None and self.window.session is not None)
        if self.app_name is not None and bounded:
            # A jump without appName (missing or empty, 附件三 appName 必填) names no APP, so no other APP's run can
            # claim it: within a bounded run (a session, or after --since) it is graded as this APP's, and app-appname
            # fails on it instead of app-jumps reporting that the APP never jumped.
            recorded = [j for j in appjump.jumps(store, since=self.since) if j.app_name in (self.app_name, None, "")]
        else:
            recorded = appjump.jumps(store, app_name=self.app_name, since=self.since)
        if self.window is None or self.window.session is None:
            return recorded, None
        # One session's jumps: those recorded while it was open (the page is the control API's, not journaled).
        found = sessions.get(store, self.window.session)
        if found is None:  # finish always names a stored session; nothing else can be this session's
            return [], self.window.session
        opened, closed = found.created_at, found.finished_at
        return [j for j in recorded if j.at >= opened and (closed is None or j.at <= closed)], found.id

    def run(self, seed: int) -> Iterator[Event]:
        store = open_store(self.common.db)
        try:
            recorded, session_id = self._jumps(store)
            session = Session(self.app_name, self.since, recorded, session_id)
            yield from run_checks(
                role=self.name,
                platform=self.platform,
                target=f"YXC remote-teaching APP ({session.what}), jumps recorded in {self.common.db}",
                checks=self.checks,
                context=session,
                seed=seed,
                options={
                    "app_name": self.app_name,
                    "since": self.since,
                    "session": session_id,
                    "graded": session.what,
                    "profile": self.common.profile,
                    "db": str(self.common.db),
                },
                spec_hashes={f"specs/{f}": spec_sha256(f) for f in SPEC_FILES},
                requirements=catalogue.load(self.platform),
            )
        finally:
            store.close()
