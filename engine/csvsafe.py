"""CSV cells that a spreadsheet cannot run as formulas (OWASP "CSV injection").

Comments, statement texts, change notes and group names are typed by people, and a
cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
Excel, LibreOffice and Google Sheets as the start of a formula (``=HYPERLINK(...)``,
``@SUM(...)``, ``-2+3+cmd|...``). Every CSV this project writes passes its cells through
:func:`guard`, which puts the apostrophe OWASP recommends in front of such a cell, and
every CSV it reads back passes them through :func:`unguard`, which removes exactly the
apostrophes :func:`guard` added.

Two choices keep the data honest:

- A cell that is exactly a decimal number (``-1``, ``-0.25``, ``+3``, ``1e-05``) is left
  alone: a spreadsheet reads it as that number and runs nothing, and a negative
  statistic must stay a number, not become text.
- The guard is reversible. A cell that already begins with apostrophes followed by a
  formula character (``'=x``) gets one more, so ``unguard(guard(x)) == x`` for every
  text and a cell nobody guarded reads back unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GUARDED = re.compile(r"'+[=+\-@\t\r]", re.DOTALL)


def needs_guard(text: str) -> bool:
    """Would a spreadsheet read ``text`` (after any apostrophes) as a formula?"""
    body = text.lstrip("'")
    return body[:1] in FORMULA_STARTS and not _NUMBER.fullmatch(text)


def guard(text: str) -> str:
    """``text`` as a cell no spreadsheet runs: a leading apostrophe where needed."""
    return "'" + text if needs_guard(text) else text


def unguard(text: str) -> str:
    """Undo :func:`guard`: drop the one apostrophe it added, leave anything else alone."""
    return text[1:] if _GUARDED.match(text) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A whole CSV file (``\\n`` line ends, ``None`` as an empty field), every cell guarded."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([guard(name) for name in header])
    writer.writerows([guard("" if value is None else str(value)) for value in row]
                     for row in rows)
    return buffer.getvalue()
