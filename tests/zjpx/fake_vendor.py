"""A small learning platform (the vendor side of Z11 thirdCoursePull and Z10 pushClassInfo) as an httpx.MockTransport
handler: it has course packages of its own, lists them page by page, and accepts a class pushed on one of them with an
account per learner. Faults are switched on by name (the defect tables plant them: examples/defects/zjpx-*.yaml)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import jsonschema

from fixtures.zjpx import ZjpxData
from harness.zjpx.vendor import PULL_PATH, PUSH_PATH, request_schema

SEED_PULL_REPLY = Path(__file__).parent / "examples" / "seed_thirdCoursePull_reply.json"  # 002 §1.14.4, as printed

FAULTS = (
    "drop_account",  # one pushed learner gets no account
    "overlap_pages",  # page n > 1 starts with the last course of page n - 1
    "accept_anything",  # no request is ever refused
    "no_packages",  # thirdCoursePull lists nothing
    "past_last",  # a page past totalPage repeats the last page
    "wrong_parent",  # every section's parentSectionCode names the course, not its chapter
    "no_course_name",  # the packages lack courseName (是否可空 否): outside every form the seed shows
    "refuse_push",  # every class is refused with returnCode "1"
    "crash_on_foreign_device",  # HTTP 500 for a request whose headers.deviceId is not the harness's
    "numbers_as_strings",  # 整型/数字 fields as digit strings, as the seed's §1.14.4 example does (conforming)
    "seed_example",  # thirdCoursePull answers the seed's own §1.14.4 example (conforming)
    "table_form",  # the page fields and the list under returnData, as the §1.14.5 table's 父标记 says (conforming)
    "totalpage_short",  # totalPage always 1, though pages 2.. list the other courses
    "crash_numstr",  # HTTP 500 when a 整型 field arrives as a digit string, as the seed's request examples send it
    "table_requests_only",  # requests in the seed's example forms (digit strings, chapetCode) refused in the envelope
    "example_parents",  # every package's second chapter names an unrelated parentChapterCode, as §1.14.4's example does
    "table_fields",  # only the fields the §1.14.5 table lists: no studyPlatformCode, courseStatus, chapterSort, sectionSort (conforming)
)


class FakeLearningPlatform:
    def __init__(self, **faults: bool) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {FAULTS}")
        self.faults = {name: bool(faults.get(name)) for name in FAULTS}
        data = ZjpxData(77)
        code = "0" * 32
        if self.faults["seed_example"]:
            self.packages = json.loads(SEED_PULL_REPLY.read_text(encoding="utf-8"))["data"]
        else:
            self.packages = sorted((data.course_package(code, chapters=2, videos=2) for _ in range(5)), key=lambda c: c["courseCode"])
        if self.faults["no_packages"]:
            self.packages = []
        self.classes: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> bool:  # vendor.drop_account etc. read the switches
        faults = self.__dict__.get("faults", {})
        if name in faults:
            return faults[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in FAULTS:
            self.faults[name] = bool(value)
        else:
            super().__setattr__(name, value)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.safely)

    def safely(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.handle(request)
        except Exception as exc:  # what a careless server does: a 500
            return httpx.Response(500, text=f"{type(exc).__name__}: {exc}")

    def refuse(self, code: str, message: str) -> httpx.Response:
        return httpx.Response(200, json={"returnCode": code, "returnMsg": message[:200], "passwordRules": "-", "returnData": []})

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = PUSH_PATH if request.url.path.endswith(PUSH_PATH) else PULL_PATH if request.url.path.endswith(PULL_PATH) else None
        if path is None:
            return httpx.Response(404, json={"returnCode": "4", "returnMsg": "no such interface"})
        try:
            body = json.loads(request.content)
        except ValueError:
            return self.refuse("2", "not JSON")
        if self.faults["crash_on_foreign_device"] and (body.get("headers") or {}).get("deviceId") != "harness":
            raise RuntimeError("unexpected device")
        if self.faults["crash_numstr"] and _has_digit_strings(body):
            raise TypeError("'<' not supported between instances of 'str' and 'int'")
        if not self.faults["accept_anything"] and not self.faults["seed_example"]:
            # The table's forms, and the forms the seed's own request examples send (D-ZJPX-EXAMPLE-REQUESTS): digit
            # strings for 整型 fields, chapetCode and triggervValue alone, read as their canonical keys.
            errors = list(jsonschema.Draft4Validator(request_schema(path, "strict")).iter_errors(body))
            if errors and not self.faults["table_requests_only"]:
                canonical = _canonical_request(body)
                if not list(jsonschema.Draft4Validator(request_schema(path, "tolerant")).iter_errors(canonical)):
                    errors, body = [], canonical
            if errors:
                return self.refuse("2", errors[0].message)
        data = body["data"] if isinstance(body, dict) and isinstance(body.get("data"), dict) else {}
        if path == PUSH_PATH:
            return httpx.Response(200, json=self.push(data))
        try:
            page_no, page_size = int(data.get("pageNo", 1)), int(data.get("pageSize", 10))
        except (TypeError, ValueError):
            return self.refuse("2", "pageNo and pageSize must be numbers")
        return httpx.Response(200, json=self.pull(page_no, page_size))

    def push(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.faults["refuse_push"]:
            return {"returnCode": "1", "returnMsg": "班级审核未通过", "passwordRules": "身份证后六位", "returnData": []}
        students = data.get("thirdClassStudentInfoVoList")
        if not self.faults["accept_anything"]:
            if not students:
                return {"returnCode": "1", "returnMsg": "thirdClassStudentInfoVoList is required", "passwordRules": "-", "returnData": []}
            known = {str(p.get("courseCode")) for p in self.packages}
            unknown = [c.get("courseCode") for c in data.get("thirdClassCourseInfoVoList") or [] if str(c.get("courseCode")) not in known]
            if unknown:
                return {"returnCode": "1", "returnMsg": f"unknown course {unknown[0]}", "passwordRules": "-", "returnData": []}
        self.classes[str(data.get("classCode"))] = data
        accounts = [
            {"cardNo": s["cardNo"], "studentUserAccount": "u" + str(s["cardNo"])[-8:]} for s in students or [] if isinstance(s, dict)
        ]
        if self.faults["drop_account"]:
            accounts = accounts[:-1]
        return {"returnCode": "0", "returnMsg": "success", "passwordRules": "身份证后六位", "returnData": accounts}

    def listed(self) -> list[dict[str, Any]]:
        out = []
        for package in self.packages:
            p = json.loads(json.dumps(package, ensure_ascii=False))
            if self.faults["no_course_name"]:
                p.pop("courseName", None)
            if self.faults["example_parents"] and len(p.get("chapterList") or []) > 1:
                p["chapterList"][1]["parentChapterCode"] = "432r54kk3343kr56rew3loodkciewoew"[:1] + "f" * 31  # names nothing
            for chapter in p.get("chapterList") or []:
                for section in chapter.get("sectionList") or []:
                    if self.faults["wrong_parent"]:
                        section["parentSectionCode"] = p["courseCode"]
            if self.faults["numbers_as_strings"]:
                _stringify(p)
            if self.faults["table_fields"]:
                _drop(p, ("studyPlatformCode", "courseStatus", "chapterSort", "sectionSort"))
            out.append(p)
        return out

    def pull(self, page_no: int, page_size: int) -> dict[str, Any]:
        courses = self.listed()
        total = max(1, math.ceil(len(courses) / page_size))
        start = (page_no - 1) * page_size - (1 if self.faults["overlap_pages"] and page_no > 1 else 0)
        if self.faults["past_last"] and page_no > total:
            start = (total - 1) * page_size
        page = courses[start : start + page_size] if page_no <= total or self.faults["past_last"] else []
        if self.faults["totalpage_short"]:
            total = 1  # said, while the pages past it still list the rest
        reply: dict[str, Any] = {"returnCode": "0", "returnMsg": "success", "pageNo": page_no, "pageSize": page_size, "totalPage": total}
        if self.faults["numbers_as_strings"] or self.faults["seed_example"]:
            reply.update(pageNo=page_no, pageSize=page_size, totalPage=total)  # the example's page fields are integers
        reply["data"] = page
        if self.faults["table_form"]:
            return {
                "returnCode": "0",
                "returnMsg": "success",
                "returnData": {k: v for k, v in reply.items() if k not in ("returnCode", "returnMsg")},
            }
        return reply


def _stringify(node: Any) -> None:
    """整型/数字 fields as digit strings, exactly as the seed's §1.14.4 example writes them."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("courseStatus", "chapterSort", "sectionSort", "resSort", "duration") and isinstance(value, int):
                node[key] = str(value)
            else:
                _stringify(value)
    elif isinstance(node, list):
        for item in node:
            _stringify(item)


