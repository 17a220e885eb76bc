"""`delphi analyze`: good files give the expected CSV, bad ones exit 2 with FILE:line."""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import pandas as pd
import pytest

from bot.app.analyze_cli import main, register
from engine.stats import analyze, read_ratings_csv
from engine.studyfile import ConsensusSection

EXAMPLES = Path(__file__).resolve().parents[2] / "engine" / "examples"

GOOD = """round,statement,participant,rating
1,S1,P1,7
1,S1,P2,8
1,S1,P3,9
1,S1,P4,NA
1,S2,P1,3
1,S2,P2,
1,S2,P3,5
2,S1,P1,8
2,S1,P2,8
2,S1,P3,9
"""

HEADER = ("round,statement,participants,n,n_unable,response_rate,count_1,count_2,count_3,"
          "count_4,count_5,count_6,count_7,count_8,count_9,median,q1,q3,iqr,mean,sd,cv,"
          "pct_agree,pct_disagree,pct_neutral,consensus,reason,prev_round,n_paired,"
          "pct_change,wilcoxon_n,wilcoxon_w,wilcoxon_z,wilcoxon_p,wilcoxon_method,mcnemar_b,"
          "mcnemar_c,mcnemar_p,stable,status")

# Checked by hand: S1 round 1 is 7 8 9 (+1 unable of 4 participants): median 8, type 7
# quartiles 7.5 / 8.5, SD 1; S2 is 3 5 (+1 unable): SD sqrt 2. Round 2 S1 is 8 8 9 after
# 7 8 9 from the same people: counts moved by 2 -> 2 / 2 / 3 = 33.3 %, one non-zero
# difference (+1, W = 0, z = 1, exact permutation p = 1), nobody crossed the agree line.
EXPECTED = HEADER + "\n" + "\n".join([
    "1,S1,4,3,1,75,0,0,0,0,0,0,1,1,1,8,7.5,8.5,1,8,1,0.125,100,0,0,in,"
    "3/3 (100%) rated 7-9 (>= 75% needed),,,,,,,,,,,,,resolved",
    "1,S2,4,2,1,50,0,0,1,0,1,0,0,0,0,4,3.5,4.5,1,4,1.4142135623730951,0.3535533905932738,"
    "0,50,50,none,0/2 (0%) rated 7-9 and 1/2 (50%) rated 1-3; 75% needed,,,,,,,,,,,,,open",
    "2,S1,3,3,0,100,0,0,0,0,0,0,0,2,1,8,8,8.5,0.5,8.333333333333334,0.5773502691896257,"
    "0.06928203230275508,100,0,0,in,3/3 (100%) rated 7-9 (>= 75% needed),1,3,"
    "33.333333333333336,1,0,1,1,permutation,0,0,1,false,resolved",
]) + "\n"


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text(GOOD, encoding="utf-8")
    return path


