"""harness.conformance.findings: a tolerated form sent in every call is reported once, with how often and where."""

from __future__ import annotations

from harness.conformance.engine import CheckSet
from harness.conformance.findings import GROUP_EVIDENCE, MAX_FINDINGS, capped, grouped
from harness.conformance.model import Evidence

TIME = "DUDU-TIME: SCHEMA: '{}' does not match '^[0-9]{{12}}$' (pattern) (field body.time)"


def dash_time(device: str, operation: str, second: int, code: int = 0) -> tuple:
    message = f"{device} {operation} (ret_code {code}): " + TIME.format(f"2026-12-01 22:52:{second:02d}")
    return "warning", message, (Evidence(note=f"call {second}"),), "003 time", "D-DUDU-TIME"


def test_one_tolerated_form_in_many_calls_is_one_warning_naming_count_places_and_first_calls():
    findings = [dash_time(f"DEV0000{i % 2 + 1}", ("location_report", "card_check")[i % 2], i, code=i % 3) for i in range(40)]
    [one] = grouped(findings)
    status, message, evidence, clause, decision = one
    assert (status, clause, decision) == ("warning", "003 time", "D-DUDU-TIME")
    assert message.startswith("40 calls: DUDU-TIME: SCHEMA: '2026-12-01 22:52:00' does not match")  # a real example value
    assert "first DEV00001 location_report (ret_code 0)" in message
    assert "DEV00001 location_report ×20" in message and "DEV00002 card_check ×20" in message  # reply codes do not split places
    assert [e.note for e in evidence] == [f"call {i}" for i in range(GROUP_EVIDENCE)]


def test_failures_are_never_folded_and_other_decisions_or_shapes_stay_apart():
    failed = ("failed", "DEV00001 card_check (ret_code 0): DUDU-SIGN: wrong signature", (), "003 §2", None)
    other = ("warning", "DEV00001 location_report (ret_code 0): DUDU-NUM: '1' is not of type 'integer'", (), "003 x", "D-DUDU-NUMSTR")
    findings = [failed, dash_time("DEV00001", "location_report", 1), failed, other, dash_time("DEV00002", "card_check", 2), other]
    out = grouped(findings)
    assert [f[0] for f in out] == ["failed", "warning", "failed", "warning"]  # in the place of each group's first member
    assert out[1][1].startswith("2 calls: ") and out[3][1].startswith("2 calls: ")
    assert out[0] == failed and out[2] == failed
    assert grouped([dash_time("DEV00001", "location_report", 1)]) == [dash_time("DEV00001", "location_report", 1)]  # one stays as is


def test_capped_folds_before_it_counts():
    checks = CheckSet()

    @checks.check("T-CALLS", title="calls", clause="003", level="MUST")
    def calls(_: object) -> None:
        return None

    check = checks.get("T-CALLS")
    warnings = [dash_time("DEV00001", "location_report", i % 60) for i in range(500)]
    fails = [("failed", f"DEV00001 card_check (ret_code 0): DUDU-SIGN: wrong signature {i}", (), "003 §2", None) for i in range(60)]
    results = capped(check, warnings + fails)
    assert results[0].status == "warning" and results[0].message.startswith("500 calls: ")
    assert len(results) == MAX_FINDINGS + 1 and results[-1].message.startswith("… and 11 more findings")
    assert all(r.status == "failed" for r in results[1:])
