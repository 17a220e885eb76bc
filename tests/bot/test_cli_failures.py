"""The `delphi` command line when things go wrong, as a new user meets it: a token the
Bot API rejects, a messenger that cannot be reached, a bad schema revision, no tokens in
the environment, a demo pointed at a folder full of work. One or two sentences, a
non-zero exit, no traceback (unless --debug) and never the token."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from bot.app.cli import main
from bot.app.config import load_config
from bot.app.logs import RedactSecrets
from bot.app.runtime import missing_coordinators
from tests.engine.helpers import EXAMPLES
from tests.fakes.slack_api import running_slack_fake
from tests.fakes.telegram_api import running_telegram_fake
from tests.telegram.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
GOOD = "7000001:AAGoodTokenGoodTokenGoodTokenGoodTok"
WRONG = "7000001:AAWrongTokenWrongTokenWrongTokenWro"


def write_config(folder: Path, messenger: str = "") -> Path:
    shutil.copy(EXAMPLES / "tiny.toml", folder / "study.toml")
    config = folder / "config.toml"
    config.write_text('[database]\nurl = "sqlite:///delphi.db"\n[study]\nfile = "study.toml"\n'
                      + messenger)
    return config


def delphi(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def adelphi(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`delphi` from an async test (it runs its own event loop)."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def delphi_process(*argv: str) -> tuple[int, str, str]:
    """`delphi` as its own process (`run` installs signal handlers: main thread only)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.app.cli", *argv, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def short(err: str) -> None:
    assert 1 <= err.strip().count("\n") + 1 <= 2, err
    assert "Traceback" not in err


def prepared(folder: Path, capsys: pytest.CaptureFixture[str], messenger: str) -> str:
    config = str(write_config(folder, messenger))
    assert delphi(capsys, "db", "upgrade", "--config", config)[0] == 0
    assert delphi(capsys, "study", "load", "--config", config)[0] == 0
    return config


# --- tokens and unreachable messengers -----------------------------------------------------

