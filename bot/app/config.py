"""The deployment configuration (``config.toml``): database, study file, messengers, coordinators.

Secrets may be written inline or, better, named by environment variable (``*_env``).
They are held as :class:`pydantic.SecretStr`, so printing or logging the config never
shows them. Relative paths (the study file, a SQLite database) are resolved against
the config file's folder, so a config works from whatever directory delphi is run in.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from adapters.slack.settings import SlackSection
from adapters.telegram.settings import TelegramSection
from engine.problems import FileProblems, Problem, pydantic_problems, toml_syntax_problem

DEFAULT_DATABASE_URL = "sqlite:///delphi.db"


class ConfigError(FileProblems):
    """The config file cannot be used; every problem is listed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSection(_Section):
    url: str = DEFAULT_DATABASE_URL


class StudyRef(_Section):
    file: str = "study.toml"


class CoordinatorsSection(_Section):
    telegram: list[int] = []
    slack: list[str] = []


class ReportSection(_Section):
    """``templates``: a folder with the team's own report templates (``report.html.j2``,
    ``blocks.html.j2``, ``report.css``, ``report.md.j2``); missing ones are built in."""

    templates: str = ""


class Config(_Section):
    database: DatabaseSection = DatabaseSection()
    study: StudyRef = StudyRef()
    telegram: TelegramSection | None = None
    slack: SlackSection | None = None
    coordinators: CoordinatorsSection = CoordinatorsSection()
    report: ReportSection = ReportSection()
    # Where the file was read from; relative paths in it are relative to this folder.
    base_dir: Path = Path(".")

    def secrets(self) -> list[str]:
        """Every secret in the config, so logging can make sure none is ever written."""
        values = [make_url(self.database.url).password or ""]
        for section in (self.telegram, self.slack):
            if section is not None:
                values += [v.get_secret_value() for v in section.__dict__.values()
                           if isinstance(v, SecretStr)]
        return [v for v in values if v]

    @property
    def database_url(self) -> str:
        return resolve_database_url(self.database.url, self.base_dir)

    @property
    def templates_path(self) -> Path | None:
        if not self.report.templates:
            return None
        path = Path(self.report.templates)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def study_path(self) -> Path:
        path = Path(self.study.file)
        return path if path.is_absolute() else self.base_dir / path


def resolve_database_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite path absolute against ``base_dir``; other URLs pass unchanged."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return url
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return url
    if Path(database).is_absolute():
        return url
    return parsed.set(database=str((base_dir / database).resolve())).render_as_string(
        hide_password=False)


def _secret(section: Any, name: str, env: Mapping[str, str], where: str,
            problems: list[Problem], required: bool) -> None:
    """Fill ``section.<name>`` from the variable named by ``<name>_env`` when given;
    ``required`` is false for commands that never talk to the messenger."""
    variable = getattr(section, f"{name}_env")
    if variable:
        value = env.get(variable, "")
        if not value and required:
            problems.append(Problem(f"{where}.{name}_env",
                                    f"environment variable {variable} is not set"))
        setattr(section, name, SecretStr(value))
    elif required and not getattr(section, name).get_secret_value():
        problems.append(Problem(f"{where}.{name}", f"missing: set {name} or {name}_env"))


def _semantic_problems(config: Config, env: Mapping[str, str],
                       messengers: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    try:
        url = make_url(config.database.url)
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            problems.append(Problem("database.url", "only SQLite and PostgreSQL are supported"))
        elif url.get_driver_name() not in ("pysqlite", "aiosqlite", "asyncpg"):
            problems.append(Problem("database.url", "use sqlite:///FILE, "
                                    "sqlite+aiosqlite:///FILE or postgresql+asyncpg://..."))
    except ArgumentError:
        problems.append(Problem("database.url", f"not a database URL: {config.database.url!r}"))
    if config.telegram is not None:
        telegram = config.telegram
        _secret(telegram, "token", env, "telegram", problems, required=messengers)
        if telegram.mode == "webhook":
            _secret(telegram, "secret_token", env, "telegram", problems, required=messengers)
            if not telegram.webhook_url.startswith(("https://", "http://")):
                problems.append(Problem("telegram.webhook_url",
                                        "webhook mode needs the public https:// URL"))
    if config.slack is not None:
        slack = config.slack
        _secret(slack, "bot_token", env, "slack", problems, required=messengers)
        _secret(slack, "signing_secret", env, "slack", problems,
                required=messengers and slack.mode == "http")
        _secret(slack, "app_token", env, "slack", problems,
                required=messengers and slack.mode == "socket")
        if slack.api_url and not slack.api_url.endswith("/"):
            problems.append(Problem("slack.api_url", "must end with a slash, e.g. "
                                                     "https://slack.com/api/"))
    return problems


def parse_config(text: str, path: Path | str = "<config>",
                 env: Mapping[str, str] | None = None, messengers: bool = True) -> Config:
    """The config in ``text``; ``messengers=False`` for the commands that never talk to
    Telegram or Slack (migrations, exports, reports), which then need no tokens."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [toml_syntax_problem(exc)]) from None
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, pydantic_problems(exc, raw)) from None
    config.base_dir = Path(path).resolve().parent if str(path) != "<config>" else Path.cwd()
    problems = _semantic_problems(config, env, messengers)
    if problems:
        raise ConfigError(path, problems)
    return config


def load_config(path: Path | str, env: Mapping[str, str] | None = None,
                messengers: bool = True) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [Problem("(file)", "no such file; copy config.example.toml "
                                                   "and edit it")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [Problem("(file)", f"cannot be read: {exc}")]) from None
    return parse_config(text, path, env, messengers)
