"""The `delphi` command line on a real SQLite file: migrations, loading, refusing to run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.app.cli import main
from tests.engine.helpers import EXAMPLES


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "tiny.toml", tmp_path / "study.toml")
    (tmp_path / "config.toml").write_text(
        '[database]\nurl = "sqlite:///data/delphi.db"\n'
        '[study]\nfile = "study.toml"\n'
        '[telegram]\ntoken = "123:abc"\n'
        '[coordinators]\ntelegram = [42]\n')
    return tmp_path


def delphi(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_refuses_an_outdated_schema_naming_the_command(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(workdir / "config.toml")
    code, out, err = delphi(capsys, "run", "--config", config)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert f"run `delphi db upgrade --config {config}` first" in err


def test_upgrade_then_load_then_load_again(workdir: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = str(workdir / "config.toml")
    code, _, err = delphi(capsys, "study", "load", "--config", config)
    assert code == 2 and "delphi db upgrade" in err
    code, out, _ = delphi(capsys, "db", "upgrade", "--config", config)
    assert code == 0 and re.search(r"empty -> (\d+) \(head \1\)", out)
    assert (workdir / "data" / "delphi.db").stat().st_mode & 0o777 == 0o600
    code, out, _ = delphi(capsys, "db", "current", "--config", config)
    assert code == 0 and "up to date" in out
    code, out, _ = delphi(capsys, "study", "load", "--config", config)
    assert code == 0 and "Loaded study 'tiny' with 5 statements" in out
    code, out, _ = delphi(capsys, "study", "load", "--config", config)
    assert code == 0 and "already loaded" in out
    # Layout and comments do not matter; content does.
    study = workdir / "study.toml"
    study.write_text("# a new comment\n" + study.read_text())
    code, out, _ = delphi(capsys, "study", "load", "--config", config)
    assert code == 0 and "already loaded" in out
    study.write_text(study.read_text().replace("every 2 hours", "every 3 hours"))
    code, out, err = delphi(capsys, "study", "load", "--config", config)
    assert code == 2 and "already holds study 'tiny' loaded from a different file" in err
    code, _, err = delphi(capsys, "run", "--config", config)
    assert code == 2 and "differs from the study loaded in the database" in err


def test_downgrade_to_base_then_run_is_refused_again(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(workdir / "config.toml")
    assert delphi(capsys, "db", "upgrade", "--config", config)[0] == 0
    code, out, _ = delphi(capsys, "db", "downgrade", "base", "--config", config)
    assert code == 0 and "base (empty)" in out
    code, _, err = delphi(capsys, "db", "current", "--config", config)
    assert code == 1
    code, _, err = delphi(capsys, "run", "--config", config)
    assert code == 2 and "schema is out of date (empty" in err


def test_broken_config_is_reported_without_traceback(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = workdir / "config.toml"
    config.write_text('[database]\nurl = "sqlite:///x.db"\n[telegram]\ntokn = "1"\n')
    code, out, err = delphi(capsys, "db", "upgrade", "--config", str(config))
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"{config}: telegram.tokn: unknown field (check the spelling)" in err
    assert not (workdir / "x.db").exists()