async def test_a_token_the_bot_api_rejects(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    async with running_telegram_fake(GOOD) as fake:
        config = await asyncio.to_thread(prepared, tmp_path, capsys,
                                         f'[telegram]\ntoken = "{WRONG}"\n'
                                         f'base_url = "{fake.base_url}"\n')
        for command in (["invite", "--count", "2"], ["run"]):
            code, out, err = await (delphi_process if command == ["run"] else adelphi)(
                *([] if command == ["run"] else [capsys]), *command, "--config", config)
            assert code == 1 and out == ""
            short(err)
            assert "Telegram rejected the bot token" in err and "@BotFather" in err
            assert WRONG not in err and "AAWrong" not in err
        code, _, err = await adelphi(capsys, "--debug", "invite", "--count", "1",
                                     "--config", config)
        assert code == 1 and "Traceback" in err and "InvalidToken" in err
        assert WRONG not in err and "AAWrong" not in err  # redacted even in the traceback


async def test_an_unreachable_bot_api(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}/bot"
    config = await asyncio.to_thread(prepared, tmp_path, capsys,
                                     f'[telegram]\ntoken = "{GOOD}"\nbase_url = "{dead}"\n')
    for command in (["invite", "--count", "2"], ["run"]):
        code, out, err = await (delphi_process if command == ["run"] else adelphi)(
            *([] if command == ["run"] else [capsys]), *command, "--config", config)
        assert code == 1 and out == ""
        short(err)
        assert "Could not reach the Telegram Bot API" in err and GOOD not in err


async def test_slack_rejected_or_unreachable(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    async with running_slack_fake() as fake:
        wrong = "xoxb-1111-2222-wrongwrongwrong"
        config = await asyncio.to_thread(
            prepared, tmp_path, capsys,
            f'[slack]\nbot_token = "{wrong}"\nsigning_secret = "s3cret-signing"\n'
            f'api_url = "{fake.api_url}"\nport = {free_port()}\n')
        code, _, err = await delphi_process("run", "--config", config)
        assert code == 1
        short(err)
        assert "Slack rejected the bot token (invalid_auth)" in err and wrong not in err
    dead = f"http://127.0.0.1:{free_port()}/api/"
    (tmp_path / "config.toml").write_text(
        (tmp_path / "config.toml").read_text().replace(fake.api_url, dead))
    code, _, err = await delphi_process("run", "--config", config)
    assert code == 1
    short(err)
    assert "Could not reach the Slack Web API" in err and wrong not in err


def test_invite_count_zero_is_refused_before_anything_is_contacted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, f'[telegram]\ntoken = "{GOOD}"\n'
                                    f'base_url = "http://127.0.0.1:{free_port()}/bot"\n')
    for count in ("0", "-3", "many", "5000", "²", "١", "12345678901234567890123"):
        with pytest.raises(SystemExit) as exit_:
            main(["invite", "--count", count, "--config", str(config)])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "give a whole number from 1 to 1000" in err and "Traceback" not in err
    assert not (tmp_path / "delphi.db").exists()  # the database was not even opened


async def test_invite_writes_the_links_to_a_new_file(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    async with running_telegram_fake(GOOD) as fake:
        config = await asyncio.to_thread(prepared, tmp_path, capsys,
                                         f'[telegram]\ntoken = "{GOOD}"\n'
                                         f'base_url = "{fake.base_url}"\n')
        links = tmp_path / "links.txt"
        code, out, _ = await adelphi(capsys, "invite", "--count", "3", "--out", str(links),
                                     "--config", config)
        assert code == 0 and "Wrote 3 single-use invite links" in out and "t.me" not in out
        lines = links.read_text().splitlines()
        assert len(lines) == 3 and all(
            line.startswith("https://t.me/delphi_test_bot?start=") for line in lines)
        assert links.stat().st_mode & 0o777 == 0o600
        code, _, err = await adelphi(capsys, "invite", "--count", "3", "--out", str(links),
                                     "--config", config)
        assert code == 2 and "already exists" in err
        assert links.read_text().splitlines() == lines  # the first links are not lost


# --- schema, files, config -------------------------------------------------------------------

def test_a_bad_revision_and_a_missing_database_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = prepared(tmp_path, capsys, "")
    code, out, err = delphi(capsys, "db", "downgrade", "nonsense", "--config", config)
    assert code == 2 and out == ""
    short(err)
    assert "nonsense" in err and "delphi db current" in err
    (tmp_path / "config.toml").write_text((tmp_path / "config.toml").read_text().replace(
        "sqlite:///delphi.db", "sqlite:///no/such/folder/delphi.db"))
    code, _, err = delphi(capsys, "db", "current", "--config", config)
    assert code != 0
    short(err)
    code, _, err = delphi(capsys, "report", "--config", str(tmp_path / "missing.toml"),
                          "--out", str(tmp_path / "r"))
    assert code == 2 and "no such file" in err
    short(err)


def test_commands_without_a_messenger_need_no_tokens(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The config names the token variables, but they are not set: everything that does
    not talk to Telegram or Slack works; `run` says which variable is missing."""
    for name in ("DELPHI_TEST_NO_TG", "DELPHI_TEST_NO_SLACK", "DELPHI_TEST_NO_SIGNING"):
        assert name not in os.environ
    config = prepared(tmp_path, capsys,
                      '[telegram]\ntoken_env = "DELPHI_TEST_NO_TG"\n'
                      '[slack]\nbot_token_env = "DELPHI_TEST_NO_SLACK"\n'
                      'signing_secret_env = "DELPHI_TEST_NO_SIGNING"\n')
    out = tmp_path / "out"
    for argv in (["db", "current"], ["study", "load"], ["export", "--out", str(out)],
                 ["report", "--out", str(out / "report")]):
        code, _, err = delphi(capsys, *argv, "--config", config)
        assert code == 0, (argv, err)
    code, _, err = delphi(capsys, "participant", "erase", "P01", "--config", config)
    assert code == 2 and "no participant 'P01'" in err  # got as far as the database
    code, _, err = delphi(capsys, "analyze", str(out / "ratings.csv"), "--study",
                          str(tmp_path / "study.toml"))
    assert "no ratings below the header" in err  # read the export; no round was rated
    code, _, err = delphi(capsys, "run", "--config", config)
    assert code == 2 and "DELPHI_TEST_NO_TG is not set" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("delphi ")


def test_log_records_lose_token_shaped_strings() -> None:
    """PTB and httpx put the token in URLs and exception texts: scrubbed even when the
    config that holds the token was never read."""
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{WRONG}/getMe failed")
    except RuntimeError:
        record = logging.LogRecord("httpx", logging.ERROR, __file__, 1,
                                   "HTTP Request: POST %s", (f"/bot{WRONG}/getMe",),
                                   sys.exc_info())
    assert RedactSecrets().filter(record)
    assert WRONG not in record.getMessage() and "***" in record.getMessage()
    assert record.exc_text is not None and WRONG not in record.exc_text


async def test_run_warns_when_a_served_platform_has_no_coordinator(tmp_path: Path) -> None:
    async with running_telegram_fake(GOOD) as fake:
        config = write_config(tmp_path, f'[telegram]\ntoken = "{GOOD}"\n'
                                        f'base_url = "{fake.base_url}"\n')
        for argv in (["db", "upgrade"], ["study", "load"]):
            assert await asyncio.to_thread(main, [*argv, "--config", str(config)]) == 0
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.app.cli", "run", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
        try:
            await fake.wait_until_polling(timeout=30)
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert b"no coordinator is configured for telegram" in err and b"/whoami" in err
    assert GOOD.encode() not in out + err


# --- the demo's folder --------------------------------------------------------------------

def test_demo_never_deletes_what_it_did_not_write(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "thesis"
    work.mkdir()
    (work / "chapter-1.docx").write_text("three months of work")
    (work / ".git").mkdir()
    code, out, err = delphi(capsys, "demo", "--out", str(work), "--experts", "4")
    assert code == 2 and out == ""
    short(err)
    assert "not empty and is not an earlier demo output" in err
    assert sorted(p.name for p in work.iterdir()) == [".git", "chapter-1.docx"]

    demo = tmp_path / "demo"
    assert delphi(capsys, "demo", "--out", str(demo), "--experts", "4")[0] == 0
    written = set(demo.iterdir())
    assert demo / ".delphi-demo" in written and demo / "report.html" in written
    (demo / "my-notes.txt").write_text("what I noticed")
    assert delphi(capsys, "demo", "--out", str(demo), "--experts", "4")[0] == 0
    assert (demo / "my-notes.txt").read_text() == "what I noticed"
    assert set(demo.iterdir()) == written | {demo / "my-notes.txt"}

    # A demo folder from before the marker existed: only the demo's own names in it.
    legacy = tmp_path / "demo-output"
    (legacy / "figures").mkdir(parents=True)
    for name in ("report.html", "ratings.csv", "demo.db", "figures/round-1.png",
                 "transcript-expert-01.txt"):
        (legacy / name).write_text("old")
    assert delphi(capsys, "demo", "--out", str(legacy), "--experts", "4")[0] == 0
    assert (legacy / "report.html").read_text() != "old" and (legacy / ".delphi-demo").exists()


def test_the_missing_coordinator_warning_names_the_command_each_messenger_takes(
        tmp_path: Path) -> None:
    """A Slack operator who types /whoami reaches no app: the warning says /delphi whoami."""
    config = load_config(write_config(
        tmp_path, '[telegram]\ntoken = "1:x"\n[slack]\nbot_token = "xoxb-1"\n'
                  'signing_secret = "s"\n'))
    telegram, slack = missing_coordinators(config)
    assert "Send /whoami to the bot" in telegram
    assert "Send /delphi whoami to the bot" in slack