def _drop(node: Any, keys: tuple[str, ...]) -> None:
    """Remove those keys wherever they occur in a course package."""
    if isinstance(node, dict):
        for key in keys:
            node.pop(key, None)
        for value in node.values():
            _drop(value, keys)
    elif isinstance(node, list):
        for item in node:
            _drop(item, keys)


def _has_digit_strings(node: Any) -> bool:
    """Whether a request carries a 整型 switch or page field as a string (as the seed's request examples do)."""
    data = node.get("data") if isinstance(node, dict) else None
    if not isinstance(data, dict):
        return False
    detail = data.get("videoOnHookDetail")
    values = [data.get(k) for k in ("pageNo", "pageSize", "videoOnHook", "realNameAuthentication")]
    values += list(detail.values()) if isinstance(detail, dict) else []
    return any(isinstance(v, str) for v in values)


def _canonical_request(body: Any) -> Any:
    """The request with the seed's alias keys read as the table's (chapetCode → chapterCode; triggervValue also as
    triggerValue), as a platform taking both readings stores it."""
    out = json.loads(json.dumps(body, ensure_ascii=False))
    data = out.get("data") if isinstance(out, dict) else None
    if not isinstance(data, dict):
        return out
    detail = data.get("videoOnHookDetail")
    if isinstance(detail, dict) and "triggervValue" in detail:
        detail.setdefault("triggerValue", detail["triggervValue"])
    for course in data.get("thirdClassCourseInfoVoList") or []:
        for chapter in course.get("children") or [] if isinstance(course, dict) else []:
            if isinstance(chapter, dict) and "chapetCode" in chapter:
                chapter.setdefault("chapterCode", chapter["chapetCode"])
    return out
