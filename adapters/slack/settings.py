"""The ``[slack]`` section of the config: what the Slack adapter needs to connect.

The adapter's own settings, so it depends on nothing of the application that reads them;
``bot.app.config`` validates the config file into this model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class SlackSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bot_token: SecretStr = SecretStr("")
    bot_token_env: str = ""
    signing_secret: SecretStr = SecretStr("")
    signing_secret_env: str = ""
    api_url: str = ""
    mode: Literal["http", "socket"] = "http"
    app_token: SecretStr = SecretStr("")
    app_token_env: str = ""
    listen: str = "127.0.0.1"  # put a TLS reverse proxy in front; 0.0.0.0 to expose directly
    port: Annotated[int, Field(ge=1, le=65535)] = 3000
    # The workspace, app and Enterprise Grid organisation whose requests are answered;
    # learned from auth.test at start-up when empty (app_id only if auth.test reports it).
    team_id: str = ""
    app_id: str = ""
    enterprise_id: str = ""
