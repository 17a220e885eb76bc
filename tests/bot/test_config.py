"""The deployment config: validated on load, secrets from the environment, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads_with_its_token_from_the_environment() -> None:
    config = load_config(ROOT / "config.example.toml", env={"TELEGRAM_BOT_TOKEN": "123:SECRET"})
    assert config.telegram is not None
    assert config.telegram.token.get_secret_value() == "123:SECRET"
    assert "SECRET" not in repr(config) and "SECRET" not in str(config.model_dump())
    assert config.database_url == f"sqlite+aiosqlite:///{ROOT / 'delphi.db'}"
    assert config.study_path == ROOT / "study.toml"


def test_missing_environment_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(ROOT / "config.example.toml", env={})
    assert [p.render(caught.value.path) for p in caught.value.problems] == [
        f"{ROOT / 'config.example.toml'}: telegram.token_env: environment variable "
        "TELEGRAM_BOT_TOKEN is not set"]


@pytest.mark.parametrize(("text", "field", "message"), [
    ('[database]\nurl = "mysql://x/y"\n', "database.url", "only SQLite and PostgreSQL"),
    ('[database]\nurl = "sqlite:///x.db"\n', "database.url", "async driver"),
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
