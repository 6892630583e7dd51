"""Masking personal data the way the platforms do it (concealName / concealCard), for reports and logs.

Three kinds of personal data appear in exchanges: 18-digit ID numbers (GB 11643), 11-digit mainland mobiles, and
names. Numbers are found anywhere in text; names only in fields known to hold a person's name, because a name
cannot be told from other Chinese text.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Field names (compared case-insensitively) whose value is a person's name, an ID number or a phone number.
NAME_FIELDS = frozenset(
    {"name", "xm", "username", "stuname", "studentname", "coachname", "realname", "truename", "concealname", "xingming", "fullname"}
)
ID_FIELDS = frozenset({"idcard", "idno", "idnumber", "sfzh", "sfzhm", "cardno", "drilicence", "concealcard", "zjhm"})
MOBILE_FIELDS = frozenset({"mobile", "phone", "tel", "telephone", "sjhm", "lxdh", "mobilephone"})

# Bounded by anything but a letter or digit, so hex signatures, unified numbers (S + 15 digits) and 13-digit
# millisecond timestamps are left alone.
_ID_RE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_MOBILE_RE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")


def mask_name(name: str) -> str:
    """张三丰 → 张*丰, 张三 → 张* (the platforms' concealName)."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id(number: str) -> str:
    """440103199001011234 → 4401**********1234 (the platforms' concealCard)."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_mobile(number: str) -> str:
    """13812345678 → 138****5678."""
    return number[:3] + "****" + number[7:] if len(number) == 11 else mask_id(number)


def mask_text(text: str) -> str:
    """Mask every ID number and mobile number found in free text (query strings, messages, non-JSON bodies)."""
    text = _ID_RE.sub(lambda m: mask_id(m.group()), text)
    return _MOBILE_RE.sub(lambda m: mask_mobile(m.group()), text)


def mask_value(value: Any, key: str | None = None) -> Any:
    """Mask a decoded JSON value recursively; ``key`` is the field name the value sits under, if any."""
    if isinstance(value, dict):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, key) for v in value]
    if not isinstance(value, str | int) or isinstance(value, bool):
        return value
    field = (key or "").lower()
    text = str(value)
    if field in NAME_FIELDS and isinstance(value, str):
        return mask_name(value)
    if field in ID_FIELDS:
        return mask_id(text)
    if field in MOBILE_FIELDS:
        return mask_mobile(text)
    if isinstance(value, int):
        masked = mask_text(text)
        return value if masked == text else masked
    return mask_text(value)


def mask_body(body: str | bytes | None) -> Any:
    """A request or reply body for a report: decoded JSON masked field by field, else masked text."""
    if body is None:
        return None
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(body)} bytes of binary data>"
    try:
        document = json.loads(body)
    except ValueError:
        return mask_text(body)
    return mask_value(document)
