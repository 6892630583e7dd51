"""Schemathesis over every DYM operation (small): generated positive cases are signed with a registered app and are
never refused by the gate or the schema; no case, positive or negative, gets anything but the envelope with a code of
the table (never an internal error)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from harness import limits
from harness.config import Settings
from harness.dym import admin, signing
from harness.schema import open_store
from harness.specs import load_spec

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from harness.server import create_app

GATE_AND_SCHEMA = {"1001", "2001", "2002", "2003", "2004"}


def _text_limit(reply: dict[str, Any]) -> bool:
    """Refused only by the harness's text limit (a control character the spec's plain strings allow, harness.limits
    TEXT_CLAUSE): a stated limit beyond the spec, not the gate or the schema disagreeing with it."""
    violations = reply.get("violations") or []
    return bool(violations) and all(v.get("rule") == limits.LIMIT_RULE and v.get("clause") == limits.TEXT_CLAUSE for v in violations)


CODES = set(load_spec("dym/platform.yaml")["x-codes"])


def test_generated_requests_get_the_envelope_and_signed_valid_ones_pass_the_gate(tmp_path: Path) -> None:
    store = open_store(tmp_path / "fuzz.db")
    app = create_app(Settings(db=tmp_path / "fuzz.db"), store)
    ent = admin.add_app(store, "fuzz", app_id="ENT0000000000001")
    schema = schemathesis.openapi.from_asgi("/dym/openapi.json", app)
    problems: list[Any] = []
    sent = 0

    def run(operation: Any, mode: GenerationMode) -> None:
        @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
        @given(case=operation.as_strategy(generation_mode=mode))
        def one(case: Any) -> None:
            nonlocal sent
            if mode == GenerationMode.POSITIVE and isinstance(case.body, dict):
                body = {k: v for k, v in case.body.items() if k not in ("app_id", "timestamp", "nonce", "sign")}
                case.body = signing.signed(body, ent.app_id, ent.secret, now=time.time())
            response = case.call()
            sent += 1
            reply = response.json()
            if response.status_code != 200 or reply.get("code") not in CODES or reply["code"] == "9999":
                problems.append((operation.path, mode.value, response.text[:300]))
            elif mode == GenerationMode.POSITIVE and reply["code"] in GATE_AND_SCHEMA and not _text_limit(reply):
                problems.append((operation.path, "signed valid case refused", response.text[:300]))

        one()

    for operation in [r.ok() for r in schema.get_all_operations()]:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run(operation, mode)
    store.close()
    assert sent >= 100 and not problems, problems[:5]
