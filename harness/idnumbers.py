"""GB 11643 citizen ID numbers (公民身份号码), as ZJPX (002), YMT (001) and DYM (004) all check them: 17 digits and a
check character, the weighted sum of the digits modulo 11 indexing ``10X98765432``. One implementation for them all."""

from __future__ import annotations

from harness import limits

WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2
CHECK = "10X98765432"  # index: the weighted sum mod 11


def check_char(first17: str) -> str:
    """The GB 11643 check character of 17 ASCII digits."""
    return CHECK[sum(int(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) % 11]


def valid(number: str, *, lower_x: bool = False) -> bool:
    """An 18-character number of 17 ASCII digits and its right check character (``lower_x``: ``x`` counts as ``X``)."""
    if len(number) != 18 or not limits.ascii_digits(number[:17]):
        return False
    last = number[17].upper() if lower_x else number[17]
    return last == check_char(number[:17])
