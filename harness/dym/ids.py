"""Identity numbers of the DYM design: GB 11643 citizen ID numbers (D-DYM-ID-CHECK), GB 32100 unified social credit
codes (D-DYM-USCC) and plate numbers (D-DYM-PLATE). Pure functions; they never raise on bad input."""

from __future__ import annotations

import datetime as dt
import re

from harness import idnumbers
from harness.clock import BEIJING

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, S, V, Z
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28
PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE = re.compile(f"[{PROVINCES}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{5,6}}")
TRAILER = re.compile(f"[{PROVINCES}][A-HJ-NP-Z][A-HJ-NP-Z0-9]{{4}}挂")


ID_WEIGHTS = idnumbers.WEIGHTS
id_check_char = idnumbers.check_char  # the GB 11643 check character of the first 17 digits


def id_problem(id_no: str, *, today: dt.date | None = None) -> str | None:
    """Why ``id_no`` is not a valid GB 11643 number (None when it is). A lower-case x is read as X."""
    text = id_no.upper() if isinstance(id_no, str) else ""
    if not re.fullmatch(r"[1-9][0-9]{16}[0-9X]", text):
        return "an ID number is 17 digits (the first not 0) and a check character 0-9 or X"
    try:
        born = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return f"digits 7-14 ({text[6:14]}) are not a date of birth"
    if born > (today or dt.datetime.now(BEIJING).date()):
        return f"the date of birth {born.isoformat()} is not possible"
    want = id_check_char(text[:17])
    if text[17] != want:
        return f"the check character is {text[17]}, GB 11643 gives {want} for the first 17 digits"
    return None


def make_id(region: str, born: dt.date, sequence: int) -> str:
    """A GB 11643 number (synthetic test data): a 6-digit region, the birth date, a 3-digit sequence, the check."""
    first = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first + id_check_char(first)


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why ``code`` is not a valid GB 32100 unified social credit code (None when it is)."""
    if not isinstance(code, str) or len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return "a unified social credit code is 18 characters of 0-9 and A-Y without I, O, S, V, Z"
    if not code[2:8].isdigit():
        return "characters 3-8 (the administrative division) must be digits"
    want = uscc_check_char(code[:17])
    if code[17] != want:
        return f"the check character is {code[17]}, GB 32100 gives {want} for the first 17 characters"
    return None


def make_uscc(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def is_plate(text: str) -> bool:
    return isinstance(text, str) and PLATE.fullmatch(text) is not None


def is_trailer(text: str) -> bool:
    return isinstance(text, str) and TRAILER.fullmatch(text) is not None
