"""The output number format: exact, reproducible, NA as empty."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.stats.results_file import format_value, write_results_csv


def test_format_value_rules() -> None:
    assert format_value(7) == "7"
    assert format_value(np.int64(12)) == "12"
    assert format_value(7.0) == "7"
    assert format_value(np.float64(100.0)) == "100"
    assert format_value(-0.0) == "0"
    assert format_value(7.25) == "7.25"
    assert format_value(200 / 3) == "66.66666666666667"
    assert format_value(0.1 + 0.2) == "0.30000000000000004"
    assert format_value(1.2e-20) == "1.2e-20"
    assert format_value(float("nan")) == ""
    assert format_value(pd.NA) == ""
    assert format_value(None) == ""
    assert format_value(True) == "true"
    assert format_value(np.bool_(False)) == "false"
    assert format_value("in") == "in"


def test_every_float_reads_back_as_the_same_double() -> None:
    values = np.random.default_rng(5).random(2000) * 10.0 ** np.arange(-10, 10).repeat(100)
    assert all(float(format_value(v)) == v for v in values)


def test_write_is_atomic_and_plain(tmp_path: Path) -> None:
    table = pd.DataFrame({"a": pd.array([1, None], dtype="Int64"), "b": [0.5, np.nan],
                          "c": ["x,y", "z"]})
    target = tmp_path / "out.csv"
    write_results_csv(table, target)
    assert target.read_bytes() == b'a,b,c\n1,0.5,"x,y"\n,,z\n'
    assert list(tmp_path.iterdir()) == [target]
