"""The conductor: the platform-neutral dialogue.

An adapter hands it a neutral event; the conductor decides what it means, calls the
engine in ONE transaction (with the update id recorded in the same transaction, so a
replay changes nothing), and returns a :class:`Reply` for the adapter to render after
the commit. Refusals roll back to a savepoint (nothing written) and become one sentence.
Every adapter shares this code; none of it knows about Telegram or Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import actions
from bot.chat.cards import Card, Prompt, Reply, card
from bot.chat.events import Attached, Command, Event, Joined, Pressed, Texted
from bot.chat.text import Step, Words, say
from bot.delivery import outbox
from bot.dialogue import closing, commands, relay, texts
from bot.dialogue.closing import RoundCloser
from bot.dialogue.context import StudyContext
from bot.dialogue.coordination import Coordination, NotCoordinator
from engine import ballots, conversation, enrolment, quick, replies, standing
from engine.db import refused_for_a_closed_round
from engine.enrolment import PlatformUser
from engine.errors import ConcurrentChange, DelphiError, NotEnrolled, RoundClosed, RoundNotOpen
from engine.feedback import Feedback, outlying, statement_feedback
from engine.models import Participant
from engine.round_reading import RoundReading
from engine.standing import Standing, button_round, ensure_active
from engine.visible import is_blank

log = logging.getLogger(__name__)

NOT_ON_PANEL = ("You are not on this study's panel. To take part you need a personal invite "
                "link from the study coordinator.")
COULD_NOT_SAVE = "Could not save, please tap again."
COULD_NOT_SAVE_MESSAGE = ("Could not save that just now (a problem on our side); please send "
                          "it again.")
CLOSED_WHILE_SAVING = "The round closed just as this arrived, so it was not recorded."
SAME_MOMENT = ("Another change arrived at the same moment, so this one was not saved; please "
               "check and try again.")


class Conductor:
    def __init__(self, context: StudyContext) -> None:
        self.context = context
        self.closer = RoundCloser(context.store, context.study_id, context.spec.feedback.chart)
        self.coordination = Coordination(context, self.card_for, self.closer)
        # A statement card without feedback or an answer (round 1's) is the same for
        # every expert: made once, not on every press that shows it.
        self._plain_cards: dict[ballots.BallotItem, Card] = {}
        # Likewise a rated card: the statement, the choice and the way back.
        self._rated_cards: dict[tuple[ballots.BallotItem, int | None, str | None], Card] = {}

    @property
    def title(self) -> str:
        """The study's title, for an adapter's home view."""
        return self.context.spec.study.title

    # --- the one way in ---------------------------------------------------------------

    async def handle(self, event: Event) -> Reply:
        """Decide, write, commit; return what the adapter should show.

        A refusal rolls the whole transaction back (nothing written), then records the
        update id (and, for a coordinator command from someone else, the audit entry) in
        a second, small transaction. Refusals are rare, so the common path pays for no
        savepoint.
        """
        reading = await self._read_before(event)
        now = self.context.clock.now()
        try:
            quick_reply = await self._quick(event, now)
            if quick_reply is not None:
                return quick_reply
            async with self.context.store.transaction() as session:
                arrival = await standing.arrive(
                    session, self.context.study_id, event.who.platform, event.who.user_id,
                    _key(event), now)
                if not arrival.first_time:
                    return self.replayed(event)
                if reading is not None:
                    session.info[closing.READ_BEFORE] = reading
                reply = await self._dispatch(session, event, arrival.expert, now)
                queued = session.info.pop(outbox.DIRTY, False)
        except (actions.BadAction, DelphiError) as refusal:
            return await self._refused(event, refusal, now)
        except IntegrityError as error:
            # A race the engine's locks and checks did not foresee: another request's row
            # won a unique constraint. Nothing of this one was written; say so.
            log.info("lost a race to a concurrent change (%s)", _cause(error))
            return await self._refused(event, ConcurrentChange(SAME_MOMENT), now)
        except (DBAPIError, SQLAlchemyTimeout, OSError) as error:
            if isinstance(error, DBAPIError) and refused_for_a_closed_round(error):
                return await self._refused(event, RoundClosed(CLOSED_WHILE_SAVING), now)
            # The database could not store it (disk full, read-only, connection lost):
            # nothing was committed, so never "recorded"; the person is asked to retry.
            log.warning("could not save a %s: %s", type(event).__name__, _cause(error))
            return self._refuse(event, COULD_NOT_SAVE if isinstance(event, Pressed)
                                else COULD_NOT_SAVE_MESSAGE)
        if queued:
            self.context.outbox_committed()  # the queued messages may go out now
        if reply.render is not None:  # slow output, made after the commit
            made = await reply.render()
            reply = replace(reply, documents=[*reply.documents, *made], render=None)
        return reply

    async def _quick(self, event: Event, now: datetime) -> Reply | None:
        """An expert's commonest events served in one trip, without the ORM (engine.quick
        says when): a rating, and the commands whose row in the table says how
        (``/ballot``); None when the full path must take the event. Nothing differs for
        the expert: the same checks, rows and reply."""
        store = self.context.store
        sender = quick.Sender(self.context.study_id, event.who.platform, event.who.user_id,
                              _key(event))
        if isinstance(event, Command):
            return await commands.run_at_once(self, event, sender, now)
        press = _quick_press(event)
        if press is None:
            return None
        spec = self.context.spec
        served = await store.one_trip(
            lambda trip: quick.rate(trip, store.memo, spec, sender, press, now))
        if served is None:
            return None
        if served.receipt is None:
            return self.replayed(event)
        receipt = served.receipt
        upcoming = receipt.progress.first_unanswered
        return self._rated(receipt, press.value,
                           self.statement_card(upcoming) if upcoming is not None
                           else self.review(receipt.progress))

    @staticmethod
    def replayed(event: Event) -> Reply:
        """The answer to an update seen before: nothing is done again."""
        log.info("replayed update %s ignored", event.update_key)
        return Reply(toast="Already recorded.")

    def _rated(self, receipt: ballots.RatingReceipt, value: int | None,
               follow: Card) -> Reply:
        """The answer to a recorded rating: the card marked, and what comes next."""
        key = (receipt.item, value, self._ask_confidence(receipt))
        if (rated := self._rated_cards.get(key)) is None:
            rated = self._rated_cards[key] = texts.rated_card(self.context.spec, *key)
        return Reply(toast=f"Recorded: {texts.scale_label(self.context.spec, value)}",
                     edit=rated, send=[follow])

    async def _read_before(self, event: Event) -> RoundReading | None:
        """What a coordinator's confirmed close will need, read before the transaction so
        that experts' presses do not wait for it (bot.dialogue.closing)."""
        if not isinstance(event, Pressed) or event.who not in self.context.coordinators:
            return None
        try:
            action = actions.decode(event.data)
        except actions.BadAction:
            return None
        if isinstance(action, actions.CloseRound) and action.confirmed:
            return await self.closer.read()
        return None

    async def _refused(self, event: Event, refusal: actions.BadAction | DelphiError,
                       now: datetime) -> Reply:
        try:
            async with self.context.store.transaction() as session:
                if event.update_key is not None:
                    await standing.record_update(session, event.who.platform,
                                                 str(event.update_key), now)
                if isinstance(refusal, NotCoordinator):
                    await self.coordination.audit_refusal(session, event, now)
        except (DBAPIError, SQLAlchemyTimeout, OSError) as error:
            # The refusal stands (nothing was written); only its bookkeeping is missing.
            log.warning("could not record a refused %s: %s", type(event).__name__,
                        _cause(error))
        if isinstance(refusal, actions.BadAction):
            log.info("bad button data from %s: %s", event.who.platform, refusal)
            return self._refuse(event, say("This button is not valid (it may be from an old "
                                           "message). Send ", Step("ballot"), " to continue."))
        return self._refuse(event, say(*refusal.parts))

    @staticmethod
    def _refuse(event: Event, sentence: Words) -> Reply:
        """A press is answered with an alert on the button; anything else in the chat."""
        if isinstance(event, Pressed):
            return Reply(toast=sentence, alert=True)
        return Reply(send=[card(sentence)])

    async def _dispatch(self, session: AsyncSession, event: Event, expert: Standing | None,
                        now: datetime) -> Reply:
        """``expert``: the sender's standing, read as the event arrived (None: not on
        the panel)."""
        if isinstance(event, Joined):
            return await self._join(session, event, now)
        if isinstance(event, Command):
            return await commands.run(self, self.coordination, session, event, expert, now)
        if isinstance(event, Pressed):
            return await self._press(session, event, expert, now)
        if isinstance(event, Texted):
            return await self._text(session, event, now)
        if isinstance(event, Attached):
            return await self._attached(session, event)
        raise TypeError(f"unknown event {event!r}")  # pragma: no cover

    async def home(self, who: PlatformUser) -> Card:
        """A person's overview (Slack's App Home): the live dashboard for a coordinator,
        their own progress for an expert, how to join for anyone else. Reads only."""
        async with self.context.store.transaction() as session:
            if who in self.context.coordinators:
                return await self.coordination.dashboard(session)
            expert = await standing.standing_of(session, self.context.study_id, who.platform,
                                                who.user_id)
            if expert is None:
                return texts.need_invite()
            if expert.status != "active":
                return card(f"Your participation status: {expert.status}.")
            try:
                state = await ballots.progress(session, expert)
            except DelphiError as refusal:
                return card(say(*refusal.parts))
            return texts.progress_text(state, self.zone(expert.timezone))

    # --- helpers ----------------------------------------------------------------------

    async def participant(self, session: AsyncSession, event: Event) -> Participant:
        found = await enrolment.find_participant(
            session, self.context.study_id, event.who.platform, event.who.user_id)
        if found is None:
            raise NotEnrolled(NOT_ON_PANEL)
        return found

    @staticmethod
    def expert(found: Standing | None) -> Standing:
        """The sender's standing, or the refusal for someone not on the panel."""
        if found is None:
            raise NotEnrolled(NOT_ON_PANEL)
        return found

    def zone(self, own: str | None = None) -> str:
        """The time zone to show a person times in: their own, or the study's."""
        return self.context.zone(own)

    async def card_for(self, session: AsyncSession, participant_id: int,
                       item: ballots.BallotItem,
                       given: Mapping[int, int | None] | None = None) -> Card:
        """A statement card with its feedback, and the expert's answer if ``given`` (their
        answers by statement version) holds one."""
        spec = self.context.spec
        groups = spec.study.groups if spec.feedback.by_group else None
        feedback = await statement_feedback(session, participant_id, self.context.study_id,
                                            item, groups)
        return self.statement_card(item, feedback, given)

    def statement_card(self, item: ballots.BallotItem, feedback: Feedback | None = None,
                       given: Mapping[int, int | None] | None = None) -> Card:
        """A statement card from what :meth:`card_for` read (round 1 has no feedback)."""
        given = given or {}
        plain = feedback is None and item.version_id not in given
        if plain and (made := self._plain_cards.get(item)) is not None:
            return made
        made = texts.statement_card(self.context.spec, item, feedback,
                                    given.get(item.version_id), item.version_id in given,
                                    replies=self.context.spec.feedback.replies)
        if plain:
            self._plain_cards[item] = made
        return made

    async def continue_ballot(self, session: AsyncSession, expert: Standing) -> Card:
        """The card an expert should see next: first unanswered, review, or a round note."""
        try:
            state = await ballots.progress(session, expert)
        except RoundNotOpen:
            return card("No round is open at the moment. You will get a message here "
                        "when the next one opens.")
        if state.submitted_at is None and state.first_unanswered is not None:
            return await self.card_for(session, expert.id, state.first_unanswered)
        return self.ballot_card(state, expert.timezone)

    def ballot_card(self, state: ballots.Progress, timezone: str | None) -> Card:
        """The card an expert sees next, from their progress alone: the submitted note,
        the first unanswered statement (without feedback, as in round 1), or the
        review."""
        if state.submitted_at is not None:
            return texts.submitted(state, self.zone(timezone))
        if state.first_unanswered is not None:
            return self.statement_card(state.first_unanswered)
        return self.review(state)

    def review(self, state: ballots.Progress) -> Card:
        """Every answer of the open round and the way to submit."""
        return texts.review(self.context.spec, state.round, state.entries,
                            state.submitted_at is not None)

    async def after_enrolment_step(self, session: AsyncSession,
                                   participant: Participant) -> list[Card]:
        """What follows consent or a screening answer."""
        if participant.status == "declined":
            return [texts.declined()]
        if participant.status == "ineligible":
            return [texts.ineligible()]
        if participant.status == "screening":
            question = await enrolment.next_screening_question(session, participant)
            if question is not None:
                questions = self.context.spec.screening
                index = next(i for i, q in enumerate(questions, 1) if q.id == question.id)
                return [texts.screening_question(question, index, len(questions))]
        expert = await standing.standing(session, participant.id)
        cards = [texts.welcome_active(expert.round is not None)]
        if expert.round is not None:
            cards.append(await self.continue_ballot(session, expert))
        return cards

    # --- expert events ----------------------------------------------------------------

    async def _join(self, session: AsyncSession, event: Joined, now: datetime) -> Reply:
        existing = await enrolment.find_participant(
            session, self.context.study_id, event.who.platform, event.who.user_id)
        if existing is not None:
            return Reply(send=await self.resume_enrolment(session, existing))
        await enrolment.redeem_invite(session, self.context.study_id, event.token, event.who,
                                      now)
        return Reply(send=[texts.consent(self.context.spec)])

    async def resume_enrolment(self, session: AsyncSession,
                               participant: Participant) -> list[Card]:
        """Where someone already enrolled picks up: consent, screening, or the ballot."""
        if participant.status == "enrolled":
            return [texts.consent(self.context.spec)]
        if participant.status == "withdrawn":
            return [texts.withdrawn()]
        return await self.after_enrolment_step(session, participant)

    async def _press(self, session: AsyncSession, event: Pressed, sender: Standing | None,
                     now: datetime) -> Reply:
        action = actions.decode(event.data)
        if isinstance(action, actions.CloseRound):
            return await self.coordination.confirm_close(session, event, action, now)
        if isinstance(action, actions.OpenRound):
            return await self.coordination.confirm_open(session, event, action, now)
        expert = self.expert(sender)
        if not isinstance(action, actions.Consent | actions.Screen | actions.Withdraw):
            return await self._ballot_press(session, expert, action, now)
        match action:
            case actions.Consent(accepted):
                participant = await enrolment.record_consent(session, expert.id, accepted,
                                                             now)
                if expert.status != "enrolled":
                    return Reply(toast="Already answered.")
                return Reply(toast="Thank you.", edit=None,
                             send=await self.after_enrolment_step(session, participant))
            case actions.Screen(question_id, option):
                question = next((q for q in self.context.spec.screening
                                 if q.id == question_id), None)
                if question is None or option >= len(question.options):
                    raise actions.BadAction("unknown screening answer")
                if expert.status != "screening" or await enrolment.screening_answered(
                        session, expert.id, question_id):
                    return Reply(toast="This question is already answered.")
                participant = await enrolment.record_screening_answer(
                    session, expert.id, question_id, question.options[option], now)
                return Reply(toast=f"Answer: {question.options[option]}",
                             send=await self.after_enrolment_step(session, participant))
            case actions.Withdraw(confirmed):
                if not confirmed:
                    return Reply(toast="You stay on the panel. Thank you!",
                                 edit=card("You stay on the panel."))
                await enrolment.withdraw(session, expert.id, now)
                await conversation.clear_pending(session, expert.id)
                return Reply(toast="You have withdrawn.", edit=texts.withdrawn())
        raise actions.BadAction(f"unexpected action {action!r}")  # pragma: no cover

    async def _ballot_press(self, session: AsyncSession, expert: Standing,
                            action: actions.Action, now: datetime) -> Reply:
        """A button of the ballot; ``expert`` was read as the press arrived, before any
        write. Each button is checked once: by the engine's write, or by button_round."""
        match action:
            case actions.Rate(round_number, code, value):
                receipt = await ballots.record_rating(session, expert, round_number,
                                                      code, value, now)
                mode = self.context.spec.feedback.ask_reason
                if mode != "off" and receipt.item.round > 1:
                    why = await outlying(session, expert.id, self.context.study_id,
                                         receipt.item, value, mode)
                    if why is not None and value is not None:
                        await conversation.expect_comment(
                            session, expert.id, receipt.item.round, code, now,
                            kind="reason")
                        return self._rated(receipt, value, texts.reason_prompt(
                            self.context.spec, receipt.item, value, why))
                    if receipt.replaced and expert.ballot_id is not None:
                        await ballots.drop_reason(session, expert.ballot_id,
                                                  receipt.item.version_id)
                nxt = receipt.progress.first_unanswered
                return self._rated(receipt, value,
                                   await self.card_for(session, expert.id, nxt)
                                   if nxt is not None else self.review(receipt.progress))
            case actions.Confide(round_number, code, level):
                if self.context.spec.scale.confidence == "off":
                    raise actions.BadAction("this study does not ask for confidence")
                entries = (await ballots.progress(session, expert)).entries
                item = next((i for i, _, _ in entries if i.code == code), None)
                codes = [code]
                if item is not None and self.context.spec.scale.confidence == "per_domain":
                    codes = [i.code for i, _, _ in entries if i.domain == item.domain]
                chosen = await ballots.record_confidence(session, expert, round_number,
                                                         codes, level, now)
                mine = next(i for i in chosen if i.code == code)
                return Reply(toast=f"Noted: confidence {texts.CONFIDENCE_WORDS[level]}",
                             edit=texts.rated_card(self.context.spec, mine,
                                                   expert.given.get(mine.version_id),
                                                   confidence=level))
            case actions.AskReason(round_number, code):
                if self.context.spec.feedback.ask_reason == "off":
                    raise actions.BadAction("this study does not ask for reasons")
                await button_round(session, expert, round_number)
                item = await ballots.item_of(session, expert, code)
                await conversation.expect_comment(session, expert.id, round_number, code,
                                                  now, kind="reason")
                return Reply(toast="Send your reason as a message.",
                             prompt=Prompt(f"Reason for {item.code}"[:24],
                                           f"In a line, why did you rate statement "
                                           f"{item.position} this way?",
                                           ballots.MAX_COMMENT_CHARS, "reason"))
            case actions.SkipReason(round_number):
                await button_round(session, expert, round_number)
                if expert.awaiting_text:
                    await conversation.clear_pending(session, expert.id)
                return Reply(toast="Skipped.", edit=None,
                             send=[await self.continue_ballot(session, expert)])
            case actions.ReplyTo(round_number, comment_id):
                if not self.context.spec.feedback.replies:
                    raise actions.BadAction("this study does not take replies")
                await button_round(session, expert, round_number)
                answered = await replies.answerable(session, expert, self.context.study_id,
                                                    round_number, comment_id)
                item = await ballots.item_of(session, expert, answered.code)
                await conversation.expect_comment(session, expert.id, round_number,
                                                  item.code, now, kind="reply",
                                                  reply_to=comment_id)
                return Reply(toast="Send your reply as a message.",
                             send=[texts.ask_reply(answered.text)],
                             prompt=Prompt("Anonymous reply",
                                           f"Your reply to: {answered.text}"[:2000],
                                           ballots.MAX_COMMENT_CHARS, "reply"))
            case actions.AskComment(round_number, code):
                await button_round(session, expert, round_number)
                item = await ballots.item_of(session, expert, code)
                await conversation.expect_comment(session, expert.id, round_number, code,
                                                  now)
                return Reply(toast="Send your comment as a message.",
                             send=[texts.ask_comment(item)],
                             prompt=Prompt(f"Comment on {item.code}"[:24],
                                           f"Your comment on statement {item.position}",
                                           ballots.MAX_COMMENT_CHARS))
            case actions.Goto(round_number, position):
                await button_round(session, expert, round_number)
                item = await ballots.item_at(session, expert, position)
                return Reply(send=[await self.card_for(session, expert.id, item,
                                                       expert.given)])
            case actions.Resume():
                ensure_active(expert)
                return Reply(send=[await self.continue_ballot(session, expert)])
            case actions.Review(round_number):
                await button_round(session, expert, round_number)
                return Reply(send=[self.review(await ballots.progress(session, expert))])
            case actions.Submit(round_number):
                state = await ballots.submit_ballot(session, expert, now, round_number)
                return Reply(toast="Ballot submitted. Thank you!",
                             edit=texts.submitted(state, self.zone(expert.timezone)))
            case actions.Reopen(round_number):
                state = await ballots.reopen_ballot(session, expert, now, round_number)
                return Reply(toast="You can change your answers now.",
                             send=[self.review(state)])
        raise actions.BadAction(f"unexpected action {action!r}")

    def _ask_confidence(self, receipt: ballots.RatingReceipt) -> str | None:
        """Whether the rated card asks how sure the expert is: after every rating with
        confidence per statement; per domain, once the rating completes the domain."""
        mode = self.context.spec.scale.confidence
        if mode == "per_statement":
            return "statement"
        if mode == "per_domain" and not receipt.replaced:
            domain = [answered for item, _, answered in receipt.progress.entries
                      if item.domain == receipt.item.domain]
            return "domain" if all(domain) else None
        return None

    async def _still_outlying(self, session: AsyncSession, participant_id: int,
                              code: str) -> bool:
        """Whether the rating a reason was asked for still calls for one (it may have been
        changed since the question), so every stored reason explains an outlying rating."""
        expert = await standing.standing(session, participant_id)
        entry = next(((item, value) for item, value, answered
                      in await ballots.answers(session, expert)
                      if item.code == code and answered), None)
        if entry is None:
            return False
        return await outlying(session, participant_id, self.context.study_id, entry[0],
                              entry[1], self.context.spec.feedback.ask_reason) is not None

    async def _text(self, session: AsyncSession, event: Texted, now: datetime) -> Reply:
        """Text answers a prompt (a comment, a reason, a reply); before the panel starts
        it gets the consent or screening question again; otherwise it is a message for
        the coordinators."""
        participant = await self.participant(session, event)
        if participant.status in ("enrolled", "screening"):
            return Reply(send=await self.resume_enrolment(session, participant))
        if participant.status == "withdrawn":
            return Reply(send=[texts.withdrawn()])
        pending = await conversation.pending_input(session, participant.id)
        if pending is None or pending.kind not in ("comment", "reason", "reply"):
            return await relay.to_coordinators(self.context, session, participant, event.text,
                                               event.update_key, now)
        if pending.kind == "reason" and not await self._still_outlying(
                session, participant.id, pending.statement_code):
            await conversation.clear_pending(session, participant.id)
            return Reply(send=[card("Your rating is now within the panel's range, so no "
                                    "reason is needed; nothing was saved."),
                               await self._continue_afresh(session, participant.id)])
        item = await ballots.record_comment(session, participant.id, pending.round_number,
                                            pending.statement_code, event.text, now,
                                            kind=pending.kind, reply_to=pending.reply_to)
        await conversation.clear_pending(session, participant.id)
        if pending.kind == "comment":
            return Reply(send=[texts.comment_saved(item)])
        return Reply(send=[card(texts.text_saved(pending.kind, item)),
                           await self._continue_afresh(session, participant.id)])

    async def _continue_afresh(self, session: AsyncSession, participant_id: int) -> Card:
        """The next card, from the expert's standing read after this event's writes."""
        return await self.continue_ballot(session,
                                          await standing.standing(session, participant_id))

    async def _attached(self, session: AsyncSession, event: Attached) -> Reply:
        """Only text and presses can be stored: say so, keeping any comment prompt open."""
        participant = await self.participant(session, event)
        pending = await conversation.pending_input(session, participant.id)
        return Reply(send=[texts.not_text(event.kind, pending.kind if pending else None,
                                          not is_blank(event.caption))])


def _cause(error: BaseException) -> str:
    """The driver's own error, one line: the wrapped statement and its parameters (which
    may hold names) stay out of the log."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"[:300]


def _quick_press(event: Event) -> quick.Press | None:
    """A rating button that engine.quick may serve; None for any other event."""
    if not isinstance(event, Pressed):
        return None
    try:
        action = actions.decode(event.data)
    except actions.BadAction:
        return None
    if not isinstance(action, actions.Rate) or not quick.may_serve(action.round):
        return None
    return quick.Press(action.round, action.code, action.value)


def _key(event: Event) -> str | None:
    return None if event.update_key is None else str(event.update_key)
