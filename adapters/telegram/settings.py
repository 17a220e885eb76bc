"""The ``[telegram]`` section of the config: what the Telegram adapter needs to connect.

The adapter's own settings, so it depends on nothing of the application that reads them;
``bot.app.config`` validates the config file into this model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class TelegramSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: SecretStr = SecretStr("")
    token_env: str = ""
    base_url: str = ""
    base_file_url: str = ""
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    listen: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8443
    secret_token: SecretStr = SecretStr("")
    secret_token_env: str = ""
    # PTB's AIORateLimiter for direct replies (about 30 messages/s overall); switch off only
    # against a test server that has no limits.
    rate_limit: bool = True
