"""A small learning platform (the vendor side of Z10/Z11) as an httpx.MockTransport handler, with switchable faults."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import jsonschema

from harness.zjpx.vendor import PULL_PATH, PUSH_PATH, request_schema


class FakeLearningPlatform:
    def __init__(self, *, drop_account: bool = False, overlap_pages: bool = False, accept_anything: bool = False) -> None:
        self.drop_account, self.overlap_pages, self.accept_anything = drop_account, overlap_pages, accept_anything
        self.courses: dict[str, dict[str, Any]] = {}

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.safely)

    def safely(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.handle(request)
        except Exception as exc:  # what a careless server does: a 500
            return httpx.Response(500, text=f"{type(exc).__name__}: {exc}")

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = PUSH_PATH if request.url.path.endswith(PUSH_PATH) else PULL_PATH if request.url.path.endswith(PULL_PATH) else None
        try:
            body = json.loads(request.content)
        except ValueError:
            return httpx.Response(200, json={"returnCode": "2", "returnMsg": "not JSON", "passwordRules": "-", "returnData": []})
        if path is not None and not self.accept_anything:
            errors = list(jsonschema.Draft4Validator(request_schema(path, "strict")).iter_errors(body))
            if errors:
                return httpx.Response(
                    200, json={"returnCode": "2", "returnMsg": errors[0].message[:200], "passwordRules": "-", "returnData": []}
                )
        data = body["data"]
        if request.url.path.endswith("/api/v1/pushClassInfo"):
            reply = self.push(data)
        elif request.url.path.endswith("/api/v1/thirdCoursePull"):
            reply = self.pull(int(data["pageNo"]), int(data["pageSize"]))
        else:
            return httpx.Response(404, json={"returnCode": "4", "returnMsg": "no such interface"})
        return httpx.Response(200, json=reply)

    def push(self, data: dict[str, Any]) -> dict[str, Any]:
        students = data.get("thirdClassStudentInfoVoList")
        if not students and not self.accept_anything:
            return {
                "returnCode": "1",
                "returnMsg": "thirdClassStudentInfoVoList is required",
                "passwordRules": "身份证后六位",
                "returnData": [],
            }
        for course in data.get("thirdClassCourseInfoVoList") or []:
            # Keep the pushed tree as a course package: chapters → one section each → the videos.
            self.courses[course["courseCode"]] = {
                "studyPlatformCode": "0" * 32,
                "courseName": course["title"],
                "courseCode": course["courseCode"],
                "workName": data.get("workName", "工种"),
                "courseStatus": 0,
                "coursePoster": "http://photos.example.invalid/poster.jpg",
                "chapterList": [
                    {
                        "chapterName": ch["title"],
                        "chapterCode": ch["chapterCode"],
                        "parentChapterCode": course["courseCode"],
                        "chapterSort": i + 1,
                        "sectionList": [
                            {
                                "sectionName": ch["title"],
                                "sectionCode": ch["chapterCode"][::-1],
                                "parentSectionCode": ch["chapterCode"],
                                "sectionSort": 1,
                                "sectionSourceList": [
                                    {
                                        "resName": v["title"],
                                        "resCode": v["resCode"],
                                        "videoUrl": v["videoUrl"],
                                        "resSort": j + 1,
                                        "duration": int(v["videoTimeLength"]),
                                    }
                                    for j, v in enumerate(ch["children"])
                                ],
                            }
                        ],
                    }
                    for i, ch in enumerate(course["children"])
                ],
            }
        accounts = [{"cardNo": s["cardNo"], "studentUserAccount": "u" + s["cardNo"][-8:]} for s in students or []]
        if self.drop_account:
            accounts = accounts[:-1]
        return {"returnCode": "0", "returnMsg": "success", "passwordRules": "身份证后六位", "returnData": accounts}

    def pull(self, page_no: int, page_size: int) -> dict[str, Any]:
        courses = sorted(self.courses.values(), key=lambda c: c["courseCode"])
        for extra in range(5):  # some courses of the platform's own, so there are several pages
            courses.append(dict(courses[0], courseCode=f"{extra:032x}", courseName=f"自有课程{extra}") if courses else {})
        courses = [c for c in courses if c]
        total = max(1, math.ceil(len(courses) / page_size))
        start = (page_no - 1) * page_size - (1 if self.overlap_pages and page_no > 1 else 0)
        return {
            "returnCode": "0",
            "returnMsg": "success",
            "pageNo": page_no,
            "pageSize": page_size,
            "totalPage": total,
            "data": courses[start : start + page_size] if page_no <= total else [],
        }
