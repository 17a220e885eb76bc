"""The Slack adapter (slack-bolt, HTTP or Socket Mode): translation only, no study logic."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.slack.adapter import SlackAdapter
    from adapters.slack.settings import SlackSection
    from bot.chat.ports import Dialogue


def build_slack_adapter(dialogue: Dialogue, settings: SlackSection) -> SlackAdapter:
    """The runtime's entry point; bolt and slack_sdk are imported only when Slack is used."""
    from adapters.slack.adapter import SlackAdapter

    return SlackAdapter(dialogue, settings)


__all__ = ["build_slack_adapter"]
