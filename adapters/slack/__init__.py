"""The Slack adapter (slack-bolt, HTTP or Socket Mode): translation only, no study logic."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.slack.adapter import SlackAdapter
    from bot.app.config import SlackSection
    from bot.dialogue.conductor import Conductor


def build_slack_adapter(conductor: Conductor, settings: SlackSection) -> SlackAdapter:
    """The runtime's entry point; bolt and slack_sdk are imported only when Slack is used."""
    from adapters.slack.adapter import SlackAdapter

    return SlackAdapter(conductor, settings)


__all__ = ["build_slack_adapter"]
