"""What a ``delphi`` command says when something it expects to go wrong goes wrong.

Each expected failure (a token the messenger rejects, a messenger or database that cannot
be reached, an unknown schema revision, a missing file) becomes one or two sentences that
say what to do; anything else becomes one sentence that names the error and points at
``--debug``. Every sentence passes through :func:`bot.app.logs.scrub`, because the libraries
quote tokens and URLs (which carry the Telegram token) in their exception texts.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.app.logs import scrub

EXIT_FAILURE = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A user-facing failure: printed as ``delphi: <message>`` with exit code 2."""


@dataclass(frozen=True)
class Failure:
    """A failure as the user reads it: the sentences and the exit code."""

    message: str
    code: int = EXIT_FAILURE


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return scrub(text[0] if text else type(error).__name__)[:300]


def _telegram(error: BaseException) -> Failure | None:
    try:
        from telegram import error as tg
    except ImportError:  # pragma: no cover - a dependency
        return None
    if isinstance(error, tg.InvalidToken):
        return Failure("Telegram rejected the bot token. Check telegram.token (or the "
                       "environment variable named by telegram.token_env) against the token "
                       "@BotFather gave you.")
    if isinstance(error, tg.Conflict):
        return Failure("Another program is already receiving updates for this bot token. "
                       "Stop it (only one `delphi run` may poll a bot), or use webhook mode.")
    if isinstance(error, tg.BadRequest | tg.Forbidden):
        return Failure(f"The Telegram Bot API refused a request: {_first_line(error)}.")
    if isinstance(error, tg.NetworkError):
        return Failure("Could not reach the Telegram Bot API. Check the network connection "
                       "(and telegram.base_url, if set), then try again.")
    if isinstance(error, tg.TelegramError):
        return Failure(f"The Telegram Bot API answered with an error: {_first_line(error)}.")
    return None


def _slack(error: BaseException) -> Failure | None:
    try:
        import aiohttp
        from slack_sdk.errors import SlackApiError, SlackClientError
    except ImportError:  # pragma: no cover - a dependency
        return None
    if isinstance(error, SlackApiError):
        reason = str(error.response.get("error", "")) if error.response is not None else ""
        if reason in ("invalid_auth", "not_authed", "account_inactive", "token_revoked",
                      "token_expired"):
            return Failure(f"Slack rejected the bot token ({reason}). Check slack.bot_token "
                           "(or the variable named by slack.bot_token_env): it starts with "
                           "xoxb- and is on the app's OAuth & Permissions page.")
        return Failure(f"The Slack Web API answered with an error: {scrub(reason or '?')}.")
    if isinstance(error, SlackClientError):
        return Failure(f"The Slack client failed: {_first_line(error)}.")
    if isinstance(error, aiohttp.ClientError | TimeoutError):
        return Failure("Could not reach the Slack Web API. Check the network connection "
                       "(and slack.api_url, if set), then try again.")
    return None


def _database(error: BaseException) -> Failure | None:
    from alembic.util.exc import CommandError as AlembicError
    from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

    if isinstance(error, AlembicError):
        return Failure(f"The schema migration failed: {_first_line(error)}. Use a revision "
                       "that `delphi db current` shows, `head`, or `base`.", EXIT_USAGE)
    if isinstance(error, DBAPIError) and isinstance(error.orig, OSError):
        return Failure("Could not connect to the database. Check database.url in the config "
                       "and that the database server is running.")
    if isinstance(error, OperationalError):
        return Failure(f"The database reported an error: {_first_line(error.orig or error)}. "
                       "Check database.url in the config and that the database can be "
                       "reached.")
    if isinstance(error, SQLAlchemyError):
        original = getattr(error, "orig", None) or error
        return Failure(f"The database refused the change: {_first_line(original)}. Run "
                       "again with --debug for the details.")
    return None


def _os(error: BaseException) -> Failure | None:
    if isinstance(error, FileNotFoundError):
        return Failure(f"No such file or folder: {scrub(str(error.filename))}.", EXIT_USAGE)
    if isinstance(error, PermissionError):
        return Failure(f"Permission denied: {scrub(str(error.filename))}.", EXIT_USAGE)
    if isinstance(error, ConnectionError | TimeoutError) or (
            isinstance(error, OSError) and error.errno is not None and error.filename is None):
        return Failure(f"A network connection failed ({_first_line(error)}). Check that the "
                       "database and messenger in the config can be reached, then try again.")
    if isinstance(error, OSError):
        return Failure(f"{_first_line(error)}.", EXIT_USAGE)
    return None


def explain(error: BaseException) -> Failure:
    """The sentences for ``error``; never a traceback, never a secret."""
    for reader in (_telegram, _slack, _database, _os):
        found = reader(error)
        if found is not None:
            return found
    return Failure(f"Unexpected error ({type(error).__name__}: {_first_line(error)}). Run "
                   "the command again with --debug for the details.")
