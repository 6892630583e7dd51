"""Role ``yxc-timing-platform``: the vendor as client, graded from what it actually sent to ``harness serve``.

The reference province server journals every call with the verdict of every rule it evaluated. This role reads
that vendor's journal and checks that:

- the required steps are there (a file upload, a coach, a student, and a classrecord whose ``logininfo`` is a
  code the mini-program issued, i.e. YXC-CR-LOGININFO held) and names each missing one;
- every call was signed and valid: one check per rule of ``harness/yxc/rules.py``, where each failed verdict is
  a failed result naming rule and clause with the journaled exchange as evidence, and a rule no call exercised
  is reported as skipped (its requirement then shows as "not covered");
- every call named a defined service and matched the interface definition (YXC-TP-INTERFACE);
- recovery after a drill fault (harness faults, docs/faults.md): a classrecord a fault kept from being answered was
  filed again and accepted under its identity (YXC-TP-REFILE, MUST: 000 2.1.2 2) the record 需…上报; D-YXC-REFILE),
  and no training was filed as two records, nor two trainings under one identity (YXC-TP-RECORD-UNIQUE, SHOULD:
  D-YXC-RECORD-IDENTITY).

Exchanges a drill fault answered in the platform's place (the journal's ``fault`` column, every kind but ``delay``) are
never graded as the vendor's calls: they are the subject of the recovery checks only.

Every failed verdict in the journal is graded, whether the reference refused the call or answered it (a form only a
tolerant reading accepts): a failed MUST verdict is a failed result naming the verdict's own clause; a failed SHOULD
verdict (``"level": "SHOULD"`` in the journal) is a WARNING naming its decision. A call the reference refused without
naming any rule is a failed YXC-TP-INTERFACE result, never overlooked. Nothing depends on ``--profile``: the journal
holds the verdicts the reference reached when it served the calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from harness import faults, limits
from harness.conformance import catalogue
from harness.conformance.engine import CannotRun, Check, CheckSet, failed, passed, skipped
from harness.conformance.engine import run as run_checks
from harness.conformance.findings import MAX_FINDINGS, Finding, capped
from harness.conformance.model import CheckResult, Event, Evidence
from harness.conformance.roles import SINCE_OPTION, CommonOptions, RoleOption
from harness.conformance.sessions import Window
from harness.errors import ConfigError
from harness.journal import Journal, entry_from_row
from harness.pki import Vendor, find_vendor
from harness.rules import RuleSet
from harness.schema import open_store
from harness.specs import spec_sha256
from harness.store import Store
from harness.yxc import rules as yxc_rules
from harness.yxc.platform import RECORD_KEYS

SPEC_FILES = ("yxc/province.yaml", "yxc/requirements.yaml", "decisions.yaml")
ENROLLED_CLAUSE = "000 附件四 URL user (证书序列号); harness vendor add"
INTERFACE_CLAUSE = "000 附件四 request tables; 000 附件二 返回码 100/200"
REFILE_CLAUSE = "000 2.1.2 2) 需将相关信息,随电子教学日志数据一起上报省监管平台; 000 附件四 A.6.3.2 (学时信息进行备案)"
IDENTITY_CLAUSE = "000 附件四 A.6.3.2 表A.8 #2 stunum 学员编号, #7 recnum 电子教学日志编号 (平台自主编号)"
# What makes two classrecords one training, beside the identity (stunum, recnum): the body without the identity and the
# sign-in/sign-out codes (a re-file may carry fresh ones). Two identities with the same rest are one training twice.
NOT_CONTENT = frozenset({"recnum", "logininfo", "logoutinfo"})
# Fields that tell one training from another: the same identity with other values here names a second training.
TRAINING = ("starttime", "endtime", "subjcode")


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
    faulted: list[dict[str, Any]] = field(default_factory=list)  # calls a drill fault answered in the platform's place
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
            body = limits.loads(body)  # a body beyond the input limits (refused when it came) stays text
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


def load_entries(g: Graded, vendor: Vendor) -> list[dict[str, Any]]:
    """The vendor's journaled calls, oldest first: the one place this role reads the journal.

    The calls the journal attributes to the vendor, plus those the gate refused before it named the vendor: in a
    certification session every such call under the session's base path (Window.attributed), and outside one those
    whose query names the vendor's user."""
    assert g.window is not None
    attributed = Journal(g.store).query(platform="yxc", where=g.window.attributed(vendor.user), limit=None, ascending=True)
    seen = {e["id"] for e in attributed}
    return sorted(attributed + [e for e in _unattributed(g, vendor.user) if e["id"] not in seen], key=lambda e: e["id"])


