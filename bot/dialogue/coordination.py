"""Coordinator commands: running the study from a private chat with the bot.

Only the user ids in the config's ``[coordinators]`` may use them; anyone else is told
so, nothing changes, and the attempt is audited. Every accepted action is audited too.
:mod:`bot.dialogue.commands` says which method answers which command.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.chat import actions
from bot.chat.cards import Button, Card, Document, Reply, Section, card
from bot.chat.events import Command, Event, Pressed
from bot.chat.text import Step, say
from bot.delivery.outbox import enqueue
from bot.dialogue import arguments, closing, texts
from bot.dialogue.context import StudyContext
from engine import conclusion, enrolment, panel, revisions, rounds, schedule
from engine.audit import record_audit
from engine.ballots import BallotItem, ballot_items
from engine.careless import careless_flags
from engine.ending import StopReason, end_by_coordinator
from engine.errors import DelphiError, InvalidValue, RoundNotOpen
from engine.exports import export_files
from engine.feedback import statement_feedback
from engine.locks import hold_study
from engine.numbers import fmt, iqr_range
from engine.panel import enrolment_counts
from engine.studyfile import StudyFile
from engine.visible import is_blank

# Draws an expert's card for a statement (the conductor's): open_now queues each first card.
CardFor = Callable[[AsyncSession, int, BallotItem], Awaitable[Card]]


class NotCoordinator(DelphiError):
    code = "not_coordinator"


def actor(event: Event) -> str:
    """Who did it, as the audit log records it."""
    return f"{event.who.platform}:{event.who.user_id}"


class Coordination:
    """The coordinators' commands and confirmations, on the study's frozen context."""

    def __init__(self, context: StudyContext, card_for: CardFor,
                 closer: closing.RoundCloser) -> None:
        self.context = context
        self.card_for = card_for
        self.closer = closer

    @property
    def spec(self) -> StudyFile:
        return self.context.spec

    @property
    def study_id(self) -> str:
        return self.context.study_id

    def require(self, event: Event, what: str | Step) -> None:
        if event.who not in self.context.coordinators:
            raise NotCoordinator(what, " is only for the study coordinators; nothing was "
                                 "changed. To become one, send ", Step("whoami"), " and ask "
                                 "whoever runs the bot to add that id under [coordinators] in "
                                 "its config.")

    async def audit_refusal(self, session: AsyncSession, event: Event, now: datetime) -> None:
        what = event.name if isinstance(event, Command) else "round control (button)"
        await record_audit(session, self.study_id, actor(event), what, False, now)

    # --- round control ----------------------------------------------------------------

    def parse_deadline(self, text: str, now: datetime,
                       base: datetime | None = None) -> datetime | None:
        """``14d``, ``+36h`` (from ``base``, default now), ``2026-12-01`` (end of that day)
        or ``2026-12-01 18:00``, in the study's time zone; bounded
        (:mod:`bot.dialogue.arguments`)."""
        return arguments.deadline(text, now, self.spec.study.timezone, base)

    async def _openround(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        deadline = self.parse_deadline(args, now)
        if not await panel.active_experts(session, self.study_id):
            draft = await rounds.round_by_status(session, self.study_id, "draft")
            if draft is not None and await rounds.open_round_or_none(
                    session, self.study_id) is None:
                return Reply(send=[await self._confirm_open_card(session, draft.number,
                                                                 deadline)])
        return await self.open_now(session, now, deadline)

    async def _confirm_open_card(self, session: AsyncSession, number: int,
                                 deadline: datetime | None) -> Card:
        counts = await enrolment_counts(session, self.study_id)
        minutes = int(deadline.timestamp() // 60) if deadline is not None else 0
        first = (" and freezes the consensus definition" if number == 1 else "")
        return card(say(
            f"No expert is on the panel yet ({texts.enrolment_line(counts)}). Opening round "
            f"{number} now starts its deadline for nobody{first}. Open it anyway, or wait "
            "until experts have joined (", Step("status"), " shows who has)."),
            buttons=((Button(f"Open round {number} anyway",
                             actions.encode(actions.OpenRound(number, minutes))),),))

    async def confirm_open(self, session: AsyncSession, event: Pressed,
                           action: actions.OpenRound, now: datetime) -> Reply:
        """The "open anyway" button: opens exactly the round and deadline it was made for."""
        self.require(event, "Opening a round")
        await hold_study(session, self.study_id)
        deadline = (datetime.fromtimestamp(action.deadline_minutes * 60, UTC)
                    if action.deadline_minutes else None)
        reply = await self.open_now(session, now, deadline, number=action.round)
        await record_audit(session, self.study_id, actor(event), "openround", True, now,
                           round=action.round)
        return Reply(toast=f"Round {action.round} is open.", edit=reply.send[0])

    async def open_now(self, session: AsyncSession, now: datetime, deadline: datetime | None,
                       number: int | None = None) -> Reply:
        """Open the draft round and queue every active expert's first card, with what
        comes back from the last round and why (true now: revisions are done)."""
        opened = await rounds.open_round(session, self.study_id, now, deadline, number=number)
        experts = await panel.active_experts(session, self.study_id)
        items = await ballot_items(session, opened)
        returning = await self._returning(session, opened.number, items)
        for expert in experts:
            first = await self.card_for(session, expert.id, items[0])
            intro = texts.round_opened(opened.number, len(items), returning,
                                       texts.format_time(opened.deadline,
                                                         self.context.zone(expert.timezone)))
            await enqueue(session, self.study_id, "round_open", [intro, first],
                          f"round-open:{self.study_id}:{opened.number}:{expert.id}", now,
                          participant_id=expert.id)
        when = texts.format_time(opened.deadline, self.spec.study.timezone)
        return Reply(send=[card(f"Round {opened.number} is open until {when} with "
                                f"{len(items)} statements; the first card is queued for "
                                f"{len(experts)} expert{'s' if len(experts) != 1 else ''}.")])

    async def _returning(self, session: AsyncSession, number: int,
                         items: Sequence[BallotItem]) -> texts.Returning:
        """Why each statement of round ``number`` is on the ballot again."""
        if number == 1:
            return texts.Returning()
        verdicts = await rounds.verdicts(session, self.study_id, number - 1)
        revised = new = stability = open_ = 0
        for item in items:
            if item.version_id in verdicts:
                if verdicts[item.version_id] == "none":
                    open_ += 1
                else:
                    stability += 1
            elif item.version > 1:
                revised += 1
            else:
                new += 1
        return texts.Returning(revised=revised, new=new, stability=stability, open=open_)

    async def _closeround(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        current = await rounds.open_round_or_none(session, self.study_id)
        if current is None:
            raise RoundNotOpen("No round is open, so there is nothing to close.")
        counts = await schedule.round_counts(session, current)
        return Reply(send=[card(
            f"Close round {current.number} now? {counts.submitted} of {counts.panel} experts "
            f"have submitted ({counts.started} started). Closing computes the results, stores "
            "them and sends every expert the summary.",
            buttons=((Button("Close the round",
                             actions.encode(actions.CloseRound(current.number, True))),
                      Button("Cancel",
                             actions.encode(actions.CloseRound(current.number, False)))),))])

    async def confirm_close(self, session: AsyncSession, event: Pressed,
                            action: actions.CloseRound, now: datetime) -> Reply:
        self.require(event, "Closing a round")
        if not action.confirmed:
            return Reply(toast="Not closed.", edit=card("Round closing cancelled."))
        await hold_study(session, self.study_id)
        current = await rounds.open_round_or_none(session, self.study_id)
        if current is None or current.number != action.round:
            closed = await rounds.status_of(session, self.study_id, action.round) == "closed"
            raise RoundNotOpen(f"Round {action.round} was already closed; nothing was changed."
                               if closed else f"Round {action.round} is not open; "
                               "nothing was changed.")
        outcome = await self.closer.close(
            session, now, actor(event), session.info.pop(closing.READ_BEFORE, None))
        return Reply(toast=f"Round {outcome.round} closed.",
                     edit=card(f"Round {outcome.round} closed."),
                     send=[self.results_card(outcome.round, outcome.outcomes, final=True,
                                             next_round=outcome.next_round,
                                             stopped=outcome.stopped_because)])

    def results_card(self, round_number: int, outcomes: list[conclusion.StatementOutcome],
                     final: bool, next_round: int | None = None,
                     stopped: StopReason | None = None) -> Card:
        ended = final and next_round is None

        def line(o: conclusion.StatementOutcome) -> str:
            s = o.statistics
            return (f"{o.code}: {o.verdict.label_while(ended)} · n={s.n} · "
                    + ("no one could rate this" if s.n == 0 else
                       f"median {fmt(s.median)} · {iqr_range(s.q1, s.q3)} · "
                       f"{texts.share_line(s.n, s.consensus, s.pct_agree, s.pct_disagree)}"))

        lines = [line(o) for o in outcomes]
        reached = sum(1 for o in outcomes if o.verdict.reached)
        head = (f"Round {round_number} results" if final
                else f"Round {round_number} so far (live, not final)")
        tail = say(f"{reached} of {len(outcomes)} statements reached consensus.")
        if final:
            tail = say(tail, " ", say(f"Round {next_round} is prepared as a draft: revise, drop "
                                      "or add statements, then ", Step("openround"), ".")
                       if next_round else "No further round: the study is complete"
                       + (f" ({stopped.label})" if stopped else "") + ". Run the report.")
        return Card(heading=head, sections=(Section("\n".join(lines), "mono"),
                                            Section(tail, "bold")))

    async def _endstudy(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        """End the study between rounds (recorded as "the coordinator ended it")."""
        if args.lower() != "confirm":
            return Reply(send=[card(say(
                "Ending the study removes the prepared next round; no further round can be "
                "opened, the report states that the coordinator ended the study, and every "
                "expert is told. Send ", Step("endstudy"), " confirm to end it."))])
        last = await end_by_coordinator(session, self.study_id, now)
        recipients = [p.id for p in await panel.active_experts(session, self.study_id)]
        notice = texts.study_ended_by_coordinator(last)
        for participant_id in recipients:
            await enqueue(session, self.study_id, "study_ended", [notice],
                          f"ended:{self.study_id}:{participant_id}", now,
                          participant_id=participant_id)
        return Reply(send=[card(f"The study has ended after round {last} "
                                f"({StopReason.COORDINATOR.label}); {len(recipients)} experts "
                                "are told. Run the report.")])

    async def _results(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        current = await rounds.open_round_or_none(session, self.study_id)
        if current is None:
            raise RoundNotOpen("No round is open; the results of closed rounds are in the "
                               "summary and in ", Step("export"), ".")
        outcomes = await conclusion.live_results(session, self.study_id, current)
        return Reply(send=[self.results_card(current.number, outcomes, final=False)])

    async def dashboard(self, session: AsyncSession) -> Card:
        """The coordinator's live view of the open round: response counts, consensus so far."""
        current = await rounds.open_round_or_none(session, self.study_id)
        if current is None:
            return card(say(f"{self.spec.study.title}: no round is open. ", Step("openround"),
                            " starts the next one."))
        counts = await schedule.round_counts(session, current)
        live = self.results_card(current.number,
                                 await conclusion.live_results(session, self.study_id, current),
                                 final=False)
        deadline = texts.format_time(current.deadline, self.spec.study.timezone)
        return Card(heading=f"{self.spec.study.title} · round {current.number}",
                    sections=(Section(f"Deadline {deadline}. Submitted {counts.submitted} of "
                                      f"{counts.panel}; started {counts.started}."),
                              *live.sections))

    async def _status(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        current = await rounds.open_round_or_none(session, self.study_id)
        latest = await rounds.latest_round(session, self.study_id)
        if current is None:
            state = (f"No round is open. Latest: round {latest.number} ({latest.status})."
                     if latest else "No round yet.")
            counts = await enrolment_counts(session, self.study_id)
            return Reply(send=[card(f"{state} Panel: {texts.enrolment_line(counts)}.",
                                    texts.next_step(counts, latest))])
        items = len(await ballot_items(session, current))
        groups: dict[str, list[str]] = {"submitted": [], "in progress": [], "not started": [],
                                        "not active": []}
        for expert in await panel.ballot_states(session, self.study_id, current.id):
            if expert.status != "active":
                groups["not active"].append(f"{expert.pseudonym} ({expert.status})")
            elif expert.submitted_at is not None:
                groups["submitted"].append(expert.pseudonym)
            elif expert.answered:
                groups["in progress"].append(f"{expert.pseudonym} {expert.answered}/{items}")
            else:
                groups["not started"].append(expert.pseudonym)
        lines = [f"{name.capitalize()} ({len(members)}): {', '.join(members) or '–'}"
                 for name, members in groups.items()]
        deadline = texts.format_time(current.deadline, self.spec.study.timezone)
        flags = await careless_flags(session, self.study_id, current.number)
        sections = [Section("\n".join(lines))]
        if flags:
            sections.append(Section(
                "To look at (careless-responding flags; nothing is excluded):\n"
                + "\n".join(f"{f.participant}: "
                            + ("same point everywhere, " if f.kind == "straight_lining"
                               else "very fast, ") + f.detail for f in flags)))
        return Reply(send=[Card(heading=f"Round {current.number} · deadline {deadline}",
                                sections=tuple(sections))])

    async def _preview(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        """``/preview [n]``: the next round as the experts will see it when it opens: its
        first message, the list of statements, and card ``n`` (default 1) with the group
        feedback of the last round. Nothing is sent to anyone else."""
        draft = await rounds.round_by_status(session, self.study_id, "draft")
        if draft is None:
            raise RoundNotOpen("There is no round in preparation to preview (a round is open, "
                               "or the study has no further round).")
        items = await ballot_items(session, draft)
        if not items:
            return Reply(send=[card(say(f"Round {draft.number} has no statements yet; ",
                                        Step("add"), " or ", Step("revise"), " adds them."))])
        position = arguments.number(args, 1, len(items), say(
            "Use: ", Step("preview"), f" [1 to {len(items)}]")) if args else 1
        returning = await self._returning(session, draft.number, items)
        days = self.spec.schedule.round_days
        intro = texts.round_opened(draft.number, len(items), returning,
                                   say(f"<the deadline: {days} days after ", Step("openround"),
                                       " by default>"))
        listing = card(Section("\n".join(f"{i.position}. {i.code} ({i.domain}): "
                                         f"{texts.shorten(i.text, 90)}" for i in items)),
                       heading=f"Round {draft.number} draft: {len(items)} statements")
        groups = self.spec.study.groups if self.spec.feedback.by_group else None
        item = items[position - 1]
        feedback = await statement_feedback(session, 0, self.study_id, item, groups)
        sample = texts.statement_card(self.spec, item, feedback,
                                      replies=self.spec.feedback.replies)
        note = card(say(f"Above: what experts will get when round {draft.number} opens, card "
                        f"{position} as an example (", Step("preview"), " <n> shows another). "
                        "Nothing was sent."),
                    heading="Preview")
        return Reply(send=[listing, intro, sample, note])

    # --- statements ---------------------------------------------------------------------

    async def _revise(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        code, _, rest = args.partition(" ")
        text, bar, reason = rest.rpartition("|") if "|" in rest else (rest, "", "")
        if not code or not text.strip() or (bar and not reason.strip()):
            raise InvalidValue("Use: ", Step("revise"), " <statement id> <new text> [| reason]")
        note = " ".join(reason.split()) or "revised by the steering committee"
        seen = await revisions.newest_wording(session, self.study_id, code)
        await hold_study(session, self.study_id)
        version = await revisions.revise_statement(session, self.study_id, code, text, now,
                                                   note=note[:500], seen=seen)
        return Reply(send=[card(f"{code} revised (version {version.version}) for round "
                                      f"{version.created_for_round}: {version.text}")])

    async def _drop(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        code, _, reason = args.partition(" ")
        if not code:
            raise InvalidValue("Use: ", Step("drop"), " <statement id> [reason]")
        statement = await revisions.drop_statement(session, self.study_id, code, now,
                                                   None if is_blank(reason) else reason.strip())
        return Reply(send=[card(f"{code} dropped from round "
                                      f"{statement.dropped_in_round} on.")])

    async def _add(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        """``/add <domain> | <text>``; a domain the study does not have yet is created only
        when asked for with a ``+`` (``/add +Cost | ...``), so a typo never makes one."""
        domain, bar, text = args.partition("|")
        domain = domain.strip()
        if not bar or not domain.removeprefix("+").strip() or not text.strip():
            raise InvalidValue("Use: ", Step("add"), " <domain> | <statement text>")
        new_domain = domain.startswith("+")
        domain = domain[1:].strip() if new_domain else domain
        known = await revisions.domains(session, self.study_id)
        match = next((d for d in known if d.casefold() == domain.casefold()), None)
        if match is None and not new_domain and not is_blank(domain):
            return Reply(send=[card(say(
                f"There is no domain {domain!r} yet (domains: {', '.join(known)}). Nothing was "
                "added. To create it, send the command again with a + before the domain: ",
                Step("add"),
                f" +{domain} | {text.strip()[:80]}{'…' if len(text.strip()) > 80 else ''}"))])
        version = await revisions.add_statement(session, self.study_id, match or domain, text,
                                                now)
        code = await revisions.statement_code(session, version)
        return Reply(send=[card(say(
            f"Added {code} ({match or domain}) for round {version.created_for_round}: "
            f"{version.text} ", Step("revise"), f" {code} or ", Step("drop"),
            f" {code} change it before the round opens; ", Step("preview"),
            " shows the round."))])

    # --- people and data ----------------------------------------------------------------

    async def _invite(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        count = arguments.number(args, 1, 200,
                                 say("Use: ", Step("invite"), " <number from 1 to 200>"))
        tokens = await enrolment.create_invites(session, self.study_id, count, now)
        lines = [self.context.invite_link(token) for token in tokens]
        return Reply(send=[card(
            f"{count} single-use invites (each works once; send one to each expert):",
            Section("\n".join(lines), "mono"))])

    async def _export(self, session: AsyncSession, args: str, now: datetime) -> Reply:
        tables = await export_files(session, self.study_id)
        documents = [Document(name, content, caption=name)
                     for name, content in tables.items()]
        return Reply(send=[card(f"Export of study {self.study_id}: "
                                      f"{', '.join(tables)} (pseudonyms only).")],
                     documents=documents)

