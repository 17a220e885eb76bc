"""The dialogue: what each event means, and what the bot says when the clock says so.

The conductor turns an expert's event into one engine transaction and a reply card; the
coordination and command modules do the same for a coordinator's commands; the scheduler
closes rounds at their deadline and sends nudges and digests; ``texts`` builds every card.
It may import ``bot.chat``, ``bot.delivery`` and ``engine``; never ``bot.app``, ``bot.tools``
or ``adapters``.
"""
