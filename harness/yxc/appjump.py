"""The APP → mini-program jump of remote teaching (000 附件三, 2.2 1)).

The remote-teaching APP, once its own photo check has passed, opens the mini-program page within 2 minutes::

    pages/soild/soild-sign-in?from=app&appName={APP name}&responseType=code

and gets back ``{code, expirationtime, stunum}``; the code is later filed as the classrecord's ``logininfo``. The
harness plays the mini-program: it grades the page path and the timing, and issues (and stores) the code. Every jump
is recorded as opened (table ``yxc_app_jumps``) so that the ``yxc-app-jump`` certify role can grade an APP's jumps.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from harness import limits
from harness.conformance import catalogue
from harness.conformance.model import Requirement
from harness.errors import ConfigError
from harness.journal import now_iso
from harness.store import Store
from harness.yxc import codes

PAGE = "pages/soild/soild-sign-in"  # 000 附件三 小程序页面地址 (spelt "soild" in the seed, and so in the real page)
WINDOW_SECONDS = 120  # 000 2.2 1) 完成内部拍照验证通过后, 要求 2 分钟内跳转
FUTURE_SKEW = {"strict": 5, "tolerant": 30}  # D-YXC-APPJUMP-WINDOW: clocks of APP backend and harness differ
PARAMS = {"responseType": "code", "from": "app", "appName": None}  # 000 附件三 请求参数 (None: any non-empty value)

CLAUSE_PAGE = "000 附件三 小程序页面地址"
CLAUSE_PARAMS = "000 附件三 请求参数"
CLAUSE_WINDOW = "000 2.2 1) (2 分钟内跳转)"

APP_REQUIREMENT_IDS = ("YXC-APP-PAGE", "YXC-APP-RESPONSETYPE", "YXC-APP-FROM", "YXC-APP-APPNAME", "YXC-APP-NO-EXTRA", "YXC-APP-WINDOW")
REQUIREMENTS: tuple[Requirement, ...] = tuple(catalogue.by_id("yxc")[rid] for rid in APP_REQUIREMENT_IDS)
_BY_ID = {r.id: r for r in REQUIREMENTS}


@dataclass(frozen=True)
class Finding:
    requirement: str
    clause: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"requirement": self.requirement, "clause": self.clause, "message": self.message}


@dataclass
class AppJumpResult:
    params: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    elapsed_seconds: float | None = None
    code: codes.SignCode | None = None
    jump_id: int | None = None  # the row of yxc_app_jumps that records this jump

    @property
    def conforming(self) -> bool:
        return not self.findings

    @property
    def answer(self) -> dict[str, str] | None:
        """What the mini-program returns to the APP (000 附件三 响应)."""
        if self.code is None:
            return None
        return {"code": self.code.code, "expirationtime": self.code.expirationtime, "stunum": self.code.stunum}

    def as_dict(self) -> dict[str, Any]:
        return {
            "conforming": self.conforming,
            "jump_id": self.jump_id,
            "answer": self.answer,
            "elapsed_seconds": self.elapsed_seconds,
            "params": self.params,
            "findings": [f.as_dict() for f in self.findings],
        }


def _finding(requirement: str, message: str) -> Finding:
    req = _BY_ID[requirement]
    return Finding(requirement, f"{req.clause}; {req.decision}" if req.decision else req.clause, message)


def parse_path(path: str, profile: str = "strict") -> tuple[dict[str, str], list[Finding]]:
    """The page's parameters and every way ``path`` departs from the contract."""
    findings: list[Finding] = []
    page, _, query = path.strip().partition("?")
    # D-YXC-APPJUMP-PATH: tolerant accepts the leading "/" some SDK samples write.
    if page != PAGE and not (profile == "tolerant" and page.lstrip("/") == PAGE):
        findings.append(_finding("YXC-APP-PAGE", f"page is {page!r}, not {PAGE!r}"))
    params: dict[str, str] = {}
    for pair in query.split("&") if query else []:
        name, _, value = pair.partition("=")
        if name in params:
            findings.append(_finding("YXC-APP-NO-EXTRA", f"parameter {name!r} appears more than once"))
        params[name] = unquote(value)  # appName is usually Chinese, percent-encoded by the APP
    for name, expected in PARAMS.items():
        requirement = {"responseType": "YXC-APP-RESPONSETYPE", "from": "YXC-APP-FROM", "appName": "YXC-APP-APPNAME"}[name]
        value = params.get(name)
        if value is None:
            near = [p for p in params if p.lower() == name.lower()]
            hint = f" (found {near[0]!r}: names are case-sensitive)" if near else ""
            findings.append(_finding(requirement, f"{name} is missing{hint}"))
        elif expected is not None and value != expected:
            findings.append(_finding(requirement, f"{name}={value!r}, must be {expected!r}"))
        elif expected is None and not value.strip():
            findings.append(_finding(requirement, f"{name} is empty"))
    extra = [p for p in params if p not in PARAMS]
    if extra and profile == "strict":
        findings.append(_finding("YXC-APP-NO-EXTRA", f"unknown parameter(s) {', '.join(repr(e) for e in extra)}"))
    return params, findings


COMPACT_DIGITS = 14  # yyyyMMddHHmmss


