"""The envelope-aware checks of harness.fuzz judge every platform's reply, not only YXC's and ZJPX's.

harness.fuzz registers Schemathesis hooks and checks globally when imported, so the checks are called in a
subprocess (as tests/conformance/fuzz_in_process.py does), on stand-ins for a Schemathesis case and response."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
from types import SimpleNamespace as NS
import harness.fuzz as fuzz

def case(platform, mode):
    return NS(operation=NS(schema=NS(raw_schema={"x-platform": platform}), query=[]), query={},
              meta=NS(generation=NS(mode=NS(is_negative=mode == "negative", is_positive=mode == "positive")), components={}))

class Reply:
    def __init__(self, document):
        self.text = document if isinstance(document, str) else json.dumps(document)
    def json(self):
        return json.loads(self.text)

CHECKS = {"internal": fuzz.envelope_no_internal_error, "negative": fuzz.envelope_negative_data_rejection,
          "positive": fuzz.envelope_positive_data_acceptance}
out = []
for check, platform, mode, document in json.loads(sys.argv[1]):
    try:
        CHECKS[check](None, Reply(document), case(platform, mode))
        out.append("ok")
    except AssertionError as exc:
        out.append("raised: " + str(exc)[:80])
print(json.dumps(out))
"""

REFUSAL = {"rule": "SCHEMA", "clause": "003 §4.2", "message": "…", "field": "body.card_no"}
CASES = [
    # a schema-violating request accepted with the platform's success code is a finding on every platform
    ("negative", "dudu", "negative", {"ret_code": 0, "ret_msg": "成功"}),
    ("negative", "ymt", "negative", {"code": "PY0000", "msg": ""}),
    ("negative", "dym", "negative", {"code": "0", "msg": ""}),
    # the schema validator refusing a schema-valid request
    ("positive", "dudu", "positive", {"ret_code": 1001, "violations": [REFUSAL]}),
    ("positive", "ymt", "positive", {"code": "PY1003", "violations": [REFUSAL]}),
    ("positive", "dym", "positive", {"code": "1001", "violations": [REFUSAL]}),
    # a refusal that names no rule and clause
    ("positive", "dym", "positive", {"code": "2001", "msg": "应用不存在"}),
    # the internal-error envelope, and a reply that is not the envelope at all
    ("internal", "dudu", "positive", {"ret_code": 1099, "violations": [{"rule": "INTERNAL", "clause": "-"}]}),
    ("internal", "ymt", "negative", "<html>500</html>"),
    ("internal", "dym", "negative", {"error": "x"}),
]
FINE = [
    # refused at the gate (the hooks bring no DUDU/YMT/DYM credentials), naming rule and clause: a business refusal
    ("positive", "dudu", "positive", {"ret_code": 1004, "violations": [{"rule": "DUDU-TOKEN", "clause": "003 §1"}]}),
    ("positive", "dym", "positive", {"code": "2001", "violations": [{"rule": "DYM-APP-KNOWN", "clause": "004 §一"}]}),
    ("negative", "ymt", "negative", {"code": "PY1003", "violations": [REFUSAL]}),
    ("internal", "dudu", "negative", {"ret_code": 1001, "violations": [REFUSAL]}),
]


def _run(cases: list[tuple]) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(cases, ensure_ascii=False)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_envelope_checks_judge_dudu_ymt_and_dym_replies() -> None:
    results = _run(CASES + FINE)
    found, fine = results[: len(CASES)], results[len(CASES) :]
    assert all(r.startswith("raised") for r in found), list(zip(CASES, found, strict=True))
    assert fine == ["ok"] * len(FINE), list(zip(FINE, fine, strict=True))
