"""Delivery: getting queued messages out to the messengers.

The outbox (written in the same transaction as the change that caused it), the dispatcher that
sends it under each platform's pacing, and the liveness lock that tells a worker it may still
send. It may import ``bot.chat`` and ``engine``; the dialogue queues through it.
"""
