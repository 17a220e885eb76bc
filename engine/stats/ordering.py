"""Natural ordering of ids, so S2 comes before S10 in every table and reason."""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

_DIGITS = re.compile(r"(\d+)")


def natural_key(value: Hashable) -> tuple[tuple[Any, ...], str]:
    """Sort key putting S2 before S10; ties (S01 vs S1) broken by the plain text.

    Splitting on digit runs alternates text and number parts, so two keys always
    compare str with str and int with int.
    """
    text = str(value)
    parts = _DIGITS.split(text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), text