def _enrolled(g: Graded) -> Any:
    vendor = find_vendor(g.store, "yxc", g.user, case_insensitive=True)
    if vendor is None:
        raise CannotRun(f"no YXC vendor is enrolled with user {g.user!r} in store {g.store.path} (harness vendor list)")
    g.vendor = vendor
    loaded = load_entries(g, vendor)
    g.entries = [e for e in loaded if faults.answered_by_platform(e)]
    g.faulted = [e for e in loaded if not faults.answered_by_platform(e)]
    assert g.window is not None
    since = f" ({g.window.describe()})"
    drilled = f" (and {len(g.faulted)} a drill fault answered)" if g.faulted else ""
    if not g.entries:
        return failed(
            f"vendor {vendor.platnum} (user {vendor.user}) is enrolled, but the journal holds none of its calls"
            f" the platform answered{since}{drilled}"
        )
    unattributed = sum(1 for e in g.entries if e["vendor"] is None)
    also = f", of which {unattributed} were refused before the certificate was recognised" if unattributed else ""
    return passed(f"vendor {vendor.platnum} (user {vendor.user}): {len(g.entries)} journaled calls{since}{also}{drilled}")


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


def _accepted(entry: dict[str, Any]) -> bool:
    """The reference accepted the call, or refused it only for SHOULD verdicts (a form the seed shows that another
    reading refuses: the step was done; YXC-TP-INTERFACE or the rule's check reports the form as a WARNING)."""
    failing = [v for v in entry["verdicts"] if not v["held"]]
    if entry["code"] == "0":
        return all(v.get("level") == "SHOULD" for v in failing)
    return bool(failing) and all(v.get("level") == "SHOULD" for v in failing)


REMOTE_CLAUSE = (
    "000 2.2 2) (远程平台端升级: 随电子教学日志数据一起上报); 附件四 A.6.2.3.1 / A.6.3.1.1 (用于计时平台), A.6.3.2 (计时平台或远程教育平台)"
)
TIMING_ONLY = ("coach", "student")  # filings the seed gives the timing platform alone (业务描述 用于计时平台)


def remote_platform(g: Graded) -> bool:
    """A remote-teaching platform's session: it filed classrecords, every one of training mode 4 (远程, subjcode digit 1,
    D-YXC-SUBJCODE), and no coach or student. 000 2.2 2) has a remote platform report its records (附件四 A.6.3.2 用于计时
    平台或远程教育平台); coaches and students are filed by the students' timing platforms (A.6.2.3.1, A.6.3.1.1 用于计时
    平台), so it is not asked for them."""
    if any(e["operation"] in TIMING_ONLY for e in g.entries):
        return False
    modes = [str(b.get("subjcode", ""))[:1] for _, b in _classrecords(g.entries)]
    return bool(modes) and all(m == "4" for m in modes)


def _step(step: Step) -> Any:
    def check(g: Graded) -> Any:
        tried = [e for e in g.entries if e["operation"] == step.operation]
        if not tried and step.operation in TIMING_ONLY and remote_platform(g):
            return g.checks[step.check_id].result(
                "skipped",
                f"a remote-teaching platform (every classrecord of training mode 4, no coach or student filed): {step.what} is a "
                f"timing platform's filing (附件四 {step.clause.split()[-1]} 用于计时平台; 000 2.2 2) asks a remote platform for its "
                "training records only)",
                clause=REMOTE_CLAUSE,
            )
        accepted = [e for e in tried if _accepted(e)]
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


def _verdict_finding(v: dict[str, Any], entry: dict[str, Any], prefix: str) -> Finding:
    """One failed verdict as a finding: failed for a MUST verdict, a warning naming its decision for a SHOULD one."""
    field_note = f" (field {v['field']})" if v.get("field") else ""
    should = v.get("level") == "SHOULD"
    decision = v.get("decision") if should else None
    reading = f"; only a tolerant reading of {decision} accepts this form" if decision else ""
    status = "error" if v["rule"] == "INTERNAL" else "warning" if should else "failed"
    message = f"{_where(entry)}: {prefix}: {v.get('message', '')}{field_note}{reading}"
    return status, message, (exchange_evidence(entry),), v["clause"] or INTERFACE_CLAUSE, decision


def _rule(rule_id: str) -> Any:
    def check(g: Graded) -> Any:
        seen = 0
        results: list[Finding] = []
        for entry in g.entries:
            for v in entry["verdicts"]:
                if v["rule"] != rule_id:
                    continue
                seen += 1
                if not v["held"]:
                    results.append(_verdict_finding(v, entry, rule_id))
        if not seen:
            return skipped("not exercised: no journaled call of this vendor evaluated this rule")
        if not results:
            return passed(f"held on {seen} of {seen} evaluations")
        return _findings(rule_id, g, results)

    return check


