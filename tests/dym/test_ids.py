"""GB 11643 ID numbers and GB 32100 unified social credit codes (D-DYM-ID-CHECK, D-DYM-USCC), plates (D-DYM-PLATE)."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.dym import ids

# The examples printed in GB 11643-1999 and widely quoted with it, and a GB 32100 example code.
VALID_IDS = ["11010519491231002X", "440524188001010014"]
VALID_USCC = ["91350100M000100Y43"]


@pytest.mark.parametrize("id_no", VALID_IDS)
def test_known_valid_id_numbers_pass(id_no: str) -> None:
    assert ids.id_problem(id_no) is None
    assert ids.id_check_char(id_no[:17]) == id_no[17]


def test_weights_are_those_of_gb_11643() -> None:
    assert ids.ID_WEIGHTS == (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@pytest.mark.parametrize(
    ("id_no", "why"),
    [
        ("110105194912310021", "GB 11643 gives X"),  # wrong check character
        ("11010519491331002X", "not a date of birth"),  # month 13
        ("11010520991231002X", "not possible"),  # born in the future
        ("01010519491231002X", "17 digits"),  # leading zero
        ("1101051949123100", "17 digits"),  # too short
    ],
)
def test_bad_id_numbers_say_why(id_no: str, why: str) -> None:
    assert why in (ids.id_problem(id_no, today=dt.date(2026, 12, 1)) or "")


def test_lowercase_x_is_read_as_upper_case() -> None:
    assert ids.id_problem("11010519491231002x") is None


def test_made_ids_verify() -> None:
    made = ids.make_id("532501", dt.date(1988, 3, 14), 217)
    assert len(made) == 18 and ids.id_problem(made) is None


@pytest.mark.parametrize("code", VALID_USCC)
def test_known_valid_credit_codes_pass(code: str) -> None:
    assert ids.uscc_problem(code) is None


def test_credit_code_weights_are_those_of_gb_32100() -> None:
    assert ids.USCC_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("91350100M000100Y44", "GB 32100 gives 3"),
        ("91350100M000100I43", "without I, O, S, V, Z"),
        ("913501A0M000100Y43", "administrative division"),
        ("91350100M000100Y4", "18 characters"),
    ],
)
def test_bad_credit_codes_say_why(code: str, why: str) -> None:
    assert why in (ids.uscc_problem(code) or "")


def test_plates() -> None:
    assert ids.is_plate("云L69568") and ids.is_plate("云AD12345")
    assert not ids.is_plate("云I69568") and not ids.is_plate("XL69568")
    assert ids.is_trailer("云A1234挂")
