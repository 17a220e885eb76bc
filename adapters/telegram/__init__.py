"""The Telegram adapter (python-telegram-bot 22): translation only, no study logic."""

import os

# Opt in to PTB's future behaviour now: RetryAfter.retry_after as a timedelta, without a
# deprecation warning on every 429 (the adapter reads either form).
os.environ.setdefault("PTB_TIMEDELTA", "true")
