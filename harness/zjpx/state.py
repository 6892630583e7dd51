"""ZJPX tables and the queries over them. Every record lives in the store, never in process memory, so several
uvicorn workers (and the CLI) see the same accounts, tokens, sessions and bizCodes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness import limits, masking
from harness.store import Migrate, Schema, Step, Store

# Personal data of the roster (002 §1.2, §2.1–§2.4) is kept as the journal keeps it: keyed hashes of the store's masking
# key (harness/masking.py), ID numbers upper-cased first (an x or X check character is one number). The platform only
# ever compares these values (is this cardNo enrolled, does the name match it), so it never needs them back.
ID_KEYS = ("cardNo", "stuCard", "teaCard")
PERSON_KEYS = (*ID_KEYS, "name", "studentName", "stuName", "teaName", "studentPhone", "mobile")


def person_key(store: Any, value: Any, *, id_number: bool = False) -> str:
    """A roster value as the store keeps it (idempotent: a kept value is returned as it is)."""
    text = str(value)
    if text.startswith(masking.SECRET_PREFIX):
        return text
    return masking.hide(store, text.upper() if id_number else text)


def card_key(store: Any, card: Any) -> str:
    return person_key(store, card, id_number=True)


def without_people(store: Any, record: Any) -> Any:
    """A §2 record (a class with its learners, a teacher) with every personal value replaced by its kept form."""
    if isinstance(record, dict):
        return {
            k: (
                person_key(store, v, id_number=k in ID_KEYS)
                if k in PERSON_KEYS and isinstance(v, str | int) and v != ""
                else without_people(store, v)
            )
            for k, v in record.items()
        }
    if isinstance(record, list):
        return [without_people(store, v) for v in record]
    return record


def hash_roster(conn: Any, store: Any) -> None:
    """Step 2: the roster an older store kept in clear becomes keyed hashes (learners, enrolments, real-name checks, the
    filed class and teacher records)."""
    if conn.execute("SELECT 1 FROM zjpx_learners UNION ALL SELECT 1 FROM zjpx_teachers LIMIT 1").fetchone() is None:
        return  # nothing kept yet (a new store)
    masking.store_key_in(conn, store)  # the key, through the step's own transaction
    for row in conn.execute("SELECT platform_code, card_no, name, mobile FROM zjpx_learners").fetchall():
        conn.execute(
            "UPDATE zjpx_learners SET card_no = ?, name = ?, mobile = ? WHERE platform_code = ? AND card_no = ?",
            (
                card_key(store, row[1]),
                person_key(store, row[2]),
                person_key(store, row[3]) if row[3] else row[3],
                row[0],
                row[1],
            ),
        )
    for row in conn.execute("SELECT platform_code, class_code, student_code, card_no, name FROM zjpx_enrolments").fetchall():
        conn.execute(
            "UPDATE zjpx_enrolments SET card_no = ?, name = ? WHERE platform_code = ? AND class_code = ? AND student_code = ?",
            (card_key(store, row[3]), person_key(store, row[4]), row[0], row[1], row[2]),
        )
    for row in conn.execute("SELECT platform_code, card_no FROM zjpx_realname").fetchall():
        conn.execute(
            "UPDATE zjpx_realname SET card_no = ? WHERE platform_code = ? AND card_no = ?", (card_key(store, row[1]), row[0], row[1])
        )
    for table, key in (("zjpx_classes", "class_code"), ("zjpx_teachers", "tea_code")):
        for row in conn.execute(f"SELECT platform_code, {key}, body FROM {table}").fetchall():  # noqa: S608 - own constants
            body = json.dumps(without_people(store, json.loads(row[2])), ensure_ascii=False)
            conn.execute(f"UPDATE {table} SET body = ? WHERE platform_code = ? AND {key} = ?", (body, row[0], row[1]))  # noqa: S608


SCHEMA = Schema(
    "zjpx",
    [
        Step(
            1,
            [
                """CREATE TABLE IF NOT EXISTS zjpx_accounts (
                account TEXT PRIMARY KEY, salt TEXT NOT NULL, pw_hash TEXT NOT NULL,
                platform_code TEXT NOT NULL UNIQUE, platform_name TEXT NOT NULL, at TEXT NOT NULL)""",
                """CREATE TABLE IF NOT EXISTS zjpx_tokens (
                token TEXT PRIMARY KEY, account TEXT NOT NULL, platform_code TEXT NOT NULL,
                issued_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL)""",
                """CREATE TABLE IF NOT EXISTS zjpx_teachers (
                platform_code TEXT NOT NULL, tea_code TEXT NOT NULL, body TEXT NOT NULL, at_ms INTEGER NOT NULL,
                PRIMARY KEY (platform_code, tea_code))""",
                """CREATE TABLE IF NOT EXISTS zjpx_course_infos (
                platform_code TEXT NOT NULL, course_name TEXT NOT NULL, body TEXT NOT NULL, at_ms INTEGER NOT NULL,
                PRIMARY KEY (platform_code, course_name))""",
                """CREATE TABLE IF NOT EXISTS zjpx_learners (
                platform_code TEXT NOT NULL, card_no TEXT NOT NULL, name TEXT NOT NULL, student_code TEXT,
                mobile TEXT, photo_url TEXT, at_ms INTEGER NOT NULL, PRIMARY KEY (platform_code, card_no))""",
                """CREATE TABLE IF NOT EXISTS zjpx_classes (
                platform_code TEXT NOT NULL, class_code TEXT NOT NULL, body TEXT NOT NULL, at_ms INTEGER NOT NULL,
                PRIMARY KEY (platform_code, class_code))""",
                """CREATE TABLE IF NOT EXISTS zjpx_enrolments (
                platform_code TEXT NOT NULL, class_code TEXT NOT NULL, student_code TEXT NOT NULL, card_no TEXT NOT NULL,
                name TEXT NOT NULL, PRIMARY KEY (platform_code, class_code, student_code))""",
                """CREATE TABLE IF NOT EXISTS zjpx_courses (
                platform_code TEXT NOT NULL, course_code TEXT NOT NULL, body TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
                at_ms INTEGER NOT NULL, PRIMARY KEY (platform_code, course_code))""",
                """CREATE TABLE IF NOT EXISTS zjpx_realname (
                platform_code TEXT NOT NULL, card_no TEXT NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (platform_code, card_no))""",
                """CREATE TABLE IF NOT EXISTS zjpx_sessions (
                id INTEGER PRIMARY KEY AUTOINCREMENT, platform_code TEXT NOT NULL, class_code TEXT NOT NULL,
                student_code TEXT NOT NULL, res_code TEXT NOT NULL, course_code TEXT, section_code TEXT,
                status TEXT NOT NULL CHECK (status IN ('open', 'ended', 'abandoned')),
                started_ms INTEGER NOT NULL, ended_ms INTEGER, last_report_ms INTEGER, start_play_time INTEGER NOT NULL DEFAULT 0,
                last_play_time INTEGER, studied INTEGER NOT NULL DEFAULT 0, reports INTEGER NOT NULL DEFAULT 0)""",
                "CREATE INDEX IF NOT EXISTS zjpx_sessions_open ON zjpx_sessions (platform_code, class_code, student_code, res_code, status)",
                """CREATE TABLE IF NOT EXISTS zjpx_reports (
                id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER NOT NULL, platform_code TEXT NOT NULL,
                class_code TEXT NOT NULL, student_code TEXT NOT NULL, res_code TEXT NOT NULL, course_code TEXT NOT NULL,
                section_code TEXT NOT NULL, play_time INTEGER NOT NULL, progress_time INTEGER NOT NULL, at_ms INTEGER NOT NULL,
                day TEXT NOT NULL)""",
                "CREATE INDEX IF NOT EXISTS zjpx_reports_day ON zjpx_reports (platform_code, class_code, student_code, day)",
                """CREATE TABLE IF NOT EXISTS zjpx_bizcodes (
                biz_code TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('face', 'code')), platform_code TEXT NOT NULL,
                class_code TEXT NOT NULL, student_code TEXT NOT NULL, res_code TEXT NOT NULL, session_id INTEGER,
                verification_code TEXT, issued_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('issued', 'passed')), attempts INTEGER NOT NULL DEFAULT 0)""",
                """CREATE TABLE IF NOT EXISTS zjpx_checks (
                id INTEGER PRIMARY KEY AUTOINCREMENT, session_id INTEGER, biz_code TEXT NOT NULL, kind TEXT NOT NULL,
                passed INTEGER NOT NULL, video_study_time INTEGER, detail TEXT, at_ms INTEGER NOT NULL)""",
                """CREATE TABLE IF NOT EXISTS zjpx_videos (
                id INTEGER PRIMARY KEY AUTOINCREMENT, platform_code TEXT NOT NULL, class_code TEXT NOT NULL,
                student_code TEXT NOT NULL, res_code TEXT NOT NULL, url TEXT NOT NULL, at_ms INTEGER NOT NULL)""",
            ],
        ),
        Step(2, [Migrate(hash_roster)]),
    ],
)


def num(value: Any, default: int = 0) -> int:
    """整型 fields may arrive as digit strings in the tolerant profile (D-ZJPX-NUMSTR)."""
    if value is None or value == "":
        return default
    if isinstance(value, str):  # ASCII digits only, in the store range (int() also reads "１２" and "1_000")
        return int(value) if limits.ascii_digits(value, limits.MAX_DIGIT_STRING) else default
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if limits.INT_MIN <= number <= limits.INT_MAX else default


# --- classes and their course trees ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    res_code: str
    course_code: str
    duration: int  # seconds
    source: str  # "class" (the class's course tree) or "package" (a course pushed through §1.13)


def get_class(store: Store, platform_code: str, class_code: str) -> dict[str, Any] | None:
    row = store.query_one("SELECT body FROM zjpx_classes WHERE platform_code = ? AND class_code = ?", (platform_code, class_code))
    return json.loads(row["body"]) if row else None


def class_config(cls: dict[str, Any]) -> dict[str, int]:
    """The anti-idling configuration of a class (002 §1.12.2), with D-ZJPX-CLASS-CONFIG defaults."""
    detail = cls.get("videoOnHookDetail") or {}
    trigger_value = detail.get("triggervValue", detail.get("triggerValue", cls.get("triggervValue", cls.get("triggerValue"))))
    return {
        "realNameAuthentication": num(cls.get("realNameAuthentication")),
        "studyHourLimit": num(cls.get("studyHourLimit")),
        "videoOnHook": num(cls.get("videoOnHook")),
        "triggerType": num(detail.get("triggerType", cls.get("triggerType"))),
        "triggervValue": num(trigger_value),
        "videoStartFace": num(cls.get("videoStartFace")),
        "videoPlayRecord": num(cls.get("videoPlayRecord")),
    }


def chapter_code(node: dict[str, Any]) -> str:
    return str(node.get("chapterCode") or node.get("chapetCode") or "")  # D-ZJPX-CHAPTER-KEY


def class_resources(cls: dict[str, Any]) -> Iterator[Resource]:
    for course in cls.get("thirdClassCourseInfoVoList") or []:
        for chapter in course.get("children") or []:
            for res in chapter.get("children") or []:
                yield Resource(str(res.get("resCode")), str(course.get("courseCode")), num(res.get("videoTimeLength")), "class")


def package_resources(course: dict[str, Any]) -> Iterator[Resource]:
    def chapters(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for chapter in items or []:
            yield chapter
            yield from chapters(chapter.get("chapterList") or [])

    for chapter in chapters(course.get("chapterList") or []):
        for section in chapter.get("sectionList") or []:
            for res in section.get("sectionSourceList") or []:
                yield Resource(str(res.get("resCode")), str(course.get("courseCode")), num(res.get("duration")), "package")


def get_course(store: Store, platform_code: str, course_code: str, include_deleted: bool = False) -> dict[str, Any] | None:
    row = store.query_one(
        "SELECT body, deleted FROM zjpx_courses WHERE platform_code = ? AND course_code = ?", (platform_code, course_code)
    )
    if row is None or (row["deleted"] and not include_deleted):
        return None
    return json.loads(row["body"])


def live_courses(store: Store, platform_code: str) -> list[dict[str, Any]]:
    rows = store.query("SELECT body FROM zjpx_courses WHERE platform_code = ? AND deleted = 0", (platform_code,))
    return [json.loads(r["body"]) for r in rows]


def find_resource(
    store: Store, platform_code: str, cls: dict[str, Any], res_code: str, course_code: str | None, strict: bool
) -> Resource | None:
    """Where a resource comes from (D-ZJPX-REFERENCES): the class's own tree or a pushed, undeleted course package."""
    class_courses = {str(c.get("courseCode")) for c in cls.get("thirdClassCourseInfoVoList") or []}
    candidates = list(class_resources(cls))
    for code in class_courses:
        course = get_course(store, platform_code, code)
        if course:
            candidates.extend(package_resources(course))
    if not strict:
        for course in live_courses(store, platform_code):
            candidates.extend(package_resources(course))
    for res in candidates:
        if res.res_code != res_code:
            continue
        if strict and course_code is not None and res.course_code != course_code:
            continue
        return res
    return None


