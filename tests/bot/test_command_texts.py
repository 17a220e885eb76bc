"""Commands in what the bot says are structure, spelled by each messenger.

No sentence of the dialogue or the engine spells a command (``"Send /ballot"``): it names
it with a Step, so a Slack user reads ``/delphi ballot`` and a Telegram user ``/ballot``,
and nothing rewrites prose on the way. Cards keep their Steps through the outbox.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from adapters.slack.render import notice_text, slack_command
from adapters.telegram.render import render as telegram_render
from bot.chat.cards import Card, Section, card
from bot.chat.commands import NAMES
from bot.chat.text import Step, Text, say, spell
from bot.dialogue import texts

ROOT = Path(__file__).resolve().parents[2]
SPELLED = re.compile(r"(?<![\w/])/({})\b".format("|".join(sorted(NAMES, key=len,
                                                                   reverse=True))))
# Text that never reaches a chat: the pilot's help, the report.
NOT_CHAT = {"bot/tools/pilot.py"}
NOT_CHAT_DIRS = ("engine/report/",)


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                          | ast.AsyncFunctionDef)
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def _spelled_commands() -> list[str]:
    found = []
    for path in sorted([*ROOT.glob("bot/**/*.py"), *ROOT.glob("engine/**/*.py")]):
        name = path.relative_to(ROOT).as_posix()
        if name in NOT_CHAT or name.startswith(NOT_CHAT_DIRS):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        found += [f"{name}:{node.lineno}: {node.value.strip()[:70]!r}"
                  for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and id(node) not in docstrings and SPELLED.search(node.value)]
    return found


def test_no_sentence_spells_a_command() -> None:
    assert _spelled_commands() == []


def test_each_messenger_spells_the_help_its_own_way() -> None:
    help_card = texts.expert_help(coordinator=True)
    telegram = telegram_render(help_card)[0].text
    assert "/ballot continues your ballot" in telegram and "/closeround, /extend &lt;when&gt;" \
        in telegram
    slack = spell(help_card.sections[0].text, slack_command)
    assert "/delphi ballot continues your ballot" in slack
    assert "/delphi closeround, /delphi extend <when>" in slack
    assert SPELLED.search(slack) is None


def test_a_refusal_names_its_next_step_and_slack_says_it_the_slack_way() -> None:
    refusal = say("Round 1 has closed; this button no longer works. Send ", Step("ballot"),
                  " for the current round.")
    assert str(refusal) == ("Round 1 has closed; this button no longer works. Send /ballot "
                            "for the current round.")
    assert notice_text(refusal).endswith("Send /delphi ballot for the current round.")
    assert notice_text(say(Step("start"))) == "/delphi"


def test_steps_survive_the_outbox_and_old_rows_still_read() -> None:
    sent = card(say("Send ", Step("ballot"), " to continue."), Section("As written: /help",
                                                                     "quote"))
    again = Card.from_json(sent.to_json())
    assert again == sent and isinstance(again.sections[0].text, Text)
    old = {"heading": None, "sections": [["Send /ballot to continue.", "plain"]],
           "buttons": []}
    assert Card.from_json(old).plain_text() == "Send /ballot to continue."


def test_only_chat_commands_can_be_named() -> None:
    assert say("no command here") == "no command here"  # plain words stay a string
    with pytest.raises(ValueError, match="no such chat command: balot"):
        say("Send ", Step("balot"))
