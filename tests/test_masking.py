import json

import pytest

from fixtures.identity import Identities, is_valid_id
from fixtures.identity import mask_id as fixtures_mask_id
from harness.masking import mask_body, mask_id, mask_mobile, mask_name, mask_text, mask_value


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三丰", "张*丰"), ("张三", "张*"), ("欧阳娜娜", "欧**娜"), ("张", "张"), ("", "")],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked


def test_mask_numbers():
    assert mask_id("440103199001011234") == "4401**********1234"
    assert mask_mobile("13812345678") == "138****5678"
    assert fixtures_mask_id is mask_id  # fixtures re-export the one implementation


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("id 44010319900101123X here", "id 4401**********123X here"),
        ("tel:13812345678;", "tel:138****5678;"),
        ("ts=1795451968985&user=AB12", "ts=1795451968985&user=AB12"),  # a 13-digit ms timestamp is not a mobile
        ("sign=AB13812345678CD", "sign=AB13812345678CD"),  # inside hex: not a number of its own
        ("stunum S199015894568549", "stunum S199015894568549"),
        ("12345678901", "12345678901"),  # not a 1[3-9] mobile
    ],
)
def test_mask_text(text, masked):
    assert mask_text(text) == masked


def test_mask_value_recursive_known_fields():
    ids = Identities(3)
    person = {"name": ids.name(), "idcard": ids.id_number(), "mobile": ids.mobile(), "stunum": "S199015894568549"}
    body = {"data": {"students": [person], "xm": "李四", "userName": "王小明", "note": f"call {person['mobile']}"}, "count": 1}
    out = mask_value(body)
    student = out["data"]["students"][0]
    assert student["name"] == mask_name(person["name"]) and student["name"] != person["name"]
    assert student["idcard"] == mask_id(person["idcard"])
    assert student["mobile"] == mask_mobile(person["mobile"])
    assert student["stunum"] == "S199015894568549"
    assert out["data"]["xm"] == "李*" and out["data"]["userName"] == "王*明"
    assert person["mobile"] not in json.dumps(out)
    assert out["count"] == 1
    assert is_valid_id(person["idcard"])


def test_mask_body():
    assert mask_body(json.dumps({"phone": 13912345678}))["phone"] == "139****5678"
    assert mask_body("not json 440103199001011234") == "not json 4401**********1234"
    assert mask_body(b"\xff\xd8\xff\x00").startswith("<4 bytes")
    assert mask_body(None) is None