# --- learners ------------------------------------------------------------------------------------------------------
def enrolment(store: Store, platform_code: str, class_code: str, student_code: str) -> sqlite3.Row | None:
    return store.query_one(
        "SELECT card_no, name FROM zjpx_enrolments WHERE platform_code = ? AND class_code = ? AND student_code = ?",
        (platform_code, class_code, student_code),
    )


def learner(store: Store, platform_code: str, card_no: str) -> sqlite3.Row | None:
    return store.query_one(
        "SELECT card_no, name, student_code, mobile, photo_url FROM zjpx_learners WHERE platform_code = ? AND card_no = ?",
        (platform_code, card_key(store, card_no)),
    )


def realname_verified(store: Store, platform_code: str, card_no: str) -> bool:
    return (
        store.query_one("SELECT 1 FROM zjpx_realname WHERE platform_code = ? AND card_no = ?", (platform_code, card_key(store, card_no)))
        is not None
    )


# --- sessions, reports, checks ---------------------------------------------------------------------------------------
def open_session(store: Store, platform_code: str, class_code: str, student_code: str, res_code: str) -> sqlite3.Row | None:
    return store.query_one(
        "SELECT * FROM zjpx_sessions WHERE platform_code = ? AND class_code = ? AND student_code = ? AND res_code = ?"
        " AND status = 'open' ORDER BY id DESC LIMIT 1",
        (platform_code, class_code, student_code, res_code),
    )


