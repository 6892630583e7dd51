from harness.conformance.engine import CannotRun, CheckSet, failed, passed, run, skipped
from harness.conformance.model import CheckFinished, CheckStarted, RunFinished, RunStarted


def _run(checks):
    return list(run(role="r", platform="p", target="t", checks=checks, context=None, seed=7))


def test_events_in_order_and_verdict_passed():
    checks = CheckSet()
    checks.check("A", title="a", clause="c1")(lambda ctx: passed("ok"))
    checks.check("B", title="b", clause="c2")(lambda ctx: skipped("n/a"))
    events = _run(checks)
    assert isinstance(events[0], RunStarted) and events[0].planned == 2 and events[0].seed == 7
    assert [type(e) for e in events[1:-1]] == [CheckStarted, CheckFinished, CheckStarted, CheckFinished]
    assert events[-1].is_terminal and events[-1].verdict == "passed"
    assert (events[-1].passed, events[-1].skipped) == (1, 1)


def test_only_mandatory_failures_decide_the_verdict():
    checks = CheckSet()
    checks.check("A", title="a", clause="c")(lambda ctx: passed())
    checks.check("ADVISORY", title="b", clause="c", level="SHOULD")(lambda ctx: failed("advice"))
    checks.check("BROKEN", title="c", clause="c", level="SHOULD")(lambda ctx: 1 / 0)
    finished = _run(checks)[-1]
    assert finished.verdict == "passed" and finished.failed == 0 and finished.warnings == 1 and finished.errors == 1

    checks.check("M", title="m", clause="c")(lambda ctx: failed("no"))
    assert _run(checks)[-1].verdict == "failed"


def test_a_check_may_return_several_results_and_errors_are_contained():
    checks = CheckSet()
    check = checks.check("MANY", title="many", clause="c")

    def many(ctx):
        return [passed("one"), failed("two")]

    check(many)
    checks.check("BOOM", title="boom", clause="c")(lambda ctx: {}["missing"])
    events = _run(checks)
    results = [e.result for e in events if isinstance(e, CheckFinished)]
    assert [r.status for r in results] == ["passed", "failed", "error"]
    assert "KeyError" in results[-1].message
    assert events[-1].verdict == "failed"


def test_cannot_run_ends_with_error():
    checks = CheckSet()

    def unknown(ctx):
        raise CannotRun("no such vendor")

    checks.check("PRE", title="pre", clause="c")(unknown)
    checks.check("NEVER", title="never", clause="c")(lambda ctx: passed())
    events = _run(checks)
    assert isinstance(events[-1], RunFinished) and events[-1].verdict == "error"
    assert "no such vendor" in events[-1].reason
    assert not any(isinstance(e, CheckStarted) and e.check_id == "NEVER" for e in events)
