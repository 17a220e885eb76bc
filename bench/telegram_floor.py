"""The floor for the Telegram benchmark: a bare PTB bot, no database, same Bot API calls.

Same transport settings as the adapter (per-user ordering, connection pool size).
``/ballot`` answers with a keyboard; a press answers the callback query, edits the
pressed message and sends the next keyboard: what delphi does per press, minus delphi.
Run as ``python -m bench.telegram_floor BASE_URL TOKEN``; stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from adapters.telegram.adapter import CONNECTION_POOL, PerUserOrder

KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton(str(v), callback_data=f"1|r|1|S|{v}")
                                  for v in range(1, 6)]])
CARD = "Round 1 · Statement"


async def on_ballot(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, f"{CARD} next",
                                   reply_markup=KEYBOARD)


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.message is not None
    await query.answer(f"Recorded: {query.data}")
    await context.bot.edit_message_text(f"✓ {query.data}", chat_id=query.message.chat.id,
                                        message_id=query.message.message_id,
                                        reply_markup=KEYBOARD)
    await context.bot.send_message(query.message.chat.id, f"{CARD} next",
                                   reply_markup=KEYBOARD)


async def serve(base_url: str, token: str) -> None:
    app = (ApplicationBuilder().token(token).base_url(base_url)
           .concurrent_updates(PerUserOrder()).connection_pool_size(CONNECTION_POOL).build())
    app.add_handler(CommandHandler("ballot", on_ballot))
    app.add_handler(CallbackQueryHandler(on_press))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=10)
    await app.start()
    print("floor: running", flush=True)
    await stop.wait()
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
