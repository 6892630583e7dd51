"""Role ``yxc-timing-platform``: the vendor as client, graded from what it actually sent to ``harness serve``.

The reference province server journals every call with the verdict of every rule it evaluated. This role reads
that vendor's journal and checks that:

- the required steps are there (a file upload, a coach, a student, and a classrecord whose ``logininfo`` is a
  code the mini-program issued, i.e. YXC-CR-LOGININFO held) and names each missing one;
- every call was signed and valid: one check per rule of ``harness/yxc/rules.py``, where each failed verdict is
  a failed result naming rule and clause with the journaled exchange as evidence, and a rule no call exercised
  is reported as skipped (its requirement then shows as "not covered");
- every call named a defined service and matched the interface definition (YXC-TP-INTERFACE).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from harness.conformance import catalogue
from harness.conformance.engine import CannotRun, Check, CheckSet, failed, passed, skipped
from harness.conformance.engine import run as run_checks
from harness.conformance.model import CheckResult, Event, Evidence
from harness.conformance.roles import SINCE_OPTION, CommonOptions, RoleOption
from harness.conformance.sessions import Window
from harness.journal import Journal, entry_from_row
from harness.pki import Vendor, find_vendor
from harness.rules import RuleSet
from harness.schema import open_store
from harness.specs import spec_sha256
from harness.store import Store
from harness.yxc import rules as yxc_rules

SPEC_FILES = ("yxc/province.yaml", "yxc/requirements.yaml", "decisions.yaml")
ENROLLED_CLAUSE = "000 附件四 URL user (证书序列号); harness vendor add"
INTERFACE_CLAUSE = "000 附件四 request tables; 000 附件二 返回码 100/200"
# A vendor that repeats one mistake thousands of times gets this many findings with evidence, then a count.
MAX_FINDINGS = 50


@dataclass(frozen=True)
class Step:
    check_id: str
    operation: str
    what: str
    clause: str
    requirement: str


STEPS = (
    Step("YXC-TP-STEP-IMAGEUP", "imageup", "an accepted file upload (POST /imageup/{type})", "000 附件四 A.5.3", "YXC-FLOW-IMAGEUP"),
    Step("YXC-TP-STEP-COACH", "coach", "an accepted coach filing (POST /coach)", "000 附件四 A.6.2.3.1", "YXC-FLOW-COACH"),
    Step("YXC-TP-STEP-STUDENT", "student", "an accepted student filing (POST /student)", "000 附件四 A.6.3.1.1", "YXC-FLOW-STUDENT"),
    Step(
        "YXC-TP-STEP-CLASSRECORD",
        "classrecord",
        "an accepted classrecord whose logininfo matched an issued sign-in code (YXC-CR-LOGININFO held)",
        "000 2.1.2 2); 000 附件四 A.6.3.2 表A.8 #24",
        "YXC-FLOW-CLASSRECORD",
    ),
)


@dataclass
class Graded:
    """What the checks read: the vendor and its journaled calls, oldest first."""

    store: Store
    user: str
    since: int | None = None
    vendor: Vendor | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, Check] = field(default_factory=dict)
    window: Window | None = None  # which journal rows are graded (default: untagged, non-fuzz rows after ``since``)

    def __post_init__(self) -> None:
        if self.window is None:
            self.window = Window(after_id=self.since)


def exchange_evidence(entry: dict[str, Any], note: str = "") -> Evidence:
    """A journaled exchange as evidence (the report masks personal data and cuts long values)."""
    body: Any = entry["request_body"]
    if body is None:
        body = f"<{entry['request_size']} bytes of binary data, sha256 {entry['request_sha256']}>"
    else:
        try:
            body = json.loads(body)
        except ValueError:
            pass
    where = f"journal #{entry['id']} {entry['method']} {entry['path']} at {entry['at']}"
    url = entry["path"] + (f"?{entry['query']}" if entry["query"] else "")
    return Evidence(
        note=f"{note} ({where})" if note else where,
        request={"method": entry["method"], "url": url, "headers": entry["request_headers"], "body": body, "journal_id": entry["id"]},
        reply={"status": entry["status"], "body": entry["reply"]},
    )


def _where(entry: dict[str, Any]) -> str:
    return f"journal #{entry['id']} {entry['method']} {entry['path']}"


def _enrolled(g: Graded) -> Any:
    vendor = find_vendor(g.store, "yxc", g.user, case_insensitive=True)
    if vendor is None:
        raise CannotRun(f"no YXC vendor is enrolled with user {g.user!r} in store {g.store.path} (harness vendor list)")
    g.vendor = vendor
    assert g.window is not None
    attributed = Journal(g.store).query(vendor=vendor.user, platform="yxc", where=g.window.sql(), limit=None, ascending=True)
    unattributed = _unattributed(g, vendor.user)
    g.entries = sorted(attributed + unattributed, key=lambda e: e["id"])
    since = f" ({g.window.describe()})"
    also = f", of which {len(unattributed)} were refused before the certificate was recognised" if unattributed else ""
    return passed(f"vendor {vendor.platnum} (user {vendor.user}): {len(g.entries)} journaled calls{since}{also}")


def _unattributed(g: Graded, user: str) -> list[dict[str, Any]]:
    """Calls the gate refused before naming a vendor (e.g. ``user`` in the wrong case under the strict profile).

    The journal leaves their vendor empty, but they are this vendor's calls and must be graded, not overlooked.
    """
    assert g.window is not None
    window, window_params = g.window.sql()
    rows = g.store.query(
        f"SELECT * FROM journal WHERE platform = 'yxc' AND vendor IS NULL AND upper(query) LIKE ? AND ({window}) ORDER BY id",
        (f"%USER={user.upper()}%", *window_params),
    )
    entries = [entry_from_row(r) for r in rows]
    return [e for e in entries if parse_qs(e["query"]).get("user", [""])[0].upper() == user.upper()]


def _step(step: Step) -> Any:
    def check(g: Graded) -> Any:
        tried = [e for e in g.entries if e["operation"] == step.operation]
        accepted = [e for e in tried if e["outcome"] in ("held", "warning") and e["code"] == "0"]
        if step.operation == "classrecord":
            accepted = [e for e in accepted if any(v["rule"] == "YXC-CR-LOGININFO" and v["held"] for v in e["verdicts"])]
        if accepted:
            return passed(f"{len(accepted)} of {len(tried)} calls accepted", exchange_evidence(accepted[0], "first accepted call"))
        if not tried:
            return failed(f"missing step: {step.what}; the journal holds no such call")
        last = tried[-1]
        why = next((f"{v['rule']} [{v['clause']}]: {v.get('message', '')}" for v in last["verdicts"] if not v["held"]), "refused")
        return failed(f"missing step: {step.what}; all {len(tried)} attempts were refused, the last by {why}", exchange_evidence(last))

    return check


def _rule(rule_id: str) -> Any:
    def check(g: Graded) -> Any:
        seen = 0
        results: list[Any] = []
        for entry in g.entries:
            for v in entry["verdicts"]:
                if v["rule"] != rule_id:
                    continue
                seen += 1
                if not v["held"]:
                    field_note = f" (field {v['field']})" if v.get("field") else ""
                    decision = f" (decision {v['decision']})" if v.get("decision") else ""
                    message = f"{rule_id}: {v.get('message', '')}{field_note} on {_where(entry)}{decision}"
                    status = "warning" if v.get("level") == "SHOULD" else "failed"  # a reading the seed allows
                    results.append((status, message, (exchange_evidence(entry),), v["clause"]))
        if not seen:
            return skipped("not exercised: no journaled call of this vendor evaluated this rule")
        if not results:
            return passed(f"held on {seen} of {seen} evaluations")
        return _findings(rule_id, g, results)

    return check


def _interface(g: Graded) -> Any:
    known = {r.id for r in yxc_rules.DEFINITIONS}
    results: list[Any] = []
    for entry in g.entries:
        for v in entry["verdicts"]:
            if v["held"] or v["rule"] in known:
                continue
            status = "error" if v["rule"] == "INTERNAL" else "warning" if v.get("level") == "SHOULD" else "failed"
            field_note = f" (field {v['field']})" if v.get("field") else ""
            message = f"{v['rule']} [{v['clause']}]: {v.get('message', '')}{field_note} on {_where(entry)}"
            results.append((status, message, (exchange_evidence(entry),), v["clause"] or INTERFACE_CLAUSE))
    if not results:
        return passed(f"all {len(g.entries)} calls named a defined service and matched its definition")
    return _findings("YXC-TP-INTERFACE", g, results)


def _findings(check_id: str, g: Graded, results: list[Any]) -> list[CheckResult]:
    kept = [_clause_result(check_id, g, *r) for r in results[:MAX_FINDINGS]]
    if len(results) > MAX_FINDINGS:
        rest = results[MAX_FINDINGS:]
        kept.append(_clause_result(check_id, g, "failed", f"… and {len(rest)} more findings like these (evidence omitted)", (), rest[0][3]))
    return kept


def _clause_result(check_id: str, g: Graded, status: Any, message: str, evidence: tuple[Evidence, ...], clause: str) -> CheckResult:
    """A result carrying the verdict's own clause, which may be more precise than the check's (a field's table row)."""
    check = g.checks[check_id]
    return check.result(status, message, *evidence, clause=clause)


def build_checks() -> CheckSet:
    checks = CheckSet()
    checks.check("YXC-TP-ENROLLED", title="the vendor is enrolled and its calls are journaled", clause=ENROLLED_CLAUSE)(_enrolled)
    for step in STEPS:
        checks.check(step.check_id, title=f"required step: {step.what}", clause=step.clause, requirements=(step.requirement,))(_step(step))
    checks.check(
        "YXC-TP-INTERFACE",
        title="every call names a defined service and matches the interface definition",
        clause=INTERFACE_CLAUSE,
        requirements=("YXC-INTERFACE",),
    )(_interface)
    for rule in yxc_rules.install(RuleSet("yxc")):
        checks.check(rule.id, title=rule.title, clause=rule.clause, requirements=(rule.id,))(_rule(rule.id))
    return checks


class TimingPlatformRole:
    name = "yxc-timing-platform"
    platform = "yxc"
    summary = "Grade a YXC timing platform (vendor as client) from the journal."
    description = (
        "Grade a YXC timing platform (the vendor as client) from what it sent to `harness serve`: the required steps "
        "(file upload, coach, student, a classrecord whose logininfo matched an issued code), every call signed and valid, "
        "no rule failed."
    )
    options = (
        RoleOption("vendor", "The vendor's `user`: its certificate serial, as `harness vendor add` printed it.", required=True),
        SINCE_OPTION,
    )

    def __init__(self, common: CommonOptions, vendor: str, since: int | None = None, window: Window | None = None) -> None:
        self.common = common
        self.user = vendor
        self.window = window or Window(after_id=since)  # a certification session's, or --since's

    def run(self, seed: int) -> Iterator[Event]:
        store = open_store(self.common.db)
        try:
            checks = build_checks()
            graded = Graded(store, self.user, window=self.window, checks={c.id: c for c in checks})
            yield from run_checks(
                role=self.name,
                platform=self.platform,
                target=f"YXC timing platform user {self.user}, journal of {self.common.db}",
                checks=checks,
                context=graded,
                seed=seed,
                options={"vendor": self.user, **self.window.options(), "profile": self.common.profile, "db": str(self.common.db)},
                spec_hashes={f"specs/{f}": spec_sha256(f) for f in SPEC_FILES},
                requirements=catalogue.load(self.platform),
                # Grading a tolerant-profile session is for development only.
                certification_valid=True,  # verdicts do not depend on the profile (a relaxed form is a WARNING)
            )
        finally:
            store.close()
