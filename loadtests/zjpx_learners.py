"""Locust: N learners studying on one learning platform against the ZJPX supervision side (seed 002).

Each simulated learner logs in (§1.1), passes the real-name check (§1.2), starts a video (§1.3), shows a face at the
start (§1.5/§1.6), reports studyHour every minute (§1.10), answers a face or code check every few minutes (§1.5–§1.8)
and ends the video (§1.4). Runs against `harness serve` or a vendor's own implementation of the supervision side.

    harness zjpx account add --account load --password pw > account.json
    harness zjpx class add --platform-code <code> --students 50 --video-on-hook 2 --trigger-value 2 --out class.json
    ZJPX_ACCOUNT=load ZJPX_PASSWORD=pw ZJPX_CLASS_FILE=class.json \\
      locust -f loadtests/zjpx_learners.py --headless -u 50 -r 10 -t 10m -H http://127.0.0.1:8000/zjpx

Pass/fail (process exit code) from thresholds: ZJPX_MAX_FAIL_RATIO (default 0.01) and ZJPX_MAX_P95_MS (default 1000).
ZJPX_MINUTE (default 60) is the report interval in seconds; the supervision side refuses reports closer than a minute.
A missing ZJPX_ACCOUNT, ZJPX_PASSWORD or ZJPX_CLASS_FILE, or a class file that ``harness zjpx class add`` did not write,
is one line and exit 2 before any learner starts. Distributed (``--master`` / ``--worker``): the three variables are
read by each worker; the master needs none of them.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import sys
import time
from typing import Any

import gevent
from locust import HttpUser, events, task
from locust.env import Environment
from locust.runners import MasterRunner

MINUTE = float(os.environ.get("ZJPX_MINUTE", "60"))
CHECK_EVERY = int(os.environ.get("ZJPX_CHECK_EVERY", "2"))  # minutes between face/code checks
CLASS: dict[str, Any] = {}
_seats = itertools.count()


def _photo() -> str:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (413, 579), (67, 142, 219))
    ImageDraw.Draw(img).ellipse([115, 104, 297, 405], fill=(225, 180, 150))  # something to compare, not a blank frame
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode()


PHOTO = _photo()


def _setup_error() -> str | None:
    """What is missing for a learner to start (None: nothing), read once before any user starts."""
    missing = [name for name in ("ZJPX_ACCOUNT", "ZJPX_PASSWORD", "ZJPX_CLASS_FILE") if not os.environ.get(name)]
    if missing:
        return f"set {', '.join(missing)} (harness zjpx account add … > account.json; harness zjpx class add … --out class.json)"
    path = os.environ["ZJPX_CLASS_FILE"]
    try:
        with open(path, encoding="utf-8") as fh:
            intake = json.load(fh)
        if not (intake["thirdClassStudentInfoVoList"] and intake["thirdClassCourseInfoVoList"] and intake["classCode"]):
            return f"ZJPX_CLASS_FILE {path}: the class has no learners or no courses"
        if any("*" in str(s.get("cardNo", "")) for s in intake["thirdClassStudentInfoVoList"]):
            return f"ZJPX_CLASS_FILE {path} holds masked learners (the console's form): write it with harness zjpx class add … --out {path}"
    except OSError as e:
        return f"ZJPX_CLASS_FILE {path}: {e.strerror} (harness zjpx class add … --out class.json)"
    except (ValueError, KeyError, TypeError) as e:
        return f"ZJPX_CLASS_FILE {path}: not a class of harness zjpx class add ({type(e).__name__}: {str(e)[:120]})"
    CLASS.update(intake)
    return None


@events.init.add_listener
def _load_class(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return  # the master starts no learner: its workers read the class
    error = _setup_error()
    if error:
        print(f"zjpx_learners: {error}", file=sys.stderr)
        raise SystemExit(2)


@events.quitting.add_listener
def _thresholds(environment: Environment, **_: Any) -> None:
    stats = environment.stats.total
    max_fail = float(os.environ.get("ZJPX_MAX_FAIL_RATIO", "0.01"))
    max_p95 = float(os.environ.get("ZJPX_MAX_P95_MS", "1000"))
    p95 = stats.get_response_time_percentile(0.95) or 0
    ok = stats.num_requests > 0 and stats.fail_ratio <= max_fail and p95 <= max_p95
    print(
        f"zjpx thresholds: requests={stats.num_requests} fail_ratio={stats.fail_ratio:.4f} (max {max_fail}) p95={p95} ms (max {max_p95}) -> {'PASS' if ok else 'FAIL'}"
    )
    environment.process_exit_code = 0 if ok else 1


class Learner(HttpUser):
    """One learner's device on the learning platform; the learning platform reports on its behalf."""

    def on_start(self) -> None:
        learners = CLASS["thirdClassStudentInfoVoList"]
        self.learner = learners[next(_seats) % len(learners)]
        self.videos = [
            (c["courseCode"], ch["chapterCode"], v["resCode"], int(v["videoTimeLength"]))
            for c in CLASS["thirdClassCourseInfoVoList"]
            for ch in c["children"]
            for v in ch["children"]
        ]
        self.token = ""
        self.platform_code = ""
        self.watched = 0
        self.call(
            "/api/v1/thlogin",
            {"studyPlatformAcount": os.environ["ZJPX_ACCOUNT"], "passWord": os.environ["ZJPX_PASSWORD"]},
            on_ok=self._logged_in,
        )
        self.call(
            "/api/v1/authentication",
            {"studyPlatformCode": self.platform_code, "cardNo": self.learner["cardNo"], "name": self.learner["studentName"]},
        )

    def _logged_in(self, reply: dict[str, Any]) -> None:
        self.token = reply["returnData"]["acceptToken"]
        self.platform_code = reply["returnData"]["studyPlatformCode"]

    def call(self, path: str, data: Any, on_ok: Any = None, name: str | None = None) -> dict[str, Any] | None:
        body = {
            "headers": {
                "deviceType": "TYPE_PC",
                "timestamp": str(int(time.time())),
                "deviceId": f"load{id(self):x}",
                "userToken": self.token,
            },
            "data": data,
        }
        with self.client.post(path, json=body, name=name or path, catch_response=True) as response:
            try:
                reply = response.json()
            except ValueError:
                response.failure(f"HTTP {response.status_code}: not JSON")
                return None
            if reply.get("returnCode") != "0":
                response.failure(f"returnCode {reply.get('returnCode')}: {reply.get('returnMsg', '')[:200]}")
                return reply
            response.success()
            if on_ok:
                on_ok(reply)
            return reply

    def keys(self, video: tuple[str, str, str, int]) -> dict[str, Any]:
        course, chapter, res, _ = video
        return {
            "studyPlatformCode": self.platform_code,
            "resCode": res,
            "studentUserCode": self.learner["studentCode"],
            "sectionCode": chapter,
            "classCode": CLASS["classCode"],
            "courseCode": course,
        }

    def face(self, ids: dict[str, Any], at: int) -> None:
        cfg = self.call("/api/v1/getFaceCompareConfig", ids)
        if cfg and cfg.get("returnCode") == "0":
            self.call(
                "/api/v1/thirdFaceCompare",
                dict(ids, compareMode="0", target=PHOTO, videoStudyTime=at, bizCode=cfg["returnData"]["bizCode"]),
            )

    def code(self, ids: dict[str, Any], at: int) -> None:
        issued = self.call("/api/v1/getVerificationCode", ids)
        if issued and issued.get("returnCode") == "0":
            d = issued["returnData"]
            self.call(
                "/api/v1/submitVerificationCode",
                {
                    "studyPlatformCode": self.platform_code,
                    "bizCode": d["bizCode"],
                    "verificationCode": d["verificationCode"],
                    "videoStudyTime": at,
                },
            )

    @task
    def study_a_video(self) -> None:
        video = self.videos[self.watched % len(self.videos)]
        self.watched += 1
        keys = self.keys(video)
        ids = {k: keys[k] for k in ("studyPlatformCode", "resCode", "studentUserCode", "classCode")}
        hook = int(CLASS.get("videoOnHook", 0))
        if self.call("/api/v1/startStudy", keys) is None:
            return
        self.face(ids, 0)  # at video start (videoStartFace)
        play, minute = 0, 0
        last = time.monotonic()
        while play < video[3]:
            gevent.sleep(max(0.0, last + MINUTE - time.monotonic()))
            now = time.monotonic()
            step = min(int(now - last), video[3] - play)
            play, last, minute = play + step, now, minute + 1
            self.call("/api/v1/studyHour", dict(keys, playTime=play, progressTime=step))
            if hook and minute % CHECK_EVERY == 0 and play < video[3]:
                (self.face if hook == 2 else self.code)(ids, play)
        self.call("/api/v1/endStudy", ids)
