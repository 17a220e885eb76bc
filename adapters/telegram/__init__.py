"""The Telegram adapter (python-telegram-bot 22): translation only, no study logic."""
