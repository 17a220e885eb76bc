"""The README says the truth a new user relies on: the command path after `make demo`,
every runtime dependency and why, and what the study-file snippet's comments promise."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from bot.app.cli import main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_delphi_command_is_where_the_readme_says(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert ".venv/bin/delphi" in README and ". .venv/bin/activate" in README
    assert "delphi --version" in README
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts.get("delphi") == "bot.app.cli:main"
    with pytest.raises(SystemExit):
        main(["--version"])
    assert re.match(r"delphi \d", capsys.readouterr().out)


def test_the_researcher_path_comes_before_the_internals() -> None:
    headings = re.findall(r"(?m)^## (.+)$", README)
    assert headings[0].startswith("Try it: the demo")
    assert headings.index("First real study in Telegram") < headings.index("Commands")
    for internal in ("Scaling to PostgreSQL", "How it is built", "Testing and benchmarks"):
        assert internal not in headings
        assert f"## {internal}" in (ROOT / "docs" / "internals.md").read_text()
    assert "What changed for users" in headings


def test_every_runtime_dependency_is_in_the_table() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    table = README[README.index("### Dependencies and why"):].lower()
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=~ ]", requirement, maxsplit=1)[0].lower()
        words = {"sqlalchemy": "sqlalchemy", "apscheduler": "apscheduler"}.get(name, name)
        assert words in table, f"{name} is a dependency but not in the README's table"


def test_the_study_file_snippet_says_what_carry_consensus_does() -> None:
    snippet = README[README.index("[stopping]"):README.index("[schedule]")]
    assert "carry_consensus = false" in snippet
    assert "statements that reached consensus are rated again" in snippet