def parse_time(value: str | int | float) -> float:
    """Epoch seconds (10 digits), epoch milliseconds (13 digits), ISO 8601, yyyy-MM-dd HH:mm:ss in Beijing time, or
    yyyyMMddHHmmss in Beijing time (the seed's own time format, 000 附件四 YYYYMMDDHHmmss; D-TIMEZONE)."""
    if isinstance(value, int) and not isinstance(value, bool) and len(str(value)) == COMPACT_DIGITS:
        return parse_time(str(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number / 1000 if number > 1e11 else number
    text = str(value).strip()
    if limits.ascii_digits(text, limits.MAX_DIGIT_STRING):  # "１７…" is no epoch time (str.isdigit accepts it)
        if len(text) == COMPACT_DIGITS:
            # 14 digits are no epoch time of this era (milliseconds reach 14 digits in the year 5138): read as
            # yyyyMMddHHmmss, never as milliseconds of the 27th century
            try:
                moment = dt.datetime.strptime(text, "%Y%m%d%H%M%S")
            except ValueError:
                raise ConfigError(
                    f"cannot read the time {value!r}: 14 digits are read as yyyyMMddHHmmss (Beijing), and this is no such time"
                ) from None
            return moment.replace(tzinfo=codes.BEIJING).timestamp()
        return parse_time(int(text))
    for parse in (dt.datetime.fromisoformat, lambda s: dt.datetime.strptime(s, codes.EXPIRATION_FORMAT)):
        try:
            moment = parse(text)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=codes.BEIJING)  # D-TIMEZONE: YXC wall-clock times are Beijing time
        return moment.timestamp()
    raise ConfigError(
        f"cannot read the time {value!r}: give epoch seconds or ms, ISO 8601, yyyy-MM-dd HH:mm:ss or yyyyMMddHHmmss (Beijing)"
    )


def app_jump(
    store: Store,
    path: str,
    stunum: str,
    photo_checked_at: str | int | float,
    *,
    opened_at: str | int | float | None = None,
    profile: str = "strict",
    ttl_seconds: int = 12 * 3600,
    source: str = "simulate",
) -> AppJumpResult:
    """Open the page as the mini-program would: grade it and, if it conforms, issue and store a sign-in code. The
    jump is recorded as opened (path, times, APP name) whatever its grade."""
    if len(stunum) != 16:  # 000 附件四 A.6.3.1.1 stunum F16
        raise ConfigError(f"stunum must be 16 characters (F16), got {len(stunum)}")
    checked = parse_time(photo_checked_at)
    # D-YXC-APPJUMP-WINDOW: measured from the moment the APP's photo check passed to the moment the page opens.
    opened = time.time() if opened_at is None else parse_time(opened_at)
    result = AppJumpResult()
    result.params, result.findings = parse_path(path, profile)
    elapsed = opened - checked
    result.elapsed_seconds = round(elapsed, 3)
    if elapsed > WINDOW_SECONDS:
        result.findings.append(
            _finding("YXC-APP-WINDOW", f"the page opened {elapsed:.0f} s after the photo check; the limit is {WINDOW_SECONDS} s")
        )
    elif -elapsed > FUTURE_SKEW[profile]:
        result.findings.append(
            _finding(
                "YXC-APP-WINDOW", f"the photo check is {-elapsed:.0f} s after the page opened (allowed clock skew {FUTURE_SKEW[profile]} s)"
            )
        )
    if result.conforming:
        # Remote teaching files only logininfo (000 附件四 A.6.3.2 #25 logoutinfo 非远程网络教学为必填): a sign-in code.
        result.code = codes.issue(store, stunum, "login", ttl_seconds, None, source="app-jump")
    result.jump_id = store.execute(
        "INSERT INTO yxc_app_jumps (at, app_name, path, stunum, photo_checked_at, opened_at, conforming, code, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            now_iso(),
            result.params.get("appName"),
            path,
            stunum,
            checked,
            opened,
            int(result.conforming),
            result.code.code if result.code else None,
            source,
        ),
    )
    return result


@dataclass(frozen=True)
class Jump:
    """One recorded jump: what the APP opened and when (000 附件三; 2.2 1))."""

    id: int
    at: str
    app_name: str | None
    path: str
    stunum: str
    photo_checked_at: float
    opened_at: float
    conforming: bool
    code: str | None
    source: str

    @property
    def elapsed_seconds(self) -> float:
        return self.opened_at - self.photo_checked_at


def jumps(store: Store, *, app_name: str | None = None, since: int | None = None, limit: int | None = None) -> list[Jump]:
    """The recorded jumps, oldest first: of one APP (its appName, as the page received it) and/or after row ``since``."""
    sql = "SELECT * FROM yxc_app_jumps WHERE id > ?"
    params: list[object] = [since or 0]
    if app_name is not None:
        sql += " AND app_name = ?"
        params.append(app_name)
    sql += " ORDER BY id" + (f" LIMIT {int(limit)}" if limit else "")
    return [_jump(dict(row)) for row in store.query(sql, params)]


def _jump(row: dict[str, object]) -> Jump:
    row["conforming"] = bool(row["conforming"])
    return Jump(**row)  # type: ignore[arg-type]


def app_names(rows: Iterable[Jump]) -> list[str]:
    return sorted({j.app_name for j in rows if j.app_name})
