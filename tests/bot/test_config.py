"""The deployment config: validated on load, secrets from the environment, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_with_its_token_from_the_environment() -> None:
    config = load_config(ROOT / "config.example.toml", env={"TELEGRAM_BOT_TOKEN": "123:SECRET"})
    assert config.telegram is not None
    assert config.telegram.token.get_secret_value() == "123:SECRET"
    assert "SECRET" not in repr(config) and "SECRET" not in str(config.model_dump())
    assert config.database_url == f"sqlite:///{ROOT / 'delphi.db'}"
    assert config.study_path == ROOT / "study.toml"


def test_missing_environment_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(ROOT / "config.example.toml", env={})
    assert [p.render(caught.value.path) for p in caught.value.problems] == [
        f"{ROOT / 'config.example.toml'}: telegram.token_env: environment variable "
        "TELEGRAM_BOT_TOKEN is not set"]


@pytest.mark.parametrize(("text", "field", "message"), [
    ('[database]\nurl = "mysql://x/y"\n', "database.url", "only SQLite and PostgreSQL"),
    ('[database]\nurl = "postgresql+psycopg2://x/y"\n', "database.url", "postgresql+asyncpg"),
    ('[telegram]\ntoken = "t"\nmode = "push"\n', "telegram.mode", "must be"),
    ('[telegram]\ntoken = "t"\nmode = "webhook"\nsecret_token = "s"\n', "telegram.webhook_url",
     "public https"),
    ('[slack]\nbot_token = "x"\n', "slack.signing_secret", "missing"),
    ('[coordinators]\ntelegram = ["alice"]\n', "coordinators.telegram[1]", "integer"),
    ('[databse]\nurl = "x"\n', "databse", "unknown field"),
])
def test_bad_config_names_the_field(text: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "config.toml", env={})
    rendered = [p.render("config.toml") for p in caught.value.problems]
    assert any(r.startswith(f"config.toml: {field}: ") and message in r for r in rendered), \
        rendered


def test_secrets_are_redacted_from_every_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from bot.app.logs import configure_logging

    config = parse_config('[database]\nurl = "postgresql+asyncpg://u:pg-pass-123@h/db"\n'
                          '[telegram]\ntoken = "123456:ABC-secret"\n', "config.toml", env={})
    assert set(config.secrets()) == {"pg-pass-123", "123456:ABC-secret"}
    configure_logging(config.secrets())
    logging.getLogger("delphi.test").info("POST https://api.telegram.org/bot%s/getMe",
                                          "123456:ABC-secret")
    try:
        raise RuntimeError("connect to postgresql://u:pg-pass-123@h failed")
    except RuntimeError:
        logging.getLogger("delphi.test").exception("database down")
    logging.getLogger("httpx").info("HTTP Request: POST .../bot123456:ABC-secret/getMe")
    err = capsys.readouterr().err
    assert "bot***/getMe" in err and "u:***@h" in err
    assert "ABC-secret" not in err and "pg-pass-123" not in err
    assert "HTTP Request" not in err  # the URL-logging client stays quiet
    logging.getLogger().handlers.clear()
