"""Certify roles for ZJPX, built on harness.conformance.engine (the lead wires them to `harness certify`).

- ``zjpx-learning-platform-server``: the vendor serves Z11 thirdCoursePull and Z10 pushClassInfo; the harness pulls the
  vendor's own course packages, pushes a class on one of them and grades the accounts (the seed's order).
- ``zjpx-learning-platform-client``: the vendor's learning platform called the harness; it is graded from the journal
  (every exchange under its studyPlatformCode, with the verdicts the reference recorded) and the study sessions.

Each role's ``run(seed)`` yields engine events and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness import limits
from harness.conformance import catalogue
from harness.conformance.engine import CheckSet, TargetUnreachable, failed, passed, review, run, skipped
from harness.conformance.findings import entry_evidence
from harness.conformance.model import CheckResult, Event, Evidence, NonFatalError, Requirement, RunStarted
from harness.conformance.negative import broken_constraints, describe
from harness.conformance.roles import SINCE_OPTION, CommonOptions, RoleOption, open_subject_store
from harness.conformance.sessions import Window
from harness.conformance.validity import target_validity
from harness.errors import ConfigError
from harness.journal import Journal
from harness.masking import mask_text
from harness.schema import open_store
from harness.specs import spec_sha256
from harness.store import Store
from harness.zjpx.vendor import (
    PULL_PATH,
    PUSH_PATH,
    SPEC,
    Exchanged,
    VendorClient,
    VendorUnreachable,
    account_problems,
    envelope,
    page_of,
    request_schema,
)


def requirements() -> tuple[Requirement, ...]:
    """The whole ZJPX catalogue (specs/zjpx/requirements.yaml), the one naming authority: the engine keeps, for each
    role, the entries the catalogue assigns to it (``roles``) or that its checks name."""
    return catalogue.load("zjpx")


def _evidence(x: Exchanged, note: str = "", broken: list[dict[str, str]] | None = None) -> Evidence:
    # Personal data stays out of reports: the learner list is summarised, never copied.
    request = dict(x.request) if isinstance(x.request, dict) else {"document": repr(x.request)[:200]}
    data = request.get("data")
    if isinstance(data, dict) and isinstance(data.get("thirdClassStudentInfoVoList"), list):
        request = dict(request, data=dict(data, thirdClassStudentInfoVoList=f"<{len(data['thirdClassStudentInfoVoList'])} learners>"))
    reply = x.reply
    if isinstance(reply, dict) and isinstance(reply.get("returnData"), list) and x.path.endswith("pushClassInfo"):
        reply = dict(reply, returnData=f"<{len(reply['returnData'])} accounts>")
    sent: dict[str, Any] = {"method": "POST", "url": x.path, "body": request}
    if broken is not None:
        sent["broken"] = broken
    return Evidence(note, sent, {"status": x.status, "body": reply})


# --- zjpx-learning-platform-server ------------------------------------------------------------------------------------
# The seed's order (002 §1.14, §1.12): the supervision platform pulls the learning platform's own course packages,
# approves a class on one of them and pushes it; the platform answers one login account per learner.
SERVER = CheckSet()


@dataclass
class ServerContext:
    vendor: VendorClient
    seed: int
    students: int
    page_size: int
    fuzz_examples: int = 5
    pages: list[Exchanged] = field(default_factory=list)
    packages: list[dict[str, Any]] = field(default_factory=list)
    beyond: list[Exchanged] = field(default_factory=list)  # pages past totalPage, walked while they list new courses
    hidden: list[str] = field(default_factory=list)  # course codes listed only past totalPage
    pushed: dict[str, Any] = field(default_factory=dict)
    push: Exchanged | None = None

    def call(self, fn: Any, *args: Any) -> Exchanged:
        try:
            return fn(*args)
        except VendorUnreachable as exc:
            raise TargetUnreachable(str(exc)) from None


MAX_PAGES = 200  # thirdCoursePull pages walked at most (a totalPage beyond this is reported, not followed)


def _walk_pages(ctx: ServerContext) -> list[Exchanged]:
    if not ctx.pages:
        first = ctx.call(ctx.vendor.pull, 1, ctx.page_size)
        ctx.pages = [first]
        total, _ = page_of(first.reply)
        for page in range(2, min(total or 1, MAX_PAGES) + 1):
            ctx.pages.append(ctx.call(ctx.vendor.pull, page, ctx.page_size))
        ctx.packages = [c for x in ctx.pages for c in page_of(x.reply)[1] if isinstance(c, dict)]
        if total is not None and total < MAX_PAGES:
            _walk_beyond(ctx, total)
    return ctx.pages


def _course_key(item: Any) -> str:
    return str(item.get("courseCode")) if isinstance(item, dict) else repr(item)


def _walk_beyond(ctx: ServerContext, total: int) -> None:
    """Pages past totalPage: the first always (ZJPX-S-PAGES-PAST-LAST judges what it holds), then on while each lists
    courses no page before it did. Courses there that pages 1..totalPage never listed prove totalPage wrong: a
    supervision platform that follows totalPage (§1.14.5 总页码数) never sees them."""
    seen = {_course_key(c) for x in ctx.pages for c in page_of(x.reply)[1]}
    for page in range(total + 1, MAX_PAGES + 1):
        x = ctx.call(ctx.vendor.pull, page, ctx.page_size)
        ctx.beyond.append(x)
        new = [k for k in (_course_key(c) for c in page_of(x.reply)[1]) if k not in seen]
        if not new:
            return
        ctx.hidden += new
        seen.update(new)


# The reading of the seed a vendor followed when its reply breaks the strict reading under a decision (what the
# decision's tolerant treatment allows, in the seed's own words).
READINGS = {
    "D-ZJPX-PULL-SHAPE": "the §1.14.5 table's placement (the page and its list under returnData) or page fields as digit strings",
    "D-ZJPX-NUMSTR": 'the examples\' digit strings for 整型/数字 fields (§1.14.4: "chapterSort": "1", "duration": "50")',
    "D-ZJPX-COURSE-STATUS": 'the §1.14.4 example\'s "courseStatus": "0"',
    "D-ZJPX-UUID32": "codes that are not 32 hexadecimal characters, as the examples' codes (3dkff54kk3343kr56rew3loodkciewoe1)",
    "D-ZJPX-CHAPTER-KEY": "the example's chapter keys",
    "D-ZJPX-EXTRA-FIELDS": "fields beyond the table, as the examples carry",
    "D-ZJPX-PULL-FIELDS": "the §1.14.5 table's fields only (it lists no studyPlatformCode, courseStatus, chapterSort or sectionSort; the §1.14.4 example carries them)",
}


def _seed_form(check_id: str, what: str, xs: list[Exchanged], clause: str) -> Any:
    """A WARNING for replies that break the strict reading but follow a form the seed itself shows (its table or its
    example), naming the decision(s) and the reading the vendor followed."""
    odd = [x for x in xs if x.seed_form_only]
    decisions = sorted({d for x in odd for d in x.decisions}) or ["D-ZJPX-NUMSTR"]
    readings = "; ".join(f"{d}: {READINGS.get(d, 'a form the seed shows')}" for d in decisions)
    errors = odd[0].strict_errors
    detail = "; ".join(errors[:3]) + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")
    return SERVER.get(check_id).result(
        "warning",
        f"{what} follows a form the seed shows where it contradicts itself, not the strict reading of its table. Reading "
        f"followed: {readings}. Where the strict reading differs: {detail}. Both are the seed's own forms: a warning, not a failure.",
        *[_evidence(x) for x in odd[:2]],
        clause=clause,
        decision=decisions[0] if len(decisions) == 1 else ", ".join(decisions),
    )


@SERVER.check(
    "ZJPX-S-PULL",
    title="thirdCoursePull lists the platform's course packages in one of the seed's forms",
    clause="002 §1.14.4, §1.14.5 (数量 >1)",
    requirements=("ZJPX-Z11-SHAPE",),
)
def pull_shape(ctx: ServerContext) -> Any:
    pages = _walk_pages(ctx)
    for number, x in enumerate(pages, 1):
        if not x.ok:
            return failed(f'page {number}: returnCode is not "0"', _evidence(x))
        if x.schema_errors:
            return failed(f"page {number}: " + "; ".join(x.schema_errors[:3]), _evidence(x))
    if not ctx.packages:
        return failed(
            "thirdCoursePull lists no course package: §1.14.5 gives every course field the count >1 (one or more), and a "
            "class can only be pushed on one of the platform's packages (D-ZJPX-PULL-EMPTY)",
            _evidence(pages[0]),
        )
    if any(x.seed_form_only for x in pages):
        return _seed_form("ZJPX-S-PULL", "thirdCoursePull", pages, "002 §1.14.4 example vs §1.14.5 table")
    return passed(
        f"{len(ctx.packages)} course package(s) on {len(pages)} page(s), as the seed's table and example say", _evidence(pages[0])
    )


@SERVER.check(
    "ZJPX-S-PAGES",
    title="pages are consistent: totalPage, pageSize honoured, no duplicates or gaps",
    clause="002 §1.14.2 pageNo/pageSize (每页返回条数), §1.14.5 totalPage (总页码数)",
    requirements=("ZJPX-Z11-PAGES",),
)
def pages_consistent(ctx: ServerContext) -> Any:
    pages = _walk_pages(ctx)
    total, _ = page_of(pages[0].reply)
    if total is None:
        return failed("totalPage is missing", _evidence(pages[0]))
    if not ctx.packages:
        return skipped("thirdCoursePull lists no course package: no page to judge")
    seen: dict[str, int] = {}
    for number, x in enumerate(pages, 1):
        page_total, items = page_of(x.reply)
        if page_total != total:
            return failed(f"page {number} says totalPage {page_total}, page 1 said {total}", _evidence(x))
        if len(items) > ctx.page_size:
            return failed(f"page {number} has {len(items)} courses for pageSize {ctx.page_size}", _evidence(x))
        if number < total and len(items) < ctx.page_size:
            return failed(f"page {number} of {total} has only {len(items)} courses (a gap before the last page)", _evidence(x))
        for item in items:
            code = _course_key(item)
            if code in seen:
                return failed(f"course {code} appears on page {seen[code]} and again on page {number}", _evidence(x))
            seen[code] = number
    if ctx.hidden:
        shown = [x for x in ctx.beyond if any(_course_key(c) in ctx.hidden for c in page_of(x.reply)[1])]
        return failed(
            f"totalPage {total} is wrong: page(s) past it list {len(ctx.hidden)} course(s) that pages 1..{total} never "
            f"listed, so a supervision platform that follows totalPage (§1.14.5 总页码数) never sees {len(ctx.hidden)} of "
            f"{len(seen) + len(ctx.hidden)} course packages",
            *[_evidence(x, f"page past totalPage {total}") for x in shown[:2]],
        )
    walked = f" (the first {len(pages)} of {total} pages walked; raise --page-size to see all)" if total > len(pages) else ""
    return passed(f"{len(seen)} courses on {len(pages)} page(s) of {ctx.page_size}, each once{walked}")


@SERVER.check(
    "ZJPX-S-PAGES-PAST-LAST",
    title="a page past totalPage lists no course",
    clause="002 §1.14.5 totalPage (总页码数)",
    requirements=("ZJPX-Z11-PAST-LAST",),
    level="SHOULD",
)
def pages_past_last(ctx: ServerContext) -> Any:
    pages = _walk_pages(ctx)
    total, _ = page_of(pages[0].reply)
    if total is None:
        return skipped("no usable totalPage (ZJPX-S-PAGES says why)")
    if not ctx.packages:
        return skipped("thirdCoursePull lists no course package: an empty page past the last shows nothing")
    beyond = ctx.beyond[0] if ctx.beyond else ctx.call(ctx.vendor.pull, total + 1, ctx.page_size)
    listed = page_of(beyond.reply)[1]
    if listed:
        new = sum(1 for c in listed if _course_key(c) in ctx.hidden)
        how = f" ({new} of them on no page up to totalPage: ZJPX-S-PAGES fails for it)" if new else " (repeating courses already listed)"
        return failed(f"page {total + 1} (past totalPage {total}) still lists {len(listed)} course(s){how}", _evidence(beyond))
    return passed(f"page {total + 1} lists nothing", _evidence(beyond))


def _chapters(items: Any) -> Iterator[dict[str, Any]]:
    for chapter in items if isinstance(items, list) else []:
        if isinstance(chapter, dict):
            yield chapter
            yield from _chapters(chapter.get("chapterList"))


def _tree_problems(package: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """(wrong section parents, chapter parents naming neither course nor enclosing chapter, repeated codes) of one
    course package (§1.14.5 parentChapterCode, parentSectionCode)."""
    course = str(package.get("courseCode"))
    wrong: list[str] = []
    odd_parent: list[str] = []
    codes: dict[str, list[str]] = {"chapterCode": [], "sectionCode": [], "resCode": []}

    def walk(items: Any, parents: tuple[str, ...]) -> None:
        # §1.14.5 calls parentChapterCode 章父节点编码（课程编码）: the course code; a nested chapter (as in the §1.14.4
        # example) may also name its enclosing chapter (D-ZJPX-COURSE-STATUS). The example's second chapter names
        # neither (D-ZJPX-CHAPTER-PARENT): one of the seed's own forms, so a WARNING, not a failure.
        for chapter in items if isinstance(items, list) else []:
            if not isinstance(chapter, dict):
                continue
            code = str(chapter.get("chapterCode"))
            codes["chapterCode"].append(code)
            given = chapter.get("parentChapterCode", chapter.get("parentChapertCode"))
            if given is not None and str(given) not in parents:
                odd_parent.append(f"chapter {code}: parentChapterCode {given} names neither its course nor its enclosing chapter")
            for section in chapter.get("sectionList") or []:
                if not isinstance(section, dict):
                    continue
                codes["sectionCode"].append(str(section.get("sectionCode")))
                if section.get("parentSectionCode") is not None and str(section.get("parentSectionCode")) != code:
                    wrong.append(
                        f"section {section.get('sectionCode')}: parentSectionCode {section.get('parentSectionCode')}, not its chapter {code}"
                    )
                codes["resCode"].extend(str(r.get("resCode")) for r in section.get("sectionSourceList") or [] if isinstance(r, dict))
            walk(chapter.get("chapterList"), (course, code))

    walk(package.get("chapterList"), (course,))
    repeated = [f"{key} {c}" for key, values in codes.items() for c in sorted({v for v in values if values.count(v) > 1})]
    return wrong, odd_parent, repeated


@SERVER.check(
    "ZJPX-S-TREE",
    title="each course package's tree is consistent: chapters under their course, sections under their chapter",
    clause="002 §1.14.5 parentChapterCode (章父节点编码（课程编码）), parentSectionCode (父章节编码)",
    requirements=("ZJPX-Z11-TREE",),
)
def tree_consistent(ctx: ServerContext) -> Any:
    _walk_pages(ctx)
    if not ctx.packages:
        return skipped("thirdCoursePull lists no course package: no tree to judge")
    check = SERVER.get("ZJPX-S-TREE")
    repeats: list[str] = []
    parents: list[str] = []
    for package in ctx.packages:
        wrong, odd_parent, repeated = _tree_problems(package)
        if wrong:
            return failed(f"course {package.get('courseCode')}: " + "; ".join(wrong[:3]))
        repeats += [f"course {package.get('courseCode')}: {r}" for r in repeated]
        parents += [f"course {package.get('courseCode')}: {p}" for p in odd_parent]
    results = []
    if parents:
        results.append(
            check.result(
                "warning",
                "a chapter's parentChapterCode names neither its course nor its enclosing chapter, as the §1.14.4 example's "
                'second chapter does ("parentChapterCode": "432r54kk3343kr56rew3loodkciewoew"), where §1.14.5 says '
                "章父节点编码（课程编码）. Reading followed: the example's. Both are the seed's own forms: a warning, not a "
                "failure (D-ZJPX-CHAPTER-PARENT): " + "; ".join(parents[:3]) + (f" (+{len(parents) - 3} more)" if len(parents) > 3 else ""),
                clause="002 §1.14.5 parentChapterCode (章父节点编码（课程编码）) vs §1.14.4 example",
                decision="D-ZJPX-CHAPTER-PARENT",
            )
        )
    if repeats:
        results.append(
            check.result(
                "warning",
                "codes repeat within a course, as the seed's own example does (D-ZJPX-COURSE-STATUS; the strict reading wants "
                "them unique): " + "; ".join(repeats[:4]),
                decision="D-ZJPX-COURSE-STATUS",
            )
        )
    if results:
        return results
    chapters = sum(1 for p in ctx.packages for _ in _chapters(p.get("chapterList")))
    return passed(f"{len(ctx.packages)} package(s), {chapters} chapter(s): every parent code names its parent, every code once")


def _package_to_push(ctx: ServerContext) -> dict[str, Any] | None:
    from fixtures.zjpx import package_videos

    return next((p for p in ctx.packages if package_videos(p) > 0), None)


@SERVER.check(
    "ZJPX-S-PUSH",
    title="pushClassInfo accepts a class on one of the platform's own course packages",
    clause="002 §1.12.1 (审核通过之后…推送到线上职业培训平台), §1.12.3, §1.12.4",
    requirements=("ZJPX-Z10-ACCEPT",),
)
def push_accepted(ctx: ServerContext) -> Any:
    from fixtures.zjpx import ZjpxData

    _walk_pages(ctx)
    package = _package_to_push(ctx)
    if package is None:
        return skipped("thirdCoursePull listed no course package with a video: there is no course to push a class on")
    data = ZjpxData(ctx.seed)
    intake = data.class_on_package(package, students=ctx.students, video_on_hook=2, trigger_type=1, trigger_value=5)
    ctx.pushed = ZjpxData.push_class_info(intake, strict=True)
    ctx.push = ctx.call(ctx.vendor.push_class, ctx.pushed)
    course = package.get("courseCode")
    if not ctx.push.ok:
        return failed(f'pushClassInfo did not answer returnCode "0" to a class on the platform\'s own course {course}', _evidence(ctx.push))
    if ctx.push.schema_errors:
        return failed("; ".join(ctx.push.schema_errors[:3]), _evidence(ctx.push))
    if ctx.push.seed_form_only:
        return _seed_form("ZJPX-S-PUSH", "the pushClassInfo reply", [ctx.push], "002 §1.12.4 example vs §1.12.5 table")
    return passed(f"a class of {ctx.students} learner(s) on course {course} was accepted", _evidence(ctx.push))


@SERVER.check(
    "ZJPX-S-ACCOUNTS",
    title="one login account per pushed learner, and the password rule",
    clause="002 §1.12.1 (推送成功后接收学习平台返回过来的学员登录账号), §1.12.5 passwordRules, studentUserAccount",
    requirements=("ZJPX-Z10-ACCOUNTS",),
)
def accounts_returned(ctx: ServerContext) -> Any:
    if ctx.push is None:
        return skipped("no class was pushed (no course package to push one on)")
    if not ctx.push.ok:
        return skipped("the class was refused, so no account was due (ZJPX-S-PUSH failed)")
    problems = account_problems(ctx.pushed, ctx.push.reply)
    if problems:
        return failed("; ".join(problems), _evidence(ctx.push))
    n = len(ctx.pushed["thirdClassStudentInfoVoList"])
    return passed(f"{n} learners, {n} distinct accounts, passwordRules stated", _evidence(ctx.push))


@SERVER.check(
    "ZJPX-S-PASSWORD-RULE",
    title="the password rule tells a learner how to log in",
    clause="002 §1.12.5 passwordRules (默认密码规则，例如：身份证后六位)",
    requirements=("ZJPX-Z10-PASSWORD-RULE",),
    level="REVIEW",
)
def password_rule(ctx: ServerContext) -> Any:
    if ctx.push is None or not ctx.push.ok or not isinstance(ctx.push.reply, dict):
        return skipped("no class was accepted, so no password rule was stated")
    rule = str(ctx.push.reply.get("passwordRules") or "").strip()
    if not rule:
        return skipped("no passwordRules was stated (ZJPX-S-ACCOUNTS fails for it)")
    return review(
        f"passwordRules is {rule!r}: judge whether a learner can derive the first password from it and the accounts "
        "(the seed's example: 身份证后六位)",
        Evidence(f"passwordRules: {rule}"),
    )


RECEIVER_CHECKS = "D-ZJPX-RECEIVER-CHECKS"  # refusing what the seed binds only the sender to is advice: the WARNING names it


@SERVER.check(
    "ZJPX-S-PUSH-NEGATIVE",
    title="pushClassInfo refuses a class without learners",
    clause="002 §1.12.2 thirdClassStudentInfoVoList (是否可空 否); D-ZJPX-RECEIVER-CHECKS",
    requirements=("ZJPX-Z10-REFUSE",),
    level="SHOULD",
)
def push_refuses_incomplete(ctx: ServerContext) -> Any:
    if not ctx.pushed:
        return skipped("no class was pushed (no course package to push one on)")
    broken_body = {k: v for k, v in ctx.pushed.items() if k != "thirdClassStudentInfoVoList"}
    x = ctx.call(ctx.vendor.push_class, broken_body)
    broken = broken_constraints(request_schema(PUSH_PATH, "strict"), envelope(broken_body), limit=3)
    if x.ok:
        return SERVER.get("ZJPX-S-PUSH-NEGATIVE").result(
            "failed",
            'a class without thirdClassStudentInfoVoList was accepted with returnCode "0" (the seed makes the sender send it; '
            "refusing is advice, D-ZJPX-RECEIVER-CHECKS)",
            _evidence(x, describe(broken), broken),
            decision=RECEIVER_CHECKS,
        )
    return passed("refused", _evidence(x, describe(broken), broken))


# The request forms the supervision side's own examples send (D-ZJPX-EXAMPLE-REQUESTS): a learning platform receives
# them from a supervision platform that copied the seed, so it must answer them in the envelope.
EXAMPLE_PAGE = "acbcf014f50741b5a6d41ef341918f1f"  # 002 §1.14.3 "pageNo" and "pageSize", as printed
EXAMPLE_STRING_FIELDS = ("realNameAuthentication", "studyHourLimit", "faceTimeLimit", "videoOnHook", "videoStartFace", "videoPlayRecord")


def example_push(body: dict[str, Any]) -> dict[str, Any]:
    """A Z10 body rewritten in the §1.12.3 example's forms: its 整型 switches and videoOnHookDetail as digit strings
    ("realNameAuthentication": "0", "videoOnHook": "0", "triggervValue": "0") and the chapter key as chapetCode."""
    out = dict(body)
    for key in EXAMPLE_STRING_FIELDS:
        if isinstance(out.get(key), int):
            out[key] = str(out[key])
    out["videoOnHookDetail"] = {k: str(v) if isinstance(v, int) else v for k, v in (body.get("videoOnHookDetail") or {}).items()}
    courses = []
    for course in body.get("thirdClassCourseInfoVoList") or []:
        chapters = [
            {("chapetCode" if k == "chapterCode" else k): v for k, v in chapter.items()} for chapter in course.get("children") or []
        ]
        courses.append(dict(course, children=chapters))
    out["thirdClassCourseInfoVoList"] = courses
    return out


def _enveloped(x: Exchanged) -> str | None:
    """Why a reply is not the {returnCode, returnMsg} envelope, or None."""
    if x.status >= 500:
        return f"HTTP {x.status}"
    if not isinstance(x.reply, dict) or not isinstance(x.reply.get("returnCode"), str) or "returnMsg" not in x.reply:
        return f"HTTP {x.status}, and the reply is not a {{returnCode, returnMsg, …}} envelope"
    return None


@SERVER.check(
    "ZJPX-S-SEED-FORMS",
    title="the request forms the seed's own examples send are answered in the envelope, never with a server error",
    clause="002 §1.12.3, §1.14.3 (request examples); §1.12.5, §1.14.5 returnCode; D-ZJPX-EXAMPLE-REQUESTS",
    requirements=("ZJPX-Z10-SEED-FORMS",),
)
def seed_forms(ctx: ServerContext) -> Any:
    """Three requests as the seed writes them: a pull with pageNo/pageSize as digit strings (D-ZJPX-NUMSTR), the
    §1.14.3 literal pull (a UUID for both), and a class in the §1.12.3 example's forms (digit strings, chapetCode).
    A server error or a reply outside the envelope fails; refusing the digit strings or chapetCode in the envelope is
    the table's strict reading, a WARNING naming the decisions; the literal UUID is no number under either reading,
    so any answer in the envelope passes."""
    from fixtures.zjpx import ZjpxData

    _walk_pages(ctx)
    cases: list[tuple[str, str, Any, tuple[str, ...]]] = [
        ("a pull with pageNo and pageSize as digit strings", "pull", {"pageNo": "1", "pageSize": str(ctx.page_size)}, ("D-ZJPX-NUMSTR",)),
        ("the §1.14.3 example's pull as printed", "pull", {"pageNo": EXAMPLE_PAGE, "pageSize": EXAMPLE_PAGE}, ()),
    ]
    package = _package_to_push(ctx)
    if package is not None:
        intake = ZjpxData(ctx.seed + 1).class_on_package(package, students=1, video_on_hook=0, trigger_type=0, trigger_value=0)
        body = example_push(ZjpxData.push_class_info(intake, strict=True))
        cases.append(("a class in the §1.12.3 example's forms", "push", body, ("D-ZJPX-NUMSTR", "D-ZJPX-CHAPTER-KEY")))
    check = SERVER.get("ZJPX-S-SEED-FORMS")
    broken: list[Evidence] = []
    refused: list[tuple[Evidence, tuple[str, ...]]] = []
    answered: list[Evidence] = []
    for label, kind, data, decisions in cases:
        x = ctx.call(ctx.vendor.post, PUSH_PATH if kind == "push" else PULL_PATH, data)
        why = _enveloped(x)
        if why:
            broken.append(_evidence(x, f"{label}: {why}"))
        elif x.reply["returnCode"] != "0" and decisions:
            refused.append((_evidence(x, f"{label}: refused with returnCode {x.reply['returnCode']!r}"), decisions))
        else:
            answered.append(_evidence(x, f"{label}: answered returnCode {x.reply['returnCode']!r} in the envelope"))
    skipped_push = "" if package is not None else " (no course package with a video was listed, so no class was pushed)"
    results = []
    if broken:
        results.append(
            check.result(
                "failed",
                f"{len(broken)} of {len(cases)} request(s) in the seed's own example forms got no envelope: "
                + "; ".join(e.note for e in broken)
                + ". A supervision platform that sends them as the seed writes them gets a server error (D-ZJPX-EXAMPLE-REQUESTS, D-HTTP-STATUS)",
                *broken[:3],
            )
        )
    if refused:
        decisions = sorted({d for _, ds in refused for d in ds})
        results.append(
            check.result(
                "warning",
                f"{len(refused)} request(s) in the seed's example forms were refused in the envelope: "
                + "; ".join(e.note for e, _ in refused)
                + ". Reading followed: the table's (整型, chapterCode); the seed's examples send these forms, so a "
                "supervision platform that copies them has its request refused (D-ZJPX-EXAMPLE-REQUESTS)",
                *[e for e, _ in refused[:3]],
                decision=", ".join(decisions),
            )
        )
    if not results:
        results.append(
            check.result(
                "passed", f"{len(cases)} request(s) in the seed's example forms answered in the envelope{skipped_push}", *answered[:3]
            )
        )
    return results


def _run_cases(operation: Any, mode: Any, judge: Any, examples: int, seed: int) -> None:
    from hypothesis import HealthCheck, assume, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable

    # Seeded from the run's seed, so a report can be reproduced; a case without a body (a negative case may mutate only
    # what this spec does not send) is rejected with assume() rather than counted, so that `examples` cases are sent.
    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: Any) -> None:
        assume(case.body is not None and not (isinstance(case.body, dict) and not case.body))
        judge(case)

    try:
        one()
    except Unsatisfiable:  # no case with a body at all: the caller reports that nothing was sent
        pass


def _mutation(case: Any) -> str | None:
    """How Schemathesis says it made a case (e.g. "violates `required` at /properties/data"), when it says."""
    phase = getattr(getattr(case, "meta", None), "phase", None)
    description = getattr(getattr(phase, "data", None), "description", None)
    return str(description) if description else None


@dataclass
class Fuzzed:
    sent: int = 0
    not_negative: int = 0  # generated "negative" cases that break no constraint of the schema (not counted)
    problems: list[tuple[str, Exchanged, list[dict[str, str]] | None]] = field(default_factory=list)


def _judge(ctx: ServerContext, path: str, body: Any, negative: bool, out: Fuzzed, mutation: str | None = None) -> None:
    if body is None or (isinstance(body, dict) and not body):
        return
    broken = broken_constraints(request_schema(path, "strict"), body) if negative else None
    if negative and not broken:
        out.not_negative += 1
        return

    x = ctx.call(ctx.vendor.send, path, body)
    out.sent += 1
    if x.status >= 500:
        out.problems.append((f"{path}: HTTP {x.status}", x, broken))
    elif not isinstance(x.reply, dict) or not isinstance(x.reply.get("returnCode"), str) or "returnMsg" not in x.reply:
        out.problems.append((f"{path}: the reply is not a {{returnCode, returnMsg, …}} envelope", x, broken))
    elif negative and x.reply["returnCode"] == "0":
        how = f" (Schemathesis: {mutation})" if mutation else ""  # the generator's own account, beside the harness's reading
        out.problems.append((f'{path}: accepted with returnCode "0" although it breaks {describe(broken or [])}{how}', x, broken))


def _fuzz(ctx: ServerContext, negative: bool) -> Any:
    """Schemathesis generates bodies from the learning-platform spec (the strict reading, whatever --profile says);
    the harness sends them with its own client."""
    if ctx.fuzz_examples <= 0:
        return skipped("fuzzing turned off (fuzz_examples=0)")
    import schemathesis
    from schemathesis.generation import GenerationMode

    from harness.specs import load_spec

    schema = schemathesis.openapi.from_dict(load_spec(SPEC, "strict"))
    mode = GenerationMode.NEGATIVE if negative else GenerationMode.POSITIVE
    out = Fuzzed()
    for result in schema.get_all_operations():
        operation = result.ok()
        _run_cases(
            operation,
            mode,
            lambda case, path=operation.path: _judge(ctx, path, case.body, negative, out, _mutation(case)),
            ctx.fuzz_examples,
            ctx.seed,
        )
    if not out.sent:  # nothing was tried, so nothing was shown
        return skipped("Schemathesis generated no request with a body (and a broken constraint, for negative cases) to send")
    if out.problems:
        # a refusal the seed does not require is advice: the negative check's WARNING names the decision it rests on
        return SERVER.get("ZJPX-S-FUZZ-NEGATIVE" if negative else "ZJPX-S-FUZZ-POSITIVE").result(
            "failed",
            f"{len(out.problems)} of {out.sent} cases: " + "; ".join(p for p, _, _ in out.problems[:3]),
            *[_evidence(x, describe(b) if b is not None else "", b) for _, x, b in out.problems[:3]],
            decision=RECEIVER_CHECKS if negative else None,
        )
    extra = f" ({out.not_negative} generated case(s) broke no constraint and were not sent)" if out.not_negative else ""
    return passed(f"{out.sent} generated requests answered as required{extra}")


@SERVER.check(
    "ZJPX-S-FUZZ-POSITIVE",
    title="generated valid requests get a ZJPX envelope, never a server error",
    clause="002 §1.12.5, §1.14.5 returnCode (数量 1); D-HTTP-STATUS",
    requirements=("ZJPX-ENVELOPE",),
)
def fuzz_positive(ctx: ServerContext) -> Any:
    return _fuzz(ctx, negative=False)


@SERVER.check(
    "ZJPX-S-FUZZ-NEGATIVE",
    title='generated invalid requests are refused (returnCode ≠ "0") in the envelope',
    clause="002 §1.12.2, §1.14.2 (是否可空 否, 字段类型); D-ZJPX-RECEIVER-CHECKS",
    requirements=("ZJPX-Z10-REFUSE-GENERATED",),
    level="SHOULD",
)
def fuzz_negative(ctx: ServerContext) -> Any:
    return _fuzz(ctx, negative=True)


class LearningPlatformServerRole:
    name = "zjpx-learning-platform-server"
    platform = "zjpx"
    description = "The vendor's learning platform serves thirdCoursePull (Z11) and pushClassInfo (Z10)."
    checks = SERVER

    def __init__(
        self,
        target: str,
        profile: str = "strict",
        client: httpx.Client | None = None,
        students: int = 3,
        page_size: int = 2,
        fuzz_examples: int = 5,
        ca_bundle: str | None = None,
    ) -> None:
        # ``profile`` is recorded only: both readings of the seed are applied on every run (a form the seed itself
        # shows passes with a WARNING naming its decision), so the verdict never depends on it.
        self.target, self.profile, self.client, self.students, self.page_size = target, profile, client, students, page_size
        self.fuzz_examples = fuzz_examples  # per operation and mode (positive, negative); 0 turns fuzzing off
        self.ca_bundle = ca_bundle

    def run(self, seed: int) -> Iterator[Event]:
        validity = target_validity(self.target, ca_bundle=self.ca_bundle, check_chain=self.client is None)
        context = ServerContext(VendorClient(self.target, "strict", self.client), seed, self.students, self.page_size, self.fuzz_examples)
        events = run(
            role=self.name,
            platform=self.platform,
            target=self.target,
            checks=SERVER,
            context=context,
            seed=seed,
            options={
                "students": self.students,
                "page_size": self.page_size,
                "fuzz_examples": self.fuzz_examples,
                "validity": validity.summary(),
            },
            spec_hashes={"specs/zjpx/learning-platform.yaml": spec_sha256(SPEC)},
            requirements=requirements(),
            certification_valid=validity.valid,
        )
        for event in events:
            yield event
            if isinstance(event, RunStarted) and not validity.valid:
                yield NonFatalError(validity.summary())


# --- journal-graded roles -------------------------------------------------------------------------------------------
# The §2 interfaces are the business platform's (zjpx-business-platform grades them); the learning-platform client role
# grades everything else the account sent. Both log in with the same account (D-ZJPX-BUSINESS-AUTH).
BUSINESS_OPERATIONS = ("teacherInfo", "courseInfo", "studentInfo", "classInfo", "classStudentStudy")


def journal_entries(store: Store, platform_code: str, window: Window | int | None = None) -> list[dict[str, Any]]:
    """Every exchange journaled under a studyPlatformCode in a window (a certification session's, or everything after
    an id), oldest first: what the journal-graded ZJPX roles read. In a session that includes its calls the gate refused
    before it could name the platform (Window.attributed): they are graded as refused, never read as missing. Fuzz
    traffic is never in a window."""
    if not isinstance(window, Window):
        window = Window(after_id=window)
    return Journal(store).query(platform="zjpx", where=window.attributed(platform_code), limit=None, ascending=True)


def reply_code(entry: dict[str, Any]) -> str | None:
    """The returnCode the reference answered (the primary fact; ``outcome`` is derived from the verdicts)."""
    reply = entry.get("reply")
    return str(reply.get("returnCode")) if isinstance(reply, dict) and reply.get("returnCode") is not None else None


def request_data(entry: dict[str, Any]) -> Any:
    """The ``data`` of a journaled request (None when the body was not JSON or was cut for the journal)."""
    if entry.get("request_truncated") or not entry.get("request_body"):
        return None
    try:
        document = limits.loads(entry["request_body"])  # a body beyond the input limits was refused: no data
    except ValueError:
        return None
    return document.get("data") if isinstance(document, dict) else None


def status_of(result: Any) -> str:
    """The status of what a check function returns (a ``(status, message, evidence)`` tuple or a CheckResult)."""
    return result.status if isinstance(result, CheckResult) else str(result[0])


@dataclass
class JournalContext:
    store: Store
    platform_code: str
    entries: list[dict[str, Any]]

    def verdicts(self, *rule_ids: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The journaled verdicts of those rules, their messages with every ID and mobile number masked: a message
        becomes a check's message, printed on the console and kept in the report."""
        return [
            (e, dict(v, message=mask_text(str(v.get("message", ""))))) for e in self.entries for v in e["verdicts"] if v["rule"] in rule_ids
        ]

    def failures(self, *rule_ids: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(e, v) for e, v in self.verdicts(*rule_ids) if not v["held"]]

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e["operation"] == operation]

    def accepted(self, operation: str) -> list[dict[str, Any]]:
        return [e for e in self.calls(operation) if reply_code(e) == "0"]


