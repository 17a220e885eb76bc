"""`delphi study check`: a valid file is summarised; a broken one names file and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.app.cli import main
from tests.engine.helpers import EXAMPLES

TINY = (EXAMPLES / "tiny.toml").read_text()


def run_check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["study", "check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", ["tiny.toml", "isotretinoin-rejuvenation.toml"])
def test_valid_examples_pass_with_a_summary(name: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_check(EXAMPLES / name, capsys)
    assert code == 0 and err == ""
    assert "valid." in out and "statements in" in out and "consensus rule" in out


def _replace(old: str, new: str) -> str:
    assert old in TINY, old
    return TINY.replace(old, new, 1)


BROKEN = {
    "syntax": (_replace('max_rounds = 2', 'max_rounds = = 2'), "line 11",
               r"TOML syntax error: invalid value \(column 14\)"),
    "duplicate id": (_replace('id = "S02"', 'id = "S01"'), "statements[2].id",
                     "duplicate id 'S01'"),
    "label count": (_replace('"Strongly disagree", ', ''), "scale.labels",
                    "4 labels for a 5-point scale"),
    "threshold": (_replace("threshold = 0.75", "threshold = 1.5"), "consensus.threshold",
                  "less than or equal to 1"),
    "unknown rule": (_replace('rule = "percent_agreement"', 'rule = "majority"'),
                     "consensus.rule", "must be"),
    "scale points": (_replace("points = 5", "points = 6"), "scale.points", "must be 5, 7 or 9"),
    "missing title": (_replace('title = "Tiny pilot study"\n', ''), "study.title",
                      "missing"),
    "typo": (_replace("max_rounds = 2", "max_round = 2"), "study.max_round", "unknown field"),
    "agree outside": (_replace("agree = [4, 5]", "agree = [4, 5, 6]"), "consensus.agree",
                      r"\[6\] outside the 5-point scale"),
    "overlap": (_replace("disagree = [1, 2]", "disagree = [1, 2, 4]"), "consensus.disagree",
                r"overlaps agree at \[4\]"),
    "rand on 5": (_replace('rule = "percent_agreement"', 'rule = "rand_ucla"'),
                  "consensus.rule", "1-9 scale only"),
    "timezone": (_replace('max_rounds = 2', 'max_rounds = 2\ntimezone = "Mars/Olympus"'),
                 "study.timezone", "unknown time zone"),
    "timezone folder": (_replace('max_rounds = 2', 'max_rounds = 2\ntimezone = "Europe"'),
                        "study.timezone", "unknown time zone"),
    "timezone too long": (_replace('max_rounds = 2', 'max_rounds = 2\ntimezone = "Europe/'
                                   + "x" * 300 + '"'), "study.timezone", "unknown time zone"),
    "empty text": (_replace('text = "Sunscreen should', 'text = ""\nxtext = "Sunscreen should'),
                   "statements[2] (S02).text", "at least 1 character"),
    "screening eligible": (TINY + '\n[[screening]]\nid = "cert"\nquestion = "Certified?"\n'
                           'options = ["Yes", "No"]\neligible = ["Maybe"]\n',
                           "screening[1] (cert).eligible", "not among the options"),
    "quiet hours": (TINY + '\n[schedule]\nquiet_hours = "9pm-8am"\n', "schedule.quiet_hours",
                    "21:00-08:00"),
    "id across lines": (_replace('id = "S05"\ndomain = "Acne treatment"\n',
                                 "id = '''S05\ndomain = \"Acne treatment\"\n'''\n"),
                        "statements[5] (S05…).domain", "missing"),
    "max rounds": (_replace("max_rounds = 2", "max_rounds = 0"), "study.max_rounds",
                   "greater than or equal to 1"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_file_names_file_and_field_and_writes_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, field, problem = BROKEN[case]
    path = tmp_path / "study.toml"
    path.write_text(text)
    code, out, err = run_check(path, capsys)
    assert code == 2 and out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert all(line.startswith(f"{path}: ") for line in lines), lines
    prefix = f"{path}: {field}: "
    matching = [line for line in lines if line.startswith(prefix)]
    assert matching, f"no line starts with {prefix!r} in {lines}"
    assert any(re.search(problem, line) for line in matching), lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.toml"]


def test_every_problem_is_listed_at_once(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "study.toml"
    path.write_text(TINY.replace("threshold = 0.75", "threshold = 2").replace(
        'id = "S02"', 'id = "S01"').replace('"Strongly disagree", ', ''))
    code, _, err = run_check(path, capsys)
    assert code == 2
    fields = {line.split(": ")[1] for line in err.strip().splitlines()}
    assert "consensus.threshold" in fields and "scale.labels" in fields


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_check(tmp_path / "nope.toml", capsys)
    assert code == 2 and err.strip() == f"{tmp_path / 'nope.toml'}: (file): no such file"
