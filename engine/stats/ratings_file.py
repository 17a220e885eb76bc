"""Read the ``delphi analyze`` input: a long-format ratings CSV, with line-exact errors.

Format: UTF-8 (a byte-order mark is allowed), comma-separated, a header naming at
least ``round,statement,participant,rating`` in any order (case and surrounding spaces
ignored), optionally ``group`` and ``confidence``; other columns are ignored. One row
per rating:

- ``round``: a positive integer;
- ``statement``, ``participant``: non-empty ids (surrounding spaces are trimmed);
- ``rating``: an integer on the scale, or empty / ``NA`` for "unable to rate";
- ``group``: optional stakeholder group, empty or ``NA`` for none;
- ``confidence``: optional, how sure the expert was: ``low`` / ``medium`` / ``high`` (or
  1 / 2 / 3), empty or ``NA`` when not given. Used only in the sensitivity analysis.

A cell that :mod:`engine.csvsafe` guarded against formula injection (``'=x``) is read
without the apostrophe it added, so the exported ``ratings.csv`` reads back exactly.

Blank lines (and lines of empty fields only) are skipped. Every problem is reported as
``(line, message)`` with the physical line number in the file (the header is line 1);
problems about the file as a whole are reported on line 1. Nothing is returned unless
the whole file is valid.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from engine.csvsafe import unguard

REQUIRED = ("round", "statement", "participant", "rating")
OPTIONAL = ("group", "confidence")
CONFIDENCE = {"low": 1, "medium": 2, "high": 3, "1": 1, "2": 2, "3": 3}


class RatingsFileError(Exception):
    """The ratings file cannot be used; ``problems`` are (line, message) pairs."""

    def __init__(self, path: Path | str, problems: list[tuple[int, str]],
                 more: int = 0) -> None:
        self.path = path
        self.problems = problems
        self.more = more
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """``FILE:line: problem`` for each problem (plus a count of those not shown)."""
        out = [f"{self.path}:{line}: {message}" for line, message in self.problems]
        if self.more:
            out.append(f"{self.path}: {self.more} more problem(s) not shown")
        return out


def _is_missing(text: str) -> bool:
    return text == "" or text.upper() == "NA"


def _integer(text: str) -> int | None:
    """The integer written in ``text`` (ASCII digits, optional sign), else None."""
    body = text[1:] if text[:1] in "+-" else text
    if body.isascii() and body.isdigit():
        return int(text)
    return None


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RatingsFileError(path, [(1, f"cannot read the file: {exc.strerror or exc}")]
                               ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RatingsFileError(path, [(line, "not UTF-8 text (save the file as UTF-8 CSV)")]
                               ) from None


def read_ratings_csv(path: Path | str, scale_points: int,
                     max_problems: int = 20) -> pd.DataFrame:
    """Parse and validate a ratings CSV; raise :class:`RatingsFileError` listing problems.

    Returns columns ``round`` (int64), ``statement``, ``participant`` (str), ``rating``
    (Int64, NA = unable to rate) and ``group`` (str or None) when the file has one.
    """
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise RatingsFileError(path, [(1, "empty file (expected a header: "
                                          + ",".join(REQUIRED) + ")")])
    problems: list[tuple[int, str]] = []
    dropped = 0

    def problem(line: int, message: str) -> None:
        nonlocal dropped
        if len(problems) < max_problems:
            problems.append((line, message))
        else:
            dropped += 1

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    header_line = 1
    index: dict[str, int] = {}
    rounds: list[int] = []
    statements: list[str] = []
    participants: list[str] = []
    ratings: list[int | None] = []
    groups: list[str | None] = []
    confidences: list[int | None] = []
    first_seen: dict[tuple[int, str, str], int] = {}
    line = 1
    try:
        for raw in reader:
            record = [unguard(field) for field in raw]
            start, line = line, reader.line_num + 1  # this record began on line `start`
            if not any(field.strip() for field in record):
                continue
            if header is None:
                header_line = start
                header = [field.strip().lower() for field in record]
                duplicated = sorted({h for h in header if header.count(h) > 1 and h})
                if duplicated:
                    problem(start, f"column(s) {', '.join(duplicated)} appear twice in the "
                                   "header")
                missing = [c for c in REQUIRED if c not in header]
                if missing:
                    problem(start, f"missing column(s) {', '.join(missing)} (the header needs "
                                   f"{','.join(REQUIRED)}; found {','.join(header)})")
                if problems:
                    raise RatingsFileError(path, problems)
                index = {name: header.index(name) for name in (*REQUIRED, *OPTIONAL)
                         if name in header}
                continue
            if len(record) != len(header):
                problem(start, f"expected {len(header)} fields, found {len(record)}")
                continue
            ok = True
            round_text = record[index["round"]].strip()
            round_number = _integer(round_text)
            if round_number is None or round_number < 1:
                problem(start, f"round {round_text!r} is not a positive integer")
                ok = False
            statement = record[index["statement"]].strip()
            if not statement:
                problem(start, "statement is empty")
                ok = False
            participant = record[index["participant"]].strip()
            if not participant:
                problem(start, "participant is empty")
                ok = False
            rating_text = record[index["rating"]].strip()
            rating: int | None = None
            if not _is_missing(rating_text):
                rating = _integer(rating_text)
                if rating is None:
                    problem(start, f"rating {rating_text!r} is not an integer (use empty or NA "
                                   "for unable to rate)")
                    ok = False
                elif not 1 <= rating <= scale_points:
                    problem(start, f"rating {rating} outside the {scale_points}-point scale "
                                   f"(1-{scale_points})")
                    ok = False
            confidence: int | None = None
            if "confidence" in index:
                confidence_text = record[index["confidence"]].strip().lower()
                if not _is_missing(confidence_text):
                    confidence = CONFIDENCE.get(confidence_text)
                    if confidence is None:
                        problem(start, f"confidence {confidence_text!r} is not low, medium or "
                                       "high (or empty)")
                        ok = False
            if not ok or round_number is None:
                continue
            key = (round_number, statement, participant)
            if key in first_seen:
                problem(start, f"participant {participant!r} rated statement {statement!r} "
                               f"twice in round {round_number} (first on line "
                               f"{first_seen[key]})")
                continue
            first_seen[key] = start
            rounds.append(round_number)
            statements.append(statement)
            participants.append(participant)
            ratings.append(rating)
            confidences.append(confidence)
            if "group" in index:
                group = record[index["group"]].strip()
                groups.append(None if _is_missing(group) else group)
    except csv.Error as exc:
        problem(reader.line_num, f"malformed CSV: {exc}")
    if header is None:  # pragma: no cover - a non-blank file always yields a record
        problem(1, "no header found")
    elif not problems and not rounds:
        problem(header_line, "no ratings below the header")
    if problems:
        raise RatingsFileError(path, problems, dropped)
    columns: dict[str, object] = {
        "round": pd.array(rounds, dtype="int64"),
        "statement": pd.array(statements, dtype=object),
        "participant": pd.array(participants, dtype=object),
        "rating": pd.array(ratings, dtype="Int64"),
    }
    if "group" in index:
        columns["group"] = pd.array(groups, dtype=object)
    if "confidence" in index:
        columns["confidence"] = pd.array(confidences, dtype="Int64")
    return pd.DataFrame(columns)
