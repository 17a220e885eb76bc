"""``FILE: field: problem`` reporting shared by every file a user writes (study, config).

Users fix files, not tracebacks: every problem names the file and the field, and all
problems are reported at once.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def render(self, path: Path | str) -> str:
        """One line per problem, whatever the file held: a value quoted from it (an id
        written as a multi-line string, say) cannot break the report into lines that
        name no file."""
        return _one_line(f"{path}: {self.field}: {self.message}")


def _one_line(text: str) -> str:
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


ID_SHOWN = 40  # characters of an entry's id quoted in a field's name


def _entry_label(entry_id: str) -> str:
    """An entry's id as a field's name quotes it: its first line, at most ID_SHOWN
    characters (an id is meant to be short; a broken one is shown, not copied whole)."""
    lines = entry_id.splitlines() or [""]
    first = lines[0]
    if len(lines) > 1 or len(first) > ID_SHOWN:
        return first[:ID_SHOWN] + "…"
    return first


class FileProblems(Exception):
    """A user-written file cannot be used; ``problems`` lists every reason."""

    def __init__(self, path: Path | str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(p.render(path) for p in problems))


def field_path(loc: tuple[int | str, ...], raw: Any) -> str:
    """Turn pydantic's location into the dotted name a user sees in the file.

    ``("statements", 3, "id")`` becomes ``statements[4] (S04).id`` when the entry has an
    id, because people count from one and search by id.
    """
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item + 1}]"
            entry = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                label += f" ({_entry_label(entry['id'])})"
            parts[-1:] = [(parts[-1] if parts else "") + label]
            node = entry
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts) or "(file)"


def pydantic_problems(error: ValidationError, raw: Any) -> list[Problem]:
    problems = []
    for detail in error.errors():
        # Drop pydantic's union/tagged-union branch names from the location.
        loc = tuple(p for p in detail["loc"] if not (isinstance(p, str) and "[" in p))
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown field (check the spelling)"
        elif detail["type"] == "missing":
            message = "missing (required)"
        elif detail["type"] == "literal_error":
            message = message.replace("Input should be", "must be")
        problems.append(Problem(field_path(loc, raw), message))
    return problems


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$|\s*\(at end of document\)$")


def toml_syntax_problem(error: tomllib.TOMLDecodeError) -> Problem:
    """``line 11: TOML syntax error: invalid value (column 14)``: where to look first."""
    message = str(error)
    match = _TOML_POSITION.search(message)
    reason = _TOML_POSITION.sub("", message)
    reason = reason[:1].lower() + reason[1:]
    if match and match.group(1):
        return Problem(f"line {match.group(1)}",
                       f"TOML syntax error: {reason} (column {match.group(2)})")
    return Problem("(end of file)", f"TOML syntax error: {reason}")