def _interface(g: Graded) -> Any:
    if not g.entries:
        return skipped("no journaled call of this vendor to judge")
    known = {r.id for r in yxc_rules.RULES}
    results: list[Finding] = []
    for entry in g.entries:
        failing = [v for v in entry["verdicts"] if not v["held"]]
        for v in failing:
            if v["rule"] not in known:
                results.append(_verdict_finding(v, entry, f"{v['rule']} [{v['clause']}]"))
        if not failing and entry["code"] != "0":  # refused, yet no rule named: graded here, never overlooked
            message = f"refused with errorcode {entry['code']}, no rule verdict failed, on {_where(entry)}"
            results.append(("failed", message, (exchange_evidence(entry),), INTERFACE_CLAUSE, None))
    if not results:
        return passed(f"all {len(g.entries)} calls named a defined service and matched its definition")
    return _findings("YXC-TP-INTERFACE", g, results)


def _findings(check_id: str, g: Graded, results: list[Finding]) -> list[CheckResult]:
    """The findings as results of the check, each carrying the verdict's own clause, which may be more precise than the
    check's (a field's table row); tolerated forms sent in many calls folded into one warning each."""
    return capped(g.checks[check_id], results)


# -- recovery after a drill fault (D-YXC-REFILE, D-YXC-RECORD-IDENTITY) ----------------------------------------------------
def _classrecords(entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The classrecord calls among ``entries`` whose body names an identity, with that body."""
    out = []
    for entry in entries:
        if entry["operation"] != "classrecord" and not str(entry["path"]).rstrip("/").endswith("/classrecord"):
            continue
        try:
            body = limits.loads(entry["request_body"] or "")
        except (ValueError, TypeError):
            continue
        if isinstance(body, dict) and isinstance(body.get("stunum"), str) and isinstance(body.get("recnum"), str):
            out.append((entry, body))
    return out


def _identity(body: dict[str, Any]) -> str:
    return RECORD_KEYS["classrecord"](body)


def _refile(g: Graded) -> Any:
    check = g.checks["YXC-TP-REFILE"]
    denied = _classrecords(g.faulted)
    if not denied:
        return skipped("no classrecord of this vendor was refused or dropped by a drill fault (harness faults): no recovery to grade")
    accepted = [(e, b) for e, b in _classrecords(g.entries) if _accepted(e)]
    results: list[CheckResult] = []
    refiled = []
    for entry, body in denied:
        key = _identity(body)
        later = next((e for e, b in accepted if e["id"] > entry["id"] and _identity(b) == key), None)
        if later is None:
            message = (
                f"classrecord {key} (stunum/recnum) met drill fault {entry['fault']} on {_where(entry)} and was never filed"
                " again: no later accepted classrecord names it (D-YXC-REFILE)"
            )
            results.append(check.result("failed", message, exchange_evidence(entry, "the call the fault denied"), decision="D-YXC-REFILE"))
        else:
            refiled.append((key, entry, later))
    if results:
        return results[:MAX_FINDINGS]
    key, first, again = refiled[0]
    return passed(
        f"all {len(refiled)} classrecords a drill fault denied were filed again and accepted (first: {key}, "
        f"{_where(first)} → {_where(again)})",
        exchange_evidence(first, "denied by the drill fault"),
        exchange_evidence(again, "filed again, accepted"),
    )


def _record_unique(g: Graded) -> Any:
    check = g.checks["YXC-TP-RECORD-UNIQUE"]
    accepted = [(e, b) for e, b in _classrecords(g.entries) if _accepted(e)]
    if len(accepted) < 2:
        return skipped(f"{len(accepted)} accepted classrecord(s) in this session: no two records to compare")
    findings: list[CheckResult] = []
    by_key: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    by_content: dict[str, tuple[dict[str, Any], str]] = {}
    for entry, body in accepted:
        key = _identity(body)
        first = by_key.setdefault(key, (entry, body))
        if first[0] is not entry and any(first[1].get(f) != body.get(f) for f in TRAINING):
            was = "/".join(str(first[1].get(f)) for f in TRAINING)
            now = "/".join(str(body.get(f)) for f in TRAINING)
            message = (
                f"classrecord {key} (stunum/recnum) names two trainings: {was} on {_where(first[0])}, {now} on {_where(entry)}"
                " (starttime/endtime/subjcode): a second training needs a recnum of its own"
            )
            findings.append(
                check.result("failed", message, exchange_evidence(first[0]), exchange_evidence(entry), decision="D-YXC-RECORD-IDENTITY")
            )
        content = _content(body)
        seen = by_content.setdefault(content, (entry, key))
        if seen[1] != key:
            message = (
                f"one training filed as two records: {seen[1]} on {_where(seen[0])} and {key} on {_where(entry)} carry the same"
                " record under two recnums (its hours counted twice); a record filed again keeps its recnum"
            )
            findings.append(
                check.result("failed", message, exchange_evidence(seen[0]), exchange_evidence(entry), decision="D-YXC-RECORD-IDENTITY")
            )
    if findings:
        return findings[:MAX_FINDINGS]
    return passed(f"{len(accepted)} accepted classrecords: {len(by_key)} identities, one training each, no training filed twice")


def _content(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if k not in NOT_CONTENT}, sort_keys=True, ensure_ascii=False)


def build_checks() -> CheckSet:
    """Every check of the role, with its level from the seed's words (specs/yxc/requirements.yaml says why)."""
    checks = CheckSet()
    checks.check("YXC-TP-ENROLLED", title="the vendor is enrolled and its calls are journaled", clause=ENROLLED_CLAUSE, level="MUST")(
        _enrolled
    )
    for step in STEPS:
        checks.check(
            step.check_id, title=f"required step: {step.what}", clause=step.clause, requirements=(step.requirement,), level="MUST"
        )(_step(step))
    checks.check(
        "YXC-TP-INTERFACE",
        title="every call names a defined service and matches the interface definition",
        clause=INTERFACE_CLAUSE,
        requirements=("YXC-INTERFACE",),
        level="MUST",
    )(_interface)
    checks.check(
        "YXC-TP-REFILE",
        title="a classrecord a drill fault refused or dropped is filed again under its identity and accepted",
        clause=REFILE_CLAUSE,
        requirements=("YXC-RECOVERY-REFILE",),
        level="MUST",
    )(_refile)
    checks.check(
        "YXC-TP-RECORD-UNIQUE",
        title="one training is one record: never filed under two identities, never two trainings under one",
        clause=IDENTITY_CLAUSE,
        requirements=("YXC-RECORD-IDENTITY",),
        level="SHOULD",
    )(_record_unique)
    levels = {r.id: r.level for r in catalogue.load("yxc")}
    for rule in yxc_rules.install(RuleSet("yxc")):
        level = levels.get(rule.id, rule.level)
        checks.check(rule.id, title=rule.title, clause=rule.clause, requirements=(rule.id,), level=level)(_rule(rule.id))
    return checks


CHECKS = build_checks()


class TimingPlatformRole:
    name = "yxc-timing-platform"
    platform = "yxc"
    summary = "Grade a YXC timing platform (vendor as client) from the journal."
    description = (
        "Grade a YXC timing platform (the vendor as client) from what it sent to `harness serve`: the required steps "
        "(file upload, coach, student, a classrecord whose logininfo matched an issued code), every call signed and valid, "
        "no rule failed; every failed verdict in the journal is graded, refused calls included."
    )
    options = (
        RoleOption("vendor", "The vendor's `user`: its certificate serial, as `harness vendor add` printed it.", required=True),
        SINCE_OPTION,
    )
    checks = CHECKS

    def __init__(self, common: CommonOptions, vendor: str, since: int | None = None, window: Window | None = None) -> None:
        store = open_store(common.db)  # an unknown vendor is one line and exit 2 here, at certify start as at grading
        try:
            if find_vendor(store, "yxc", vendor, case_insensitive=True) is None:
                raise ConfigError(f"no YXC vendor is enrolled with user {vendor!r} in {common.db} (harness vendor list)")
        finally:
            store.close()
        self.common = common
        self.user = vendor
        self.window = window or Window(after_id=since)  # a certification session's, or --since's

    def run(self, seed: int) -> Iterator[Event]:
        store = open_store(self.common.db)
        try:
            graded = Graded(store, self.user, window=self.window, checks={c.id: c for c in self.checks})
            yield from run_checks(
                role=self.name,
                platform=self.platform,
                target=f"YXC timing platform user {self.user}, journal of {self.common.db}",
                checks=self.checks,
                context=graded,
                seed=seed,
                options={"vendor": self.user, **self.window.options(), "db": str(self.common.db)},
                spec_hashes={f"specs/{f}": spec_sha256(f) for f in SPEC_FILES},
                requirements=catalogue.load(self.platform),
            )
        finally:
            store.close()
