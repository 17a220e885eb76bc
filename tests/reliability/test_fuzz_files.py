"""Fuzzed study files and ratings files: a clear `FILE: ...: problem`, never a traceback.

Hypothesis mutates the valid tiny study (deleting, duplicating and replacing characters,
lines and values) and generates ratings CSVs from near-valid to garbage; whatever comes
in, the user-facing parsers either accept it or raise their own error type with every
problem naming the file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.stats.ratings_file import RatingsFileError, read_ratings_csv
from engine.studyfile import StudyFileError, parse_study
from tests.engine.helpers import EXAMPLES

TINY = (EXAMPLES / "tiny.toml").read_text()
LINES = TINY.splitlines()
NOISE = st.sampled_from(["", "=", "\"", "[", "]", "[[statements]]", "id = \"S01\"", "9",
                         "-1", "1e309", "true", "points = 6", "threshold = 2", "\u0000",
                         "rule = \"x\"", "labels = []", "ü", "\\", "'''", "{ a = 1 }"])


@st.composite
def mutated_study(draw: st.DrawFn) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "replace", "insert", "edit"]))
        if action == "delete":
            del lines[position]
        elif action == "duplicate":
            lines.insert(position, lines[position])
        elif action == "replace":
            lines[position] = draw(NOISE)
        elif action == "insert":
            lines.insert(position, draw(NOISE))
        else:
            line = lines[position]
            cut = draw(st.integers(0, len(line)))
            lines[position] = line[:cut] + draw(NOISE) + line[cut:]
        if not lines:
            lines = [""]
    return "\n".join(lines)


@given(mutated_study())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_a_mutated_study_file_is_accepted_or_explained(text: str) -> None:
    try:
        parse_study(text, "study.toml")
    except StudyFileError as error:
        assert error.problems
        assert all(line.startswith("study.toml: ") for line in str(error).splitlines())


CELL = st.one_of(st.sampled_from(["1", "2", "5", "9", "10", "0", "-3", "NA", "", "x", "3.5",
                                  "S01", "P01", "\"", ",", "1e3"]),
                 st.text(max_size=6))
ROW = st.lists(CELL, min_size=0, max_size=6).map(lambda cells: ",".join(cells))
HEADER = st.sampled_from(["round,statement,participant,rating",
                          "round,statement,participant,rating,group",
                          "round,statement,rating", "", "rating,round,participant,statement"])


@given(HEADER, st.lists(ROW, max_size=12))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_a_fuzzed_ratings_file_is_accepted_or_explained(header: str, rows: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ratings.csv"
        path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        try:
            frame = read_ratings_csv(path, 9)
        except RatingsFileError as error:
            assert error.problems
            assert all(line.startswith(f"{path}:") for line in error.lines())
        else:
            valid = frame["rating"].dropna()
            assert ((valid >= 1) & (valid <= 9)).all()
