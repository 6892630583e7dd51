"""A small synthetic run (no server) whose events every report test feeds to the writers."""

from __future__ import annotations

from pathlib import Path

from harness.conformance import catalogue
from harness.conformance.engine import CheckSet, failed, passed, skipped
from harness.conformance.model import Evidence
from harness.conformance.runner import run_role

ID_NUMBER, MOBILE, NAME = "440103199001011234", "13812345678", "张三丰"

CHECKS = CheckSet()
CHECKS.check(
    "YXC-CR-TOTAL", title="total = part1 + part2 + part3 + part4", clause="000 附件四 A.6.3.2 表A.8 #18–#22", requirements=("YXC-CR-TOTAL",)
)(
    lambda ctx: failed(
        "YXC-CR-TOTAL: total 50 ≠ 45",
        Evidence(
            note="journal #11",
            request={"method": "POST", "url": "/yxc/classrecord?ts=1795452261477&sign=" + "AB" * 256, "body": {"total": 50, "name": NAME}},
            reply={"status": 200, "body": {"errorcode": 1, "message": "执行失败"}},
        ),
    )
)
CHECKS.check("YXC-CR-PHOTO2", title="photo2 present", clause="000 附件四 A.6.3.2 表A.8 #10", requirements=("YXC-CR-PHOTO2",))(
    lambda ctx: passed(
        "held",
        Evidence(request={"method": "POST", "url": "/yxc/coach", "body": {"idcard": ID_NUMBER, "mobile": MOBILE, "xm": NAME}}),
    )
)
CHECKS.check("YXC-CR-SIM-CARNUM", title="simulator carnum", clause="000 附件四 A.6.3.2 表A.8 #4", requirements=("YXC-CR-SIM-CARNUM",))(
    lambda ctx: skipped("not exercised")
)
CHECKS.check("ADVISORY", title="advisory <b>only</b>", clause="000 附件二 2", level="SHOULD")(
    lambda ctx: failed(f"reply mentions {MOBILE}")
)


def events(certification_valid: bool = True, checks: CheckSet = CHECKS):
    from harness.conformance.engine import run

    return run(
        role="yxc-sample",
        platform="yxc",
        target="https://vendor.example.com/cb",
        checks=checks,
        context=None,
        seed=9,
        spec_hashes={"specs/yxc/requirements.yaml": catalogue.sha256("yxc")},
        requirements=catalogue.load("yxc"),
        certification_valid=certification_valid,
    )


def write(out: Path, db: Path, **kw) -> int:
    return run_role(events(**kw), out, progress=False, db=db)
