"""How every output writes a number, so a card, a summary and the report read alike.

An expert who sees "IQR 7-8.5" in the chat and the same statement as "7–8.5" or
"7.25-8.5" in the report would wonder which is right; one module keeps them identical.
"""

from __future__ import annotations

QUARTILE_DIGITS = 2
"""Quartiles to two decimals: type 6 and type 7 quartiles differ in the second."""


def fmt(value: float | None, digits: int = 1) -> str:
    """Numbers as people read them: 7, 7.5, 86.7; a dash when there is none."""
    if value is None or value != value:
        return "–"
    return f"{round(value, digits):g}"


def quartile_range(q1: float | None, q3: float | None) -> str:
    """The quartiles as the range they are, ``7-8.5``; a dash when there are none."""
    if q1 is None or q3 is None or q1 != q1 or q3 != q3:
        return "–"
    return f"{fmt(q1, QUARTILE_DIGITS)}-{fmt(q3, QUARTILE_DIGITS)}"


def iqr_range(q1: float | None, q3: float | None) -> str:
    """``IQR 7-8.5``, the form the chat and the report's prose share."""
    return f"IQR {quartile_range(q1, q3)}"
