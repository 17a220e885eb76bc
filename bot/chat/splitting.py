"""Splitting long text for platforms with message limits, never mid-word."""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s")


def _last_break(window: str) -> int:
    """Where to cut: the last paragraph break, else line break, else any whitespace."""
    for separator in ("\n\n", "\n"):
        cut = window.rfind(separator)
        if cut > 0:
            return cut
    spaces = [m.start() for m in _SPACE.finditer(window)]
    return spaces[-1] if spaces else -1


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, broken at paragraph, line or word boundaries.

    A single word longer than ``limit`` (a URL, say) is the only thing ever cut.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _last_break(rest[: limit + 1])
        if cut <= 0:
            pieces.append(rest[:limit])
            rest = rest[limit:]
            continue
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces
