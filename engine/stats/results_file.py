"""Write result tables as CSV that reproduces byte for byte and loses no precision.

Number format (one rule, so two runs on the same input give identical bytes):

- integers, and floats with an integral value below 2^53, are written as plain
  integers (``7``, ``100``);
- other floats are written with Python's ``repr``: the shortest decimal that reads back
  as exactly the same double (``66.66666666666667``, ``0.30000000000000004``,
  ``1.2e-05``). Any CSV reader that parses IEEE doubles correctly (pandas, R, Python)
  recovers the computed value bit for bit;
- NA / NaN is an empty field; booleans are ``true`` / ``false``;
- a text cell a spreadsheet would run as a formula gets a leading apostrophe
  (:mod:`engine.csvsafe`; numbers such as ``-0.5`` stay numbers);
- UTF-8 without BOM, ``\\n`` line ends, fields quoted only when needed.

The file is written to a temporary name next to the target and renamed into place, so
an error never leaves a partial output file.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.csvsafe import guard


def format_value(value: Any) -> str:
    """One field of the output (see the module docstring for the rules)."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return ""
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        if number.is_integer() and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    return str(value)


def _rows(table: pd.DataFrame) -> list[list[str]]:
    columns = [[guard(format_value(v)) for v in table[name].tolist()]
               for name in table.columns]
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def write_results_csv(table: pd.DataFrame, path: Path | str) -> None:
    """Write ``table`` to ``path`` (``-`` for standard output) atomically."""
    header = [guard(str(c)) for c in table.columns]
    rows = _rows(table)
    if str(path) == "-":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return
    target = Path(path)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed on success
        "w", encoding="utf-8", newline="", delete=False, dir=target.parent or ".",
        prefix=f".{target.name}.", suffix=".tmp")
    try:
        with handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.chmod(handle.name, 0o666 & ~_umask())  # temp files are 0600; honour the umask
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
