"""Logging for the ``delphi`` commands: useful lines, and never a secret.

HTTP client libraries log request URLs, and Telegram puts the bot token in every URL
(``/bot<token>/sendMessage``); python-telegram-bot even quotes the token in the text of
the exception it raises when the Bot API rejects it. Those loggers are kept at WARNING,
and a filter on every handler replaces any configured secret, and anything shaped like a
Telegram or Slack token, in a message or an exception's text with ``***``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

NOISY = ("httpx", "httpcore", "telegram.ext.Updater", "slack_bolt", "slack_sdk", "aiohttp.access",
         "apscheduler", "alembic")
# Chart rendering: font-cache and font-fallback notices are not the coordinator's concern.
CHART_LIBRARIES = ("matplotlib", "PIL", "fontTools")

# Shapes of secrets even when the config is not known: a Telegram bot token
# (``<bot id>:<35 characters>``) and Slack bot, user, app and configuration tokens.
TOKEN_SHAPES = (re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}"),
                re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]{8,}"),
                re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"))
# Secrets shorter than this are not searched for: they would blank ordinary words.
MIN_SECRET = 6

_known: set[str] = set()


def remember_secrets(secrets: Iterable[str]) -> None:
    """Secrets from the config just read: every later :func:`scrub` removes them."""
    _known.update(s for s in secrets if len(s) >= MIN_SECRET)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret and every token-shaped string replaced by ``***``."""
    for secret in sorted({*_known, *(s for s in secrets if len(s) >= MIN_SECRET)},
                         key=len, reverse=True):
        text = text.replace(secret, "***")
    for shape in TOKEN_SHAPES:
        text = shape.sub("***", text)
    return text


class RedactSecrets(logging.Filter):
    """Scrubs each record: the secrets given here, those remembered, token shapes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= MIN_SECRET]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = scrub(message, self.secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self.secrets)
        return True


def guard_logging(level: int = logging.WARNING) -> None:
    """What every command starts with: a redacting handler when nothing is configured yet,
    else the redacting filter added to the handlers already there (a test runner's)."""
    root = logging.getLogger()
    if not root.handlers:
        configure_logging(level=level)
        return
    quiet_libraries()
    for handler in root.handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())


def configure_logging(secrets: Iterable[str] = (), level: int = logging.INFO) -> None:
    """One handler on the root logger, redacting; the chatty libraries at WARNING."""
    remember_secrets(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_libraries()


def quiet_libraries() -> None:
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in CHART_LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
