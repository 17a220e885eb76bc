"""The names of the chat commands, in one place.

Adapters offer these names (Slack spells them ``/delphi <name>``, Telegram ``/<name>``); the
dialogue answers them (:data:`bot.dialogue.commands.TABLE` gives each command its handler
and says who may send it). Names only, so an adapter needs nothing of the dialogue to know
them.
"""

from __future__ import annotations

# Offered to everyone; some answer only those on the panel (see the table).
EXPERT_COMMANDS = ("start", "ballot", "progress", "help", "withdraw", "timezone", "ask",
                   "whoami")
# Only the coordinators named in the config may use these; anyone else is refused and audited.
COORDINATOR_COMMANDS = ("status", "openround", "closeround", "results", "revise", "drop", "add",
                        "invite", "export", "endstudy", "preview", "report", "comments", "hide",
                        "unhide", "extend", "nudge", "reply")
NAMES = frozenset({*EXPERT_COMMANDS, *COORDINATOR_COMMANDS})
