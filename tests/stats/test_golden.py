"""`delphi analyze` writes, byte for byte, the files it wrote when these were committed.

The input is the demo study's ``ratings.csv`` (3 rounds, revised wordings as ``S05.v2``,
two stakeholder groups, confidence), analysed under the example study file. Published
numbers must be reproducible from the exports, so any change to these outputs is a change
to the statistics: if it is intended, regenerate the files (``delphi demo --out DIR`` for
the ratings, then the calls below) and say why in the commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.analyze_cli import main

GOLDEN = Path(__file__).resolve().parent / "golden"
STUDY = Path(__file__).resolve().parents[2] / "engine" / "examples" / \
    "isotretinoin-rejuvenation.toml"
RATINGS = GOLDEN / "demo-ratings.csv"


@pytest.mark.parametrize(("flags", "golden"), [
    ([], "demo-results.csv"),
    (["--methods"], "demo-results-methods.csv"),
])
def test_results_are_byte_for_byte_the_committed_ones(flags: list[str], golden: str,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    assert main([str(RATINGS), "--study", str(STUDY), *flags, "--out", str(out)]) == 0
    assert out.read_bytes() == (GOLDEN / golden).read_bytes()


def test_expert_and_attrition_tables_are_byte_for_byte_the_committed_ones(
        tmp_path: Path) -> None:
    experts, attrition = tmp_path / "experts.csv", tmp_path / "attrition.csv"
    assert main([str(RATINGS), "--study", str(STUDY), "--experts", str(experts),
                 "--attrition", str(attrition), "--out", str(tmp_path / "results.csv")]) == 0
    assert experts.read_bytes() == (GOLDEN / "demo-experts.csv").read_bytes()
    assert attrition.read_bytes() == (GOLDEN / "demo-attrition.csv").read_bytes()