ClientContext = JournalContext


def _kinds_first(found: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The verdicts with one of each kind (rule and decision) first, then the repeats, each part in journal order: a
    seed form repeated on every call (user_token, no studyPlatformApiUrl) must not push a different finding, such as a
    wrong ID check character, past the five the message and the evidence show."""
    seen: set[tuple[Any, Any]] = set()
    first: list[tuple[dict[str, Any], dict[str, Any]]] = []
    repeats: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for entry, verdict in found:
        key = (verdict.get("rule"), verdict.get("decision"))
        (repeats if key in seen else first).append((entry, verdict))
        seen.add(key)
    return first + repeats


def _lines(found: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    lines = [f"#{e['id']} {e['operation']}: {v.get('message', '')} [{v['rule']}, {v['clause']}]" for e, v in found[:5]]
    return "; ".join(lines) + (f" (+{len(found) - 5} more)" if len(found) > 5 else "")


def _journal_evidence(found: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[Evidence]:
    return [entry_evidence(e, f"{v['rule']} {v['clause']}: {v.get('message', '')}") for e, v in found[:5]]


def graded(
    checks: CheckSet,
    check_id: str,
    ctx: JournalContext,
    rule_ids: tuple[str, ...],
    *,
    needs: str | None = None,
    none_message: str | None = None,
) -> Any:
    """Grade a check from the reference's journaled verdicts of ``rule_ids``: a failed MUST verdict is a failure, a
    failed SHOULD verdict (``"level": "SHOULD"``) a WARNING naming its decision; ``needs``: at least one call of that
    operation must have been answered returnCode "0". No verdict of those rules at all: nothing to judge (skipped)."""
    check = checks.get(check_id)
    found = ctx.failures(*rule_ids)
    must = _kinds_first([(e, v) for e, v in found if v.get("level", "MUST") == "MUST"])
    should = _kinds_first([(e, v) for e, v in found if v.get("level", "MUST") != "MUST"])
    if must:
        return failed(_lines(must), *_journal_evidence(must))
    if needs is not None and not ctx.accepted(needs):
        refused = len(ctx.calls(needs))
        return failed(none_message or f"no {needs} was accepted" + (f" ({refused} refused)" if refused else ""))
    if should:
        decisions = sorted({v["decision"] for _, v in should if v.get("decision")})  # every reading the vendor followed
        return check.result("warning", _lines(should), *_journal_evidence(should), decision=", ".join(decisions) or None)
    judged = ctx.verdicts(*rule_ids)
    if not judged:
        return skipped(f"nothing to judge: no call in the journal was subject to {', '.join(rule_ids)}")
    return passed(f"{len(judged)} verdict(s) of {', '.join(sorted({v['rule'] for _, v in judged}))} held")


# --- zjpx-learning-platform-client ------------------------------------------------------------------------------------
CLIENT = CheckSet()

# Which reference rules each client check grades (also the requirements it covers in the report).
GRADES = {
    "ZJPX-C-LOGIN": ("ZJPX-TOKEN",),
    "ZJPX-C-REALNAME": ("ZJPX-REALNAME-FIRST",),
    "ZJPX-C-SESSIONS": ("ZJPX-SESSION-OPEN", "ZJPX-REF-CLASS", "ZJPX-REF-ENROLMENT", "ZJPX-REF-COURSE", "ZJPX-REF-RESOURCE"),
    "ZJPX-C-STUDYHOUR": (
        "ZJPX-STUDYHOUR-EARLY",
        "ZJPX-STUDYHOUR-GAP",
        "ZJPX-STUDYHOUR-PROGRESS",
        "ZJPX-STUDYHOUR-BACKWARDS",
        "ZJPX-STUDYHOUR-DURATION",
        "ZJPX-STUDYHOUR-JUMP",
        "ZJPX-STUDY-LIMIT",
    ),
    "ZJPX-C-ANTI-IDLING": ("ZJPX-ANTI-IDLING", "ZJPX-START-FACE"),
    "ZJPX-C-BIZCODES": ("ZJPX-FACE-BIZCODE", "ZJPX-CODE-BIZCODE", "ZJPX-CODE-SESSION", "ZJPX-FACE-IMAGE", "ZJPX-VIDEO-TIME"),
    "ZJPX-C-COURSES": ("ZJPX-COURSE-STATUS", "ZJPX-COURSE-UNIQUE", "ZJPX-COURSE-PARENT", "ZJPX-PHOTO-LEARNER"),
    "ZJPX-C-FORMAT": ("SCHEMA", "ROUTING", "ZJPX-PLATFORM-CODE", "ZJPX-CARDNO-CHECK"),
}


def _client(check_id: str, ctx: JournalContext, **kw: Any) -> Any:
    return graded(CLIENT, check_id, ctx, GRADES[check_id], **kw)


@CLIENT.check(
    "ZJPX-C-LOGIN", title="logs in and uses a valid token", clause="002 §1.1; 通用请求参数 userToken", requirements=GRADES["ZJPX-C-LOGIN"]
)
def client_login(ctx: JournalContext) -> Any:
    logins = ctx.accepted("thlogin")
    if not logins:
        return failed("the platform never logged in successfully (/api/v1/thlogin)")
    result = _client("ZJPX-C-LOGIN", ctx)
    if status_of(result) == "skipped":  # the login itself is what there is to judge
        return passed(f"logged in {len(logins)} time(s) (journal #{logins[0]['id']}); no other call used the token yet")
    return result


@CLIENT.check(
    "ZJPX-C-REALNAME",
    title="real-name check before study where the class requires it",
    clause="002 §1.2; §1.12.2 realNameAuthentication",
    requirements=GRADES["ZJPX-C-REALNAME"],
)
def client_realname(ctx: JournalContext) -> Any:
    return _client("ZJPX-C-REALNAME", ctx)


@CLIENT.check(
    "ZJPX-C-SESSIONS",
    title="startStudy and endStudy once per video watched",
    clause="002 §1.3.1, §1.4.1",
    requirements=GRADES["ZJPX-C-SESSIONS"],
)
def client_sessions(ctx: JournalContext) -> Any:
    if (cascade := _refused_for_others(ctx, "ZJPX-C-SESSIONS", "startStudy")) is not None:
        return cascade
    result = _client("ZJPX-C-SESSIONS", ctx, needs="startStudy")
    if status_of(result) == "failed":
        return result
    # From the journal itself (what was sent and accepted), not the reference's session table: every accepted
    # startStudy is closed by an endStudy for the same learner, class and video (§1.3.1, §1.4.1). An endStudy the
    # reference refused for a rule another check grades (anti-idling, format, token) was sent all the same: that fault
    # is graded there once, not here again as a missing endStudy.
    open_: dict[tuple[str, str, str], int] = {}
    refused_ends: list[tuple[dict[str, Any], list[str]]] = []
    own = set(GRADES["ZJPX-C-SESSIONS"])
    started = 0
    for e in ctx.entries:
        if e["operation"] not in ("startStudy", "endStudy") or not isinstance(d := request_data(e), dict):
            continue
        key = session_key(d)
        if e["operation"] == "startStudy":
            if reply_code(e) == "0":
                started += 1
                open_.setdefault(key, e["id"])
        elif key in open_:
            rules = list(dict.fromkeys(v["rule"] for v in e["verdicts"] if not v["held"] and v.get("level", "MUST") == "MUST"))
            if reply_code(e) == "0":
                open_.pop(key)
            elif rules and not own & set(rules):
                open_.pop(key)
                refused_ends.append((e, rules))
    ended = _refused_ends(refused_ends)
    if open_:
        first = min(open_.values())
        return failed(
            f"{len(open_)} of {started} accepted startStudy call(s) never got an endStudy (e.g. journal #{first}){ended}",
            *(entry_evidence(e, "startStudy without endStudy") for e in ctx.entries if e["id"] == first),
        )
    if status_of(result) != "passed":
        return result
    return passed(f"{started} session(s), each started and ended{ended}")


def _refused_ends(refused: list[tuple[dict[str, Any], list[str]]]) -> str:
    """What happened to the endStudy calls the reference refused for rules other checks grade."""
    if not refused:
        return ""
    graders = _graders()
    rules = list(dict.fromkeys(r for _, rs in refused for r in rs))
    where = ", ".join(f"{r} (graded by {graders.get(r, 'its own check')})" for r in rules)
    ids = ", ".join(f"#{e['id']}" for e, _ in refused[:4]) + (" …" if len(refused) > 4 else "")
    return f"; {len(refused)} endStudy call(s) were sent but refused ({ids}) for {where}: counted as ended here"


@CLIENT.check(
    "ZJPX-C-STUDYHOUR",
    title="studyHour every minute with plausible progress",
    clause="002 §1.10.1, §1.10.2; §1.12.2 studyHourLimit",
    requirements=GRADES["ZJPX-C-STUDYHOUR"],
)
def client_study_hour(ctx: JournalContext) -> Any:
    if (cascade := _refused_for_others(ctx, "ZJPX-C-STUDYHOUR", "studyHour")) is not None:
        return cascade
    return _client("ZJPX-C-STUDYHOUR", _final_reports_regraded(ctx), needs="studyHour")


def _graders() -> dict[str, str]:
    graders = {rule: check for check, rules in GRADES.items() for rule in rules}
    graders["ZJPX-TOKEN"] = "ZJPX-C-LOGIN"
    return graders


def _refused_for_others(ctx: JournalContext, check_id: str, operation: str) -> Any:
    """Skipped, saying why, when every call of ``operation`` was refused only for rules other checks grade (a missed
    start face refuses every studyHour; a skipped real-name check every startStudy): that one fault is graded there,
    not here again as "none accepted". None when this check has something of its own to judge."""
    calls = ctx.calls(operation)
    own_must = [v for _, v in ctx.failures(*GRADES[check_id]) if v.get("level", "MUST") == "MUST"]
    if not calls or ctx.accepted(operation) or own_must:  # (its own SHOULD verdicts follow from the refusals: a gap)
        return None
    own, graders = set(GRADES[check_id]), _graders()
    rules: list[str] = []
    for e in calls:
        failing = [v["rule"] for v in e["verdicts"] if not v["held"] and v.get("level", "MUST") == "MUST"]
        if not failing or own & set(failing):
            return None
        rules += failing
    where = ", ".join(f"{r} (graded by {graders.get(r, 'its own check')})" for r in dict.fromkeys(rules))
    return skipped(f"no {operation} was accepted: all {len(calls)} were refused for {where}; nothing of its own to judge here")


FINAL_REPORT = "D-ZJPX-FINAL-REPORT"


def session_key(d: dict[str, Any]) -> tuple[str, str, str]:
    """(learner, class, video) of a study call; the learner under either spelling (D-ZJPX-STUDENTUSERCODE-KEY)."""
    learner = d.get("studentUserCode", d.get("student UserCode"))
    return str(learner), str(d.get("classCode")), str(d.get("resCode"))


def final_reports(entries: list[dict[str, Any]]) -> set[int]:
    """Journal ids of the studyHour calls that were the last of their session: the next study-session call for the same
    learner, class and video is an accepted endStudy (002 §1.4.1 每次学完视频时调用)."""
    last: dict[tuple[str, str, str], int] = {}
    out: set[int] = set()
    for e in entries:
        if e["operation"] not in ("startStudy", "studyHour", "endStudy") or not isinstance(d := request_data(e), dict):
            continue
        key = session_key(d)
        if e["operation"] == "studyHour":
            last[key] = e["id"]
        elif e["operation"] == "endStudy" and reply_code(e) == "0" and key in last:
            out.add(last.pop(key))
        else:
            last.pop(key, None)
    return out


def _final_reports_regraded(ctx: JournalContext) -> JournalContext:
    """The seed sets a cadence (§1.10.1) but says nothing of the remainder when a learner stops: a too-early verdict on
    the last studyHour before the session's endStudy is a SHOULD verdict naming D-ZJPX-FINAL-REPORT, not a failure."""
    finals = final_reports(ctx.entries)
    if not finals:
        return ctx
    entries = []
    for e in ctx.entries:
        if e["id"] in finals:
            verdicts = [
                dict(
                    v,
                    level="SHOULD",
                    decision=FINAL_REPORT,
                    message=f"{v.get('message', '')}; it is the last report before endStudy: the remainder of a minute ({FINAL_REPORT})",
                )
                if v["rule"] == "ZJPX-STUDYHOUR-EARLY" and not v["held"]
                else v
                for v in e["verdicts"]
            ]
            e = dict(e, verdicts=verdicts)
        entries.append(e)
    return JournalContext(ctx.store, ctx.platform_code, entries)


@CLIENT.check(
    "ZJPX-C-ANTI-IDLING",
    title="face or code checks as the class configured them",
    clause="002 §1.12.2 videoOnHook, triggerType, triggervValue, videoStartFace",
    requirements=GRADES["ZJPX-C-ANTI-IDLING"],
)
def client_anti_idling(ctx: JournalContext) -> Any:
    return _client("ZJPX-C-ANTI-IDLING", ctx)


@CLIENT.check(
    "ZJPX-C-BIZCODES",
    title="bizCodes used as issued and within their expiry",
    clause="002 §1.5–§1.8 bizCode, expiresTime",
    requirements=GRADES["ZJPX-C-BIZCODES"],
)
def client_bizcodes(ctx: JournalContext) -> Any:
    return _client("ZJPX-C-BIZCODES", ctx)


@CLIENT.check(
    "ZJPX-C-COURSES",
    title="course packages and photo updates as the supervision side keeps them",
    clause="002 §1.13.2; §1.11.1",
    requirements=GRADES["ZJPX-C-COURSES"],
)
def client_courses(ctx: JournalContext) -> Any:
    return _client("ZJPX-C-COURSES", ctx)


@CLIENT.check(
    "ZJPX-C-FORMAT",
    title="requests match the interface definition",
    clause="002 请求接口示例 {headers, data}; specs/zjpx/supervision.yaml",
    requirements=GRADES["ZJPX-C-FORMAT"],
)
def client_format(ctx: JournalContext) -> Any:
    return _client("ZJPX-C-FORMAT", ctx)


class LearningPlatformClientRole:
    name = "zjpx-learning-platform-client"
    platform = "zjpx"
    description = "The vendor's learning platform calls the supervision side; graded from the harness's journal."
    checks = CLIENT

    def __init__(
        self, store: Store, platform_code: str, profile: str = "strict", after_id: int | None = None, window: Window | None = None
    ) -> None:
        # ``profile`` is not read: the grade comes from the journaled verdicts and their levels alone.
        self.store, self.platform_code, self.profile = store, platform_code, profile
        self.window = window or Window(after_id=after_id)  # a certification session's, or --since's

    def run(self, seed: int) -> Iterator[Event]:
        entries = [e for e in journal_entries(self.store, self.platform_code, self.window) if e["operation"] not in BUSINESS_OPERATIONS]
        yield from run(
            role=self.name,
            platform=self.platform,
            target=self.platform_code,
            checks=CLIENT,
            context=JournalContext(self.store, self.platform_code, entries),
            seed=seed,
            options={"platform": self.platform_code, **self.window.options(), "exchanges": len(entries)},
            spec_hashes={"specs/zjpx/supervision.yaml": spec_sha256("zjpx/supervision.yaml")},
            requirements=requirements(),
        )


def summary(events: list[Event]) -> str:
    """A one-line-per-check text of a run (for tests and quick looks; reporters are the lead's)."""
    from harness.conformance.model import CheckFinished, RunFinished

    lines = [f"{e.result.status:7} {e.result.check_id} {e.result.message}" for e in events if isinstance(e, CheckFinished)]
    end = events[-1]
    lines.append(f"verdict {end.verdict}" if isinstance(end, RunFinished) else "unfinished")
    return "\n".join(lines)


# --- `harness certify` entry points (harness.conformance.roles registry protocol) ---------------------------------------
class ServerRoleCommand(LearningPlatformServerRole):
    summary = "Certify a learning platform's thirdCoursePull and pushClassInfo (vendor as server)."
    description = (
        "In the seed's order (002 §1.14, §1.12): pull the vendor's own course packages (thirdCoursePull, every page) and "
        "grade their form, paging and trees; push a class on one of them (pushClassInfo) and grade the account returned for "
        "each learner and the password rule; refusing an incomplete class and Schemathesis-generated invalid requests is "
        "advice (WARNING); generated valid requests must be answered in the envelope. A form the seed itself shows passes "
        "with a WARNING naming its decision; the verdict does not depend on --profile. Validity for certification: https, "
        "a public domain name and a trusted certificate chain."
    )
    options = (
        RoleOption("target", "Base URL of the vendor's learning platform (…/api/v1/pushClassInfo is appended).", required=True),
        RoleOption("ca_bundle", "CA bundle the target's certificate chains to, when not a public root (noted in the report)."),
        RoleOption("students", "Learners in the pushed class (1-500).", default=3, type=int),
        RoleOption("page_size", "pageSize for thirdCoursePull (1-1000).", default=2, type=int),
        RoleOption("fuzz_examples", "Generated requests per interface and mode (0: no fuzzing; at most 1000).", default=5, type=int),
    )

    def __init__(
        self,
        common: CommonOptions,
        target: str,
        students: int = 3,
        page_size: int = 2,
        fuzz_examples: int = 5,
        ca_bundle: str | None = None,
    ) -> None:
        check_server_options(target, students, page_size, fuzz_examples, ca_bundle)
        super().__init__(target, common.profile, None, students, page_size, fuzz_examples, ca_bundle)


def check_server_options(target: str, students: int, page_size: int, fuzz_examples: int, ca_bundle: str | None = None) -> None:
    """Refuse, before anything is sent, what no run could grade: one ConfigError line (exit 2), never a verdict."""
    from pathlib import Path
    from urllib.parse import urlsplit

    parts = urlsplit(str(target))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--target must be an http:// or https:// URL, not {target!r}")
    if not 1 <= students <= MAX_STUDENTS:
        raise ConfigError(f"--students must be between 1 and {MAX_STUDENTS} (a class is pushed with its learners, §1.12.2), not {students}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ConfigError(f"--page-size must be between 1 and {MAX_PAGE_SIZE} (§1.14.2 pageSize 每页返回条数), not {page_size}")
    if not 0 <= fuzz_examples <= MAX_FUZZ_EXAMPLES:
        raise ConfigError(f"--fuzz-examples must be between 0 (no fuzzing) and {MAX_FUZZ_EXAMPLES}, not {fuzz_examples}")
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise ConfigError(f"--ca-bundle {ca_bundle}: no such file")


MAX_STUDENTS, MAX_PAGE_SIZE, MAX_FUZZ_EXAMPLES = 500, 1000, 1000


class JournalRoleCommand:
    """``harness certify`` for a role graded from the /zjpx journal of one studyPlatformCode: opens the store, grades
    the window (a certification session's, or everything after ``--since``), closes the store."""

    platform = "zjpx"

    def __init__(self, common: CommonOptions, platform: str, since: int | None = None, window: Window | None = None) -> None:
        # An unknown studyPlatformCode is one line (exit 2), before a session is opened on it or a run graded.
        from harness.store_pg import redact

        where = redact(str(common.db))
        missing = (
            f"no ZJPX learning-platform account with studyPlatformCode {platform!r} in {where} (harness zjpx account list / account add)"
        )
        open_subject_store(common, "SELECT platform_code FROM zjpx_accounts WHERE platform_code = ?", (platform,), missing).close()
        self.common, self.code = common, platform
        self.window = window or Window(after_id=since)

    def role(self, store: Store) -> Any:
        raise NotImplementedError

    def run(self, seed: int) -> Iterator[Event]:
        store = open_store(self.common.db)
        try:
            yield from self.role(store).run(seed)
        finally:
            store.close()


class ClientRoleCommand(JournalRoleCommand):
    name = LearningPlatformClientRole.name
    checks = CLIENT
    summary = "Grade a learning platform (vendor as client of /zjpx) from the journal."
    description = (
        "Grade a learning platform from what it sent to `harness serve` under /zjpx: login and token use, real-name check "
        "before study, start and end per video, studyHour every minute with plausible progress, the configured face or code "
        "checks, bizCodes within their expiry."
    )
    options = (
        RoleOption("platform", "The platform's studyPlatformCode (harness zjpx account list).", required=True),
        SINCE_OPTION,
    )

    def role(self, store: Store) -> LearningPlatformClientRole:
        return LearningPlatformClientRole(store, self.code, self.common.profile, window=self.window)
