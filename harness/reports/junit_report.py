"""junit.xml for CI: one testcase per check result, classname = the role, failures naming their clause."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any


def _details(check: dict[str, Any]) -> str:
    lines = [f"clause: {check['clause']}", f"level: {check.get('level', 'MUST')}", f"message: {check['message']}"]
    if check["requirements"]:
        lines.append("requirements: " + ", ".join(check["requirements"]))
    for i, ev in enumerate(check["evidence"], 1):
        lines.append(f"evidence {i}: " + json.dumps(ev, ensure_ascii=False))
    return "\n".join(lines)


def render(document: dict[str, Any]) -> bytes:
    role = document["role"] or "unknown"
    checks = document["checks"]
    broken = document["verdict"] == "error" and bool(document["reason"])  # reported as one extra errored testcase
    seconds = f"{sum(c['duration_ms'] for c in checks) / 1000:.3f}"
    # Only a failed MUST is a JUnit failure. A WARNING or a REVIEW passes in CI (a <system-out> line says which),
    # and a check that broke at a level other than MUST is reported as skipped with the reason.
    advisory = [c for c in checks if not c["mandatory"] and c["status"] in ("failed", "error")]
    counts = {
        "tests": str(len(checks) + broken),
        "failures": str(sum(c["status"] == "failed" and c["mandatory"] for c in checks)),
        "errors": str(sum(c["status"] == "error" and c["mandatory"] for c in checks) + broken),
        "skipped": str(sum(c["status"] == "skipped" for c in checks) + len(advisory)),
        "time": seconds,
    }
    suites = ET.Element("testsuites", {"name": f"harness certify {role}", **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": role, "timestamp": document["started_at"] or "", **counts})
    props = ET.SubElement(suite, "properties")
    for name in ("verdict", "target", "harness_version", "seed", "certification_valid", "reason"):
        ET.SubElement(props, "property", {"name": name, "value": str(document[name])})
    seen: dict[str, int] = {}
    for check in checks:
        seen[check["id"]] = seen.get(check["id"], 0) + 1
        name = check["id"] if seen[check["id"]] == 1 else f"{check['id']} [{seen[check['id']]}]"
        case = ET.SubElement(suite, "testcase", {"classname": role, "name": name, "time": f"{check['duration_ms'] / 1000:.3f}"})
        message = f"[{check['clause']}] {check['message']}"
        if check.get("decision"):
            message += f" (decision {check['decision']})"
        if not check["mandatory"] and check["status"] in ("failed", "error"):
            ET.SubElement(case, "skipped", {"message": f"{check['level']} check {check['status']}: {message}"}).text = _details(check)
        elif check["status"] in ("warning", "review"):
            ET.SubElement(case, "system-out").text = f"{check['status'].upper()} ({check['level']}): {message}\n{_details(check)}"
        elif check["status"] == "failed":
            ET.SubElement(case, "failure", {"message": message, "type": "failed"}).text = _details(check)
        elif check["status"] == "error":
            ET.SubElement(case, "error", {"message": message, "type": "error"}).text = _details(check)
        elif check["status"] == "skipped":
            ET.SubElement(case, "skipped", {"message": message})
    if broken:
        case = ET.SubElement(suite, "testcase", {"classname": role, "name": "run", "time": "0"})
        ET.SubElement(case, "error", {"message": f"the run could not complete: {document['reason']}", "type": "error"})
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"