def last_play_time(store: Store, platform_code: str, class_code: str, student_code: str, res_code: str) -> int | None:
    row = store.query_one(
        "SELECT play_time FROM zjpx_reports WHERE platform_code = ? AND class_code = ? AND student_code = ? AND res_code = ?"
        " ORDER BY id DESC LIMIT 1",
        (platform_code, class_code, student_code, res_code),
    )
    return int(row["play_time"]) if row else None


def studied_on(store: Store, platform_code: str, class_code: str, student_code: str, day: str) -> int:
    row = store.query_one(
        "SELECT COALESCE(SUM(progress_time), 0) AS s FROM zjpx_reports WHERE platform_code = ? AND class_code = ?"
        " AND student_code = ? AND day = ?",
        (platform_code, class_code, student_code, day),
    )
    return int(row["s"]) if row else 0


def session_checks(store: Store, session_id: int, kind: str | None = None) -> list[sqlite3.Row]:
    sql = "SELECT * FROM zjpx_checks WHERE session_id = ? AND passed = 1"
    params: list[Any] = [session_id]
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    return store.query(sql + " ORDER BY at_ms", params)


def session_issued(store: Store, session_id: int, kind: str) -> list[int]:
    """When the checks of one kind were requested in a session (getVerificationCode / getFaceCompareConfig), answered or not."""
    rows = store.query("SELECT issued_ms FROM zjpx_bizcodes WHERE session_id = ? AND kind = ? ORDER BY issued_ms", (session_id, kind))
    return [int(r["issued_ms"]) for r in rows]


def get_bizcode(store: Store, biz_code: str) -> sqlite3.Row | None:
    return store.query_one("SELECT * FROM zjpx_bizcodes WHERE biz_code = ?", (biz_code,))
