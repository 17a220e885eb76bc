"""An in-process messenger: chats held in memory. Used by `delphi demo`, the pilot and tests.

It is a real adapter of the conductor (events in, replies rendered into a chat), just
without a network: the same code path as Telegram and Slack, minus the HTTP.
"""

from adapters.memory.chat import MemoryChat, MemoryMessenger

__all__ = ["MemoryChat", "MemoryMessenger"]
