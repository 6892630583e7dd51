"""specs/ymt/platform.yaml: valid OpenAPI in both profiles, every field traced, the decisions and return codes in place."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from harness.decisions import decisions
from harness.specs import load_spec

SPEC = "ymt/platform.yaml"
METHODS = ("get", "post", "put", "delete", "patch")


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def _validator(name: str, profile: str) -> jsonschema.Draft7Validator:
    doc = load_spec(SPEC, profile)
    return jsonschema.Draft7Validator({"$ref": f"#/components/schemas/{name}", "components": doc["components"]})


@pytest.mark.parametrize("profile", ["strict", "tolerant", "served"])
def test_valid_openapi(profile: str) -> None:
    validate(load_spec(SPEC, profile))


def test_every_interface_of_the_seed_and_the_flows_is_there() -> None:
    doc = load_spec(SPEC)
    ops = {op["operationId"]: op for item in doc["paths"].values() for m, op in item.items() if m in METHODS}
    for name in (
        "generate_qrcode",
        "user_tags",
        "channel_qrcode",
        "decode_qrcode",
        "exchange_authorisation_code",
        "realname",
        "consent",
        "register_merchant",
        "register_device",
        "emergency_code",
        "trust_list",
    ):
        assert f"harness.ymt.handlers.{name}" in ops
    for op_id, op in ops.items():
        assert op_id.startswith("harness.ymt.handlers.")
        assert op.get("x-clause"), op_id
    clauses = " ".join(op["x-clause"] for op in ops.values())
    for clause in ("B.1", "B.2", "B.3", "B.4", "B.5", "§7.1.1", "§7.1.2", "§8.1.1", "§3 应急码"):
        assert clause in clauses
    assert {op.get("x-service-type") for op in ops.values()} >= {10000, 20000, 30000}


def test_every_property_names_its_clause() -> None:
    doc = load_spec(SPEC)
    for path, node in _walk(doc["components"]):
        for prop, sub in node.get("properties", {}).items() if isinstance(node.get("properties"), dict) else []:
            if "$ref" in sub or path.endswith("/allOf/1") and prop == "code":
                continue
            assert sub.get("x-clause"), f"{path}/properties/{prop} has no x-clause"


def test_every_decision_referenced_is_a_ymt_decision_with_both_treatments() -> None:
    register = decisions()
    referenced = {node["x-decision"] for _, node in _walk(load_spec(SPEC)) if "x-decision" in node}
    for decision_id in referenced:
        assert decision_id in register, decision_id
    for decision_id in (d for d in referenced if d.startswith("D-YMT")):
        decision = register[decision_id]
        assert decision.platform == "ymt" and decision.strict and decision.tolerant
    ymt = {d for d in register if d.startswith("D-YMT-")}
    # every spelling and contradiction of the seed, and every harness-defined piece, has its decision
    assert {
        "D-YMT-MSG",
        "D-YMT-CONCEAL",
        "D-YMT-USERNAME",
        "D-YMT-QRCOD",
        "D-YMT-TIME",
        "D-YMT-SERVICE-TYPES",
        "D-YMT-SIGN",
        "D-YMT-TIME-WINDOW",
        "D-YMT-AES",
        "D-YMT-EMERGENCY",
        "D-YMT-CODES",
        "D-YMT-MASK",
        "D-YMT-AUTH",
    } <= ymt
    assert ymt <= referenced, ymt - referenced


def test_return_codes_are_marked_pending_appendix_c_and_cover_every_family() -> None:
    codes = load_spec(SPEC)["x-return-codes"]
    assert "pending the seed's missing 附录C" in codes["status"]
    assert codes["x-decision"] == "D-YMT-CODES"
    table = codes["codes"]
    assert table["PY0000"]["msg"] == "成功"
    assert {c["family"] for c in table.values()} == {"success", "parameters", "signature", "code", "system"}
    assert "PY9002" in table and "应急码" in table["PY9002"]["msg"]
    for code in table:
        assert len(code) == 6 and code.startswith("PY")


def test_secrets_are_marked() -> None:
    doc = load_spec(SPEC)
    secret = {path.rsplit("/", 1)[-1] for path, node in _walk(doc) if node.get("x-secret") is True}
    assert {"AccessToken", "code", "aesKeyWrapped"} <= secret


def test_the_seeds_examples_as_corrected_fit_the_reply_schemas() -> None:
    b1 = {
        "code": "PY0000",
        "msg": "",
        "response": {
            "qrcodeType": "gj",
            "qrcodeBase64": "iVBORw0KGCqYUXU0gxEIwAAAAASUVORK5CYII=",
            "serverTime": "2021-09-16 20:12:00",
            "concealName": "*严",
            "concealCard": "5**************4",
        },
    }
    _validator("GenerateQrcodeReply", "strict").validate(b1)
    b2 = {
        "code": "PY0000",
        "msg": "",
        "response": [
            {"icon": "/yikayima/yhqrcode/202108/cda2a451.png", "no": 1, "backgroundColor": 1, "text": "退役军人", "fontColor": 1},
            {"icon": "/yikayima/yhqrcode/202108/f7fb8c7d.png", "no": 4, "backgroundColor": 1, "text": "E类人才", "fontColor": 1},
        ],
    }
    _validator("UserTagsReply", "strict").validate(b2)
    b3 = {
        "code": "PY0000",
        "msg": "",
        "response": {
            "qrcodeType": "gj",
            "qrcodeBase64": "iVBORw0KGgo=",
            "idCard": "33010219900101123X",
            "serverTime": "2021-09-16 12:39:04",
            "userName": "张三",
            "concealName": "*三",
            "concealCard": "3**************X",
        },
    }
    _validator("ChannelQrcodeReply", "strict").validate(b3)
    assert not _validator("ChannelQrcodeReply", "strict").is_valid(
        {**b3, "response": {**b3["response"], "concealCard": "3301**********123X"}}
    )


DECODE = {"merchantId": "M0001", "time": "20251201160000", "sign": "A" * 344, "qrcod": "YMTQ" + "A" * 24, "macId": "GATE-01"}


def test_decode_request_strict_and_tolerant() -> None:
    strict, tolerant = _validator("DecodeRequest", "strict"), _validator("DecodeRequest", "tolerant")
    assert strict.is_valid(DECODE) and tolerant.is_valid(DECODE)
    alias = {k: v for k, v in DECODE.items() if k != "qrcod"} | {"qrcode": DECODE["qrcod"]}
    assert not strict.is_valid(alias) and tolerant.is_valid(alias)
    hex_sign = {**DECODE, "sign": "ab_" + "c" * 100}
    assert not strict.is_valid(hex_sign) and tolerant.is_valid(hex_sign)
    for broken in ({**DECODE, "time": "2025-12-01 16:00"}, {k: v for k, v in DECODE.items() if k != "macId"}, {**DECODE, "merchantId": ""}):
        assert not strict.is_valid(broken) and not tolerant.is_valid(broken)
    neither = {k: v for k, v in DECODE.items() if k != "qrcod"}
    assert not tolerant.is_valid(neither)


def test_coordinates_and_service_types_strict_and_tolerant() -> None:
    request = {"accessToken": "t" * 32, "latitude": "30.2741", "longitude": "120.1551"}
    assert _validator("GenerateQrcodeRequest", "strict").is_valid(request)
    numeric = {**request, "latitude": 30.2741}
    assert not _validator("GenerateQrcodeRequest", "strict").is_valid(numeric)
    assert _validator("GenerateQrcodeRequest", "tolerant").is_valid(numeric)
    assert not _validator("ServiceType", "strict").is_valid(1000)
    assert _validator("ServiceType", "tolerant").is_valid(1000)
    assert _validator("ServiceType", "strict").is_valid(10000)


def test_tolerant_nodes_remember_their_strict_form_and_decision() -> None:
    doc = load_spec(SPEC, "tolerant")
    strict_marks = {node["x-strict"]["decision"] for _, node in _walk(doc) if "x-strict" in node}
    assert {"D-YMT-QRCOD", "D-YMT-SIGN", "D-YMT-LATLNG", "D-YMT-SERVICE-TYPES", "D-YMT-EXTRA-FIELDS"} <= strict_marks


def test_the_requirement_catalogue_loads_with_levels_reasons_and_known_decisions() -> None:
    from harness.conformance import catalogue

    requirements = catalogue.load("ymt")
    assert len(requirements) >= 20
    register = decisions()
    for requirement in requirements:
        assert requirement.level in ("MUST", "SHOULD", "REVIEW") and requirement.level_reason, requirement.id
        assert requirement.clause.startswith("001"), requirement.id
        if requirement.decision:
            assert register[requirement.decision].platform == "ymt", requirement.id
    levels = {r.level for r in requirements}
    assert levels == {"MUST", "SHOULD", "REVIEW"}


def test_every_method_and_path_the_spec_text_names_is_an_operation() -> None:
    """A text of the spec that says "GET /emergency/trust-list" must name an operation the spec has (it is POST)."""
    import re

    doc = load_spec(SPEC)
    operations = {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method in METHODS}
    named = set()
    for _, node in _walk(doc):
        for value in node.values():
            if isinstance(value, str):
                named |= {(m, p) for m, p in re.findall(r"\b(GET|POST|PUT|DELETE|PATCH) (/[A-Za-z0-9/_-]+)", value)}
    assert named, "the spec names no operation in its text"
    assert named <= operations, named - operations
