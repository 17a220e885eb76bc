"""Is there anything to read in a text? Invisible characters do not count.

A comment or a statement made only of zero-width characters (U+200B-U+200D, U+2060,
U+FEFF), bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E/U+200F, U+061C), other
format or control characters, blank fillers (Hangul fillers, the blank Braille pattern)
or whitespace shows as nothing in every chat and report, so it is refused like an empty
one instead of being stored as an invisible "comment".
"""

from __future__ import annotations

import unicodedata

_FILLERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u180e\u2800\u3164\uffa0"
                     + "".join(chr(c) for c in range(0xFE00, 0xFE10)))
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def invisible(char: str) -> bool:
    """Does this one character show as nothing?"""
    return (char.isspace() or char in _FILLERS
            or unicodedata.category(char) in _INVISIBLE_CATEGORIES)


def is_blank(text: str) -> bool:
    """True when ``text`` has no character a reader could see."""
    return all(invisible(char) for char in text)
