"""Schemathesis against the in-process reference: positive and negative cases for every operation, with a valid token
injected so business rules run too. Every reply must be the ZJPX envelope (never a harness error) and match the spec."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.zjpx.conftest import Zjpx

EXAMPLES_PER_MODE = 2
# Hypothesis needs ~40 s to build positive thirdCoursePush bodies (nested arrays under anyOf); the CLI run in
# docs/zjpx.md covers them, and test_intake.py sends valid ones.
SLOW_POSITIVE = {"/api/v1/thirdCoursePush"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_every_operation(zj: Zjpx, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/zjpx/openapi.json", zj.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 17
    codes: list[str] = []

    for operation in operations:
        if mode == GenerationMode.POSITIVE and operation.path in SLOW_POSITIVE:
            continue

        @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def one(case: Any) -> None:
            if isinstance(case.body, dict) and isinstance(case.body.get("headers"), dict):
                case.body["headers"]["userToken"] = zj.token
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
            assert response.status_code == 200
            codes.append(response.json()["returnCode"])

        one()
    assert "9" not in codes  # the harness itself never failed


def test_the_documented_cli_run_does_not_abort_on_the_course_tree() -> None:
    """docs/zjpx.md's `schemathesis run specs/zjpx/supervision.yaml` exited 1 with "Failed Health Check: Data
    generation is too slow" on thirdCoursePush on a busy machine: the repository's config suppresses that check too."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).parents[2] / "schemathesis.toml").read_text(encoding="utf-8"))
    assert {"data_too_large", "too_slow"} <= set(config["suppress-health-check"])
