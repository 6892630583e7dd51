import io
from pathlib import Path

import pytest

from harness.conformance.engine import CheckSet, failed, passed
from harness.conformance.engine import run as run_checks
from harness.conformance.model import CheckFinished, CheckResult, CheckStarted, RunStarted
from harness.conformance.runner import ProgressReporter, RunContext, run_role


class Recorder:
    def __init__(self):
        self.calls = []

    def start(self, ctx):
        self.calls.append("start")

    def handle_event(self, ctx, event):
        self.calls.append(type(event).__name__)

    def shutdown(self, ctx):
        self.calls.append("shutdown")
        self.ctx = ctx


class Broken(Recorder):
    def handle_event(self, ctx, event):
        raise RuntimeError("disk full")


def events(*outcomes, mandatory=True):
    checks = CheckSet()
    for i, outcome in enumerate(outcomes):
        checks.check(f"C{i}", title=f"c{i}", clause=f"clause {i}", level="MUST" if mandatory else "SHOULD")(lambda ctx, o=outcome: o)
    return run_checks(role="r", platform="p", target="t", checks=checks, context=None, seed=1)


@pytest.mark.parametrize(
    ("outcomes", "mandatory", "code"),
    [((passed(),), True, 0), ((passed(), failed("x")), True, 1), ((failed("advice"),), False, 0)],
)
def test_exit_codes(tmp_path, outcomes, mandatory, code):
    rec = Recorder()
    assert run_role(events(*outcomes, mandatory=mandatory), tmp_path, progress=False, reporters=[rec]) == code
    assert rec.calls[0] == "start" and rec.calls[-1] == "shutdown" and rec.calls[-2] == "RunFinished"
    assert rec.ctx.counts["passed"] + rec.ctx.counts["failed"] + rec.ctx.counts["warning"] == len(outcomes)


def test_a_broken_role_still_reports_and_exits_2(tmp_path):
    def stream():
        yield from list(events(passed()))[:2]
        raise ConnectionError("target vanished")

    rec = Recorder()
    assert run_role(stream(), tmp_path, progress=False, reporters=[rec]) == 2
    assert rec.ctx.finished.verdict == "error" and "target vanished" in rec.ctx.finished.reason


def test_a_stream_without_verdict_is_an_error(tmp_path):
    rec = Recorder()
    assert run_role(iter([]), tmp_path, progress=False, reporters=[rec]) == 2
    assert rec.ctx.verdict == "error"


def test_a_broken_reporter_is_contained_and_the_run_exits_2(tmp_path):
    rec, broken = Recorder(), Broken()
    assert run_role(events(passed()), tmp_path, progress=False, reporters=[broken, rec]) == 2
    assert "RunFinished" in rec.calls  # the others still got every event
    assert any("disk full" in e for e in rec.ctx.reporter_errors)


def test_progress_lines():
    stream = io.StringIO()
    reporter, ctx = ProgressReporter(stream), RunContext(report_dir=Path("/nonexistent"))
    result = CheckResult("YXC-CB-SIGNIN", "t", "000 附件二", "failed", "no reply")
    for event in (RunStarted("yxc-callback", "yxc", "https://x", {}, 3, {}, (), 17, False), CheckFinished(result, 3, 17)):
        ctx.update(event)
        reporter.handle_event(ctx, event)
    lines = stream.getvalue().splitlines()
    assert "NOT VALID FOR CERTIFICATION" in lines[1]
    assert lines[2] == "[3/17] YXC-CB-SIGNIN … failed  [000 附件二] no reply"


def test_live_progress_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    reporter, ctx = ProgressReporter(stream), RunContext(report_dir=Path("/nonexistent"))
    result = CheckResult("YXC-QR-SIZE", "t", "000 附件一 2", "passed")
    for event in (CheckStarted("YXC-QR-SIZE", "t", 1, 2), CheckFinished(result, 1, 2)):
        reporter.handle_event(ctx, event)
    assert stream.getvalue() == "[1/2] YXC-QR-SIZE …\r\x1b[K[1/2] YXC-QR-SIZE … passed\n"
