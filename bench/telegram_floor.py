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

# The same traffic as delphi's cards: a statement card in HTML with the same keyboard,
# edited into the "rated" card, so the floor differs from delphi only by delphi itself.
LABELS = ["1 · Strongly disagree", "2", "3", "4", "5 · Strongly agree"]
KEYBOARD = InlineKeyboardMarkup([
    [InlineKeyboardButton(label, callback_data=f"1|r|1|S01|{v}")
     for v, label in enumerate(LABELS, start=1)],
    [InlineKeyboardButton("Unable to rate", callback_data="1|r|1|S01|u"),
     InlineKeyboardButton("Comment", callback_data="1|m|1|S01"),
     InlineKeyboardButton("Back", callback_data="1|g|1|1")]])
CHANGE = InlineKeyboardMarkup([[InlineKeyboardButton("Change", callback_data="1|g|1|1")]])
CARD = "Round 1 · Statement"
STATEMENT = ("Sunscreen should be reapplied every 2 hours during continuous outdoor "
             "exposure.")
CARD_HTML = f"<b>{CARD} 2 of 5 · Sun protection</b>\n\n{STATEMENT}"


async def on_ballot(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    await context.bot.send_message(update.effective_chat.id, CARD_HTML, parse_mode="HTML",
                                   reply_markup=KEYBOARD)


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.message is not None
    await query.answer("Recorded: 4")
    await context.bot.edit_message_text(f"{CARD_HTML}\n\n<b>✓ 4</b>", parse_mode="HTML",
                                        chat_id=query.message.chat.id,
                                        message_id=query.message.message_id,
                                        reply_markup=CHANGE)
    await context.bot.send_message(query.message.chat.id, CARD_HTML, parse_mode="HTML",
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
