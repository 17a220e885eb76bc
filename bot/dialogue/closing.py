"""Closing a round: the one way a round closes, by a coordinator's button or at the
deadline.

In two steps, because reading a large round's ratings takes the best part of a second
while experts keep pressing: :meth:`RoundCloser.read` before the write transaction (apart
from it and off the event loop, see engine.round_reading), then :meth:`RoundCloser.close`
inside it: the reading brought up to date, the results stored, the next round prepared,
every expert's summary queued and the close audited, committed together or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat.cards import Card, Section
from bot.delivery.outbox import enqueue_to_panel
from bot.dialogue import texts
from engine import conclusion
from engine.audit import record_audit
from engine.db import Store
from engine.round_reading import RoundReading

log = logging.getLogger(__name__)

# Where a reading made before a transaction waits in that transaction's session for the
# close it was made for (the conductor reads before it knows which handler will run).
READ_BEFORE = "round_reading"


@dataclass(frozen=True)
class RoundCloser:
    store: Store
    study_id: str
    chart: bool  # [feedback] chart: each expert's summary carries the round's picture

    async def read(self) -> RoundReading | None:
        """The open round's ratings, read before the write transaction. Only a head
        start: if the database cannot be read apart, the close reads inside."""
        try:
            return await conclusion.read_round(self.store, self.study_id)
        except (SQLAlchemyError, OSError) as error:
            log.warning("could not read the round before closing it (%s); the close "
                        "reads it inside its transaction", type(error).__name__)
            return None

    async def close(self, session: AsyncSession, now: datetime, actor: str,
                    reading: RoundReading | None = None) -> conclusion.Conclusion:
        """Close the open round, store its results, queue every expert's summary, audit.
        ``reading`` (from :meth:`read`) spares this transaction reading every rating."""
        outcome = await conclusion.conclude_round(session, self.study_id, now, reading)
        await self._queue_summaries(session, outcome, now)
        await record_audit(session, self.study_id, actor, "closeround", True, now,
                           round=outcome.round)
        return outcome

    async def _queue_summaries(self, session: AsyncSession, outcome: conclusion.Conclusion,
                               now: datetime) -> None:
        summary = texts.round_summary(outcome, outcome.wording)
        # The picture is drawn by the dispatcher when it is sent, outside this transaction.
        extra = ([Card(sections=(Section(texts.chart_caption(outcome.round)),),
                       chart_round=outcome.round)] if self.chart else [])
        await enqueue_to_panel(session, self.study_id, "round_summary", [summary, *extra],
                               f"summary:{self.study_id}:{outcome.round}:", now)