def test_good_file_gives_the_expected_csv(good: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.csv"
    assert main([str(good), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == EXPECTED
    assert "10 ratings, 2 round(s), 2 statement(s)" in capsys.readouterr().err


def test_flags_give_the_same_result_as_the_defaults(good: Path, tmp_path: Path) -> None:
    out = tmp_path / "flags.csv"
    assert main(["analyze", str(good), "--out", str(out), "--scale", "9", "--agree", "7-9",
                 "--disagree", "1-3", "--rule", "percent_agreement", "--threshold", "0.75",
                 "--quantile", "type7"]) == 0
    assert out.read_text(encoding="utf-8") == EXPECTED


def test_output_is_byte_for_byte_reproducible_whatever_the_row_order(tmp_path: Path) -> None:
    lines = GOOD.splitlines()
    body = lines[1:]
    random.Random(3).shuffle(body)
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main([str(shuffled), "--out", str(first)]) == 0
    assert main([str(shuffled), "--out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes() == EXPECTED.encode()


def test_numbers_read_back_exactly(good: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    assert main([str(good), "--out", str(out), "--stability", "wilcoxon"]) == 0
    computed = analyze(read_ratings_csv(good, 9), ConsensusSection(rule="percent_agreement"), 9)
    with out.open(encoding="utf-8", newline="") as handle:
        written = list(csv.DictReader(handle))
    for row, (_, expected) in zip(written, computed.iterrows(), strict=True):
        for name in ("median", "q1", "mean", "sd", "cv", "pct_agree", "pct_change", "wilcoxon_z"):
            if pd.isna(expected[name]):
                assert row[name] == ""
            else:
                assert float(row[name]) == expected[name]  # the very same double


def test_registers_on_a_parent_parser(good: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="delphi")
    register(parser.add_subparsers(dest="command"))
    out = tmp_path / "results.csv"
    args = parser.parse_args(["analyze", str(good), "--out", str(out)])
    assert args.func(args) == 0
    assert out.read_text(encoding="utf-8") == EXPECTED


def test_standard_output_when_no_out_is_given(good: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(good)]) == 0
    assert capsys.readouterr().out == EXPECTED


def test_study_file_and_sensitivity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ratings = tmp_path / "tiny.csv"
    ratings.write_text("round,statement,participant,rating\n"
                       + "".join(f"1,S01,P{i},{v}\n" for i, v in enumerate([5, 5, 4, 4, 3]))
                       + "".join(f"2,S01,P{i},{v}\n" for i, v in enumerate([5, 5, 4, 4, 4])),
                       encoding="utf-8")
    out, sens = tmp_path / "out.csv", tmp_path / "sens.csv"
    assert main([str(ratings), "--out", str(out), "--study", str(EXAMPLES / "tiny.toml"),
                 "--sensitivity", str(sens)]) == 0
    results = pd.read_csv(out)
    assert results.columns.tolist()[6:11] == [f"count_{k}" for k in range(1, 6)]
    assert results["consensus"].tolist() == ["in", "in"]  # 80 % and 100 % in 4-5
    alternatives = pd.read_csv(sens)
    assert "rand_ucla_ipr" not in set(alternatives["definition"])  # a 5-point study
    assert "study finished" in capsys.readouterr().err  # max_rounds = 2 in tiny.toml


def test_every_group_with_a_group_column(tmp_path: Path) -> None:
    ratings = tmp_path / "groups.csv"
    ratings.write_text("round,statement,participant,rating,group\n"
                       "1,S1,P1,9,patients\n1,S1,P2,9,patients\n"
                       "1,S1,P3,9,clinicians\n1,S1,P4,5,clinicians\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main([str(ratings), "--out", str(out), "--every-group"]) == 0
    row = pd.read_csv(out).iloc[0]
    assert row["consensus"] == "none"  # 75 % overall but only 50 % of clinicians
    assert "clinicians: none" in row["reason"]


BAD_INPUTS = [
    ("round,statement,participant\n1,S1,P1\n", 1, "missing column(s) rating"),
    ("round,statement,participant,rating\n1,S1,P1,7\n1,S1,P2,x\n", 3,
     "rating 'x' is not an integer"),
    ("round,statement,participant,rating\n1,S1,P1,7.0\n", 2, "rating '7.0' is not an integer"),
    ("round,statement,participant,rating\n1,S1,P1,10\n", 2,
     "rating 10 outside the 9-point scale (1-9)"),
    ("round,statement,participant,rating\n1,S1,P1,0\n", 2,
     "rating 0 outside the 9-point scale"),
    ("round,statement,participant,rating\n1,S1,P1,7\n\n1,S1,P1,8\n", 4,
     "participant 'P1' rated statement 'S1' twice in round 1 (first on line 2)"),
    ("round,statement,participant,rating\n1,S1,P1,7,extra\n", 2, "expected 4 fields, found 5"),
    ("round,statement,participant,rating\nfirst,S1,P1,7\n", 2,
     "round 'first' is not a positive integer"),
    ("round,statement,participant,rating\n1,,P1,7\n", 2, "statement is empty"),
    ("round,statement,participant,rating\n", 1, "no ratings below the header"),
    ("", 1, "empty file"),
    ("round,rating,rating,statement,participant\n", 1, "column(s) rating appear twice"),
    ('round,statement,participant,rating\n1,"S1\n', 2, "malformed CSV"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_INPUTS)
def test_bad_input_exits_2_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              text: str, line: int, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "results.csv"
    assert main([str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: {message}" in err
    assert "Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind either


def test_every_problem_is_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("round,statement,participant,rating\n1,S1,P1,x\n1,S1,P2,11\n2,S1,,4\n",
                    encoding="utf-8")
    assert main([str(path), "--out", str(tmp_path / "o.csv")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:2", f"{path}:3", f"{path}:4"]


def test_unreadable_and_non_utf8_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.csv"
    missing = tmp_path / "missing.csv"
    assert main([str(missing), "--out", str(out)]) == 2
    assert f"{missing}:1: cannot read the file" in capsys.readouterr().err
    assert main([str(tmp_path), "--out", str(out)]) == 2  # a directory
    assert f"{tmp_path}:1: cannot read the file" in capsys.readouterr().err
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"round,statement,participant,rating\n1,S1,P1,7\n1,S\xe9,P1,7\n")
    assert main([str(latin), "--out", str(out)]) == 2
    assert f"{latin}:3: not UTF-8 text" in capsys.readouterr().err
    assert not out.exists()


def test_a_byte_order_mark_and_crlf_line_ends_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode())
    out = tmp_path / "results.csv"
    assert main([str(path), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == EXPECTED


def test_bad_flags_and_study_conflicts(good: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.csv"
    assert main([str(good), "--out", str(out), "--threshold", "1.5", "--agree", "7-10"]) == 2
    err = capsys.readouterr().err
    assert "--threshold: Input should be less than or equal to 1" in err
    assert "--agree: [10] outside the 9-point scale (1-9)" in err
    assert main([str(good), "--out", str(out), "--scale", "5", "--rule", "rand_ucla"]) == 2
    assert "--rule: rand_ucla is defined on the 1-9 scale only" in capsys.readouterr().err
    assert main([str(good), "--out", str(out), "--study", str(EXAMPLES / "tiny.toml"),
                 "--threshold", "0.8"]) == 2
    assert "cannot be combined with --study" in capsys.readouterr().err
    assert main([str(good), "--out", str(out), "--agree", "nine"]) == 2
    assert "--agree: 'nine' is not a set of scale points" in capsys.readouterr().err
    assert main([str(good), "--out", str(out), "--every-group"]) == 2
    assert f"{good}:1: every_group needs a group column" in capsys.readouterr().err
    assert main([str(good), "--out", str(out), "--rule", "median_iqr"]) == 2
    assert "--median-agree: median_iqr needs" in capsys.readouterr().err
    assert not out.exists()


def test_bad_study_file(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "study.toml"
    study.write_text("[study]\nid = 'x'\n", encoding="utf-8")
    assert main([str(good), "--out", str(tmp_path / "o.csv"), "--study", str(study)]) == 2
    assert f"{study}: scale: missing (required)" in capsys.readouterr().err


def test_ratings_beyond_a_five_point_study_scale(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.csv"
    path.write_text("round,statement,participant,rating\n1,S01,P1,7\n", encoding="utf-8")
    assert main([str(path), "--out", str(tmp_path / "o.csv"), "--study",
                 str(EXAMPLES / "tiny.toml")]) == 2
    assert f"{path}:2: rating 7 outside the 5-point scale (1-5)" in capsys.readouterr().err


def test_unwritable_output_exits_1(good: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "no-such-dir" / "results.csv"
    assert main([str(good), "--out", str(target)]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_usage_errors_come_from_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: delphi analyze" in capsys.readouterr().err
