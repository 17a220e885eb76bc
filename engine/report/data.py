"""Everything the report needs, read from the database once (pseudonyms only).

Nothing here reads ``identities``: the report and the exports cannot leak a name because
no name is ever loaded. Per-round statistics come from the stored ``round_results``
(the numbers the experts were shown); the sensitivity table is recomputed from the
ratings with :mod:`engine.stats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.careless import careless_flags
from engine.conclusion import ratings_frame
from engine.ending import StopReason
from engine.loading import get_study, protocol_hash, study_file_of
from engine.models import (
    AuditEntry,
    Ballot,
    Comment,
    Invite,
    OutboxMessage,
    Participant,
    Rating,
    Round,
    RoundResult,
    Statement,
    StatementVersion,
)
from engine.report.outliers import Outlying, outlying_counts
from engine.report.panel import NO_GROUP, PanelData, load_panel
from engine.statement_statistics import StatementStatistics
from engine.stats.careless import CarelessFlag
from engine.studyfile import StudyFile
from engine.verdict import Verdict, VerdictRules, verdict

SECTIONS = ("recommendations", "uncertainty", "rejected", "dropped")
SECTION_OF = {Verdict.ENDORSED: "recommendations", Verdict.REJECTED: "rejected",
              Verdict.DROPPED: "dropped"}
# Coordinator actions that change the pre-registered protocol (none exist yet; any
# future command that does must use one of these names so the report shows it).
PROTOCOL_ACTIONS = ("protocol", "amend_protocol", "change_protocol")


@dataclass(frozen=True)
class Version:
    version: int
    text: str
    first_round: int
    change_note: str | None
    revised_from: int | None


@dataclass(frozen=True)
class StatementComment:
    round: int
    version: int
    text: str
    hidden: bool
    id: int = 0
    kind: str = "comment"  # comment, reason (for an outlying rating) or reply
    reply_to: int | None = None


@dataclass
class StatementData:
    code: str
    domain: str
    position: int
    added_in_round: int
    dropped_in_round: int | None
    drop_reason: str | None
    versions: list[Version] = field(default_factory=list)
    results: list[StatementStatistics] = field(default_factory=list)
    comments: list[StatementComment] = field(default_factory=list)
    rules: VerdictRules = field(default_factory=VerdictRules)
    outlying: list[Outlying] = field(default_factory=list)  # with [feedback] ask_reason

    @property
    def final(self) -> StatementStatistics | None:
        return self.results[-1] if self.results else None

    @property
    def verdict(self) -> Verdict:
        """The statement's verdict under the frozen protocol, from its latest result."""
        final, dropped = self.final, self.dropped_in_round is not None
        if final is None:
            return verdict(None, None, None, self.rules, dropped=dropped)
        return final.verdict(self.rules, dropped=dropped)

    @property
    def section(self) -> str:
        """Where the statement belongs in the report: exactly one of :data:`SECTIONS`."""
        return SECTION_OF.get(self.verdict, "uncertainty")

    def text_of(self, version: int) -> str:
        return next(v.text for v in self.versions if v.version == version)

    @property
    def final_text(self) -> str:
        final = self.final
        return self.text_of(final.version) if final else self.versions[-1].text


@dataclass(frozen=True)
class RoundFlow:
    number: int
    status: str
    opened_at: datetime | None
    closed_at: datetime | None
    deadline: datetime | None
    invited: int
    consented: int
    eligible: int
    started: int
    submitted: int
    withdrawn: int
    unreachable: int
    items: int
    answered: int = 0  # experts with at least one answer in the round
    counted: str = "answered"  # [consensus] ballots: whose ratings the statistics use

    @property
    def responded(self) -> int:
        """The experts whose ratings the statistics use ([consensus] ballots)."""
        return self.submitted if self.counted == "submitted" else self.answered

    @property
    def response_rate(self) -> float | None:
        return 100.0 * self.responded / self.eligible if self.eligible else None


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Conduct:
    """What the software knows about how the study ran (for ACCORD's methods items)."""

    reminders: dict[int, int]  # round -> reminders sent to experts in it
    extensions: dict[int, list[datetime]]  # round -> when its deadline was extended
    late_joiners: int  # experts who consented after round 1 opened
    example_card: str | None  # one round-2+ card with its feedback, as sent
    example_round: int | None
    version: str


@dataclass
class ReportData:
    study_id: str
    title: str
    description: str
    spec: StudyFile
    protocol: dict[str, Any]
    protocol_hash: str
    hash_verified: bool
    frozen_at: datetime | None
    loaded_at: datetime
    protocol_changes: list[AuditLine]
    actions: list[AuditLine]
    rounds: list[RoundFlow]
    statements: list[StatementData]
    ratings: pd.DataFrame
    generated_at: datetime
    panel: PanelData
    conduct: Conduct
    retention: list[tuple[int, str, int, int]]  # (round, group, eligible, submitted)
    draft_pending: bool = False
    stopped_because: StopReason | None = None
    ended_at: datetime | None = None
    careless: list[CarelessFlag] = field(default_factory=list)

    def in_section(self, section: str) -> list[StatementData]:
        return [s for s in self.statements if s.section == section]

    def with_verdict(self, kind: Verdict) -> list[StatementData]:
        return [s for s in self.statements if s.verdict == kind]

    @property
    def study_ended(self) -> bool:
        """The study has stopped (recorded; for studies closed before the reason was
        stored: no round open or prepared after the last closed one)."""
        if self.stopped_because is not None:
            return True
        return bool(self.rounds) and all(r.status == "closed" for r in self.rounds) \
            and not self.draft_pending


async def _statements(session: AsyncSession, study_id: str,
                      rules: VerdictRules, ask_reason: str = "off") -> list[StatementData]:
    statements = {s.id: StatementData(s.code, s.domain, s.position, s.added_in_round,
                                      s.dropped_in_round, s.drop_reason, rules=rules)
                  for s in await session.scalars(select(Statement).where(
                      Statement.study_id == study_id).order_by(Statement.position))}
    versions = (await session.scalars(select(StatementVersion).where(
        StatementVersion.statement_id.in_(statements)).order_by(
        StatementVersion.statement_id, StatementVersion.version))).all()
    number_of = {v.id: v.version for v in versions}
    for v in versions:
        statements[v.statement_id].versions.append(Version(
            v.version, v.text, v.created_for_round, v.change_note,
            number_of.get(v.revised_from_id) if v.revised_from_id else None))
    results = (await session.execute(
        select(Round.number, StatementVersion.statement_id, StatementVersion.version,
               RoundResult)
        .join(Round, Round.id == RoundResult.round_id)
        .join(StatementVersion, StatementVersion.id == RoundResult.statement_version_id)
        .where(Round.study_id == study_id).order_by(Round.number))).all()
    for number, statement_id, version, row in results:
        statement = statements[statement_id]
        statement.results.append(StatementStatistics.from_row(row, number, statement.code,
                                                              version))
    comments = (await session.execute(
        select(Round.number, StatementVersion.statement_id, StatementVersion.version,
               Comment.text, Comment.hidden, Comment.id, Comment.kind, Comment.reply_to)
        .join(Ballot, Ballot.id == Comment.ballot_id)
        .join(Round, Round.id == Ballot.round_id)
        .join(StatementVersion, StatementVersion.id == Comment.statement_version_id)
        .where(Round.study_id == study_id)
        .order_by(Round.number, Comment.text, Comment.id))).all()
    for number, statement_id, version, text, hidden, comment_id, kind, reply_to in comments:
        statements[statement_id].comments.append(
            StatementComment(number, version, text, bool(hidden), comment_id, kind, reply_to))
    for statement_id, counts in (await outlying_counts(session, study_id, ask_reason)).items():
        statements[statement_id].outlying = counts
    return list(statements.values())


async def _count(session: AsyncSession, query: Any) -> int:
    return int(await session.scalar(query) or 0)


async def round_flow(session: AsyncSession, study_id: str, round_: Round,
                     now: datetime, counted: str = "answered") -> RoundFlow:
    """Participant flow of one round, counted at the round's close (or now if open).

    invited / consented / withdrawn / unreachable are cumulative up to that moment;
    eligible = the panel asked to rate: passed screening, had not withdrawn when the round
    opened, or held a ballot in it; response rate = responded / eligible, where the
    experts who responded are those whose ratings the statistics use (``counted``:
    ``[consensus] ballots``, submitted ballots or anyone who answered a statement).
    """
    cutoff = round_.closed_at or now
    opened = round_.opened_at or cutoff
    people = select(func.count()).select_from(Participant).where(
        Participant.study_id == study_id)
    has_ballot = select(Ballot.participant_id).where(Ballot.round_id == round_.id)
    ballots = select(func.count()).select_from(Ballot).where(Ballot.round_id == round_.id)
    items = await _count(session, select(func.count()).select_from(RoundResult).where(
        RoundResult.round_id == round_.id))
    if not items:
        from engine.models import RoundItem

        items = await _count(session, select(func.count()).select_from(RoundItem).where(
            RoundItem.round_id == round_.id))
    return RoundFlow(
        number=round_.number, status=round_.status, opened_at=round_.opened_at,
        closed_at=round_.closed_at, deadline=round_.deadline,
        invited=await _count(session, select(func.count()).select_from(Invite).where(
            Invite.study_id == study_id, Invite.created_at <= cutoff)),
        consented=await _count(session, people.where(Participant.consented_at <= cutoff)),
        eligible=await _count(session, people.where(or_(
            Participant.id.in_(has_ballot),
            (Participant.consented_at <= opened)
            & Participant.status.in_(("active", "withdrawn"))
            & or_(Participant.withdrawn_at.is_(None), Participant.withdrawn_at > opened)))),
        started=await _count(session, ballots),
        submitted=await _count(session, ballots.where(Ballot.submitted_at.is_not(None))),
        withdrawn=await _count(session, people.where(Participant.withdrawn_at <= cutoff)),
        unreachable=await _count(session, people.where(
            Participant.unreachable_since <= cutoff)),
        items=items,
        answered=await _count(session, ballots.where(
            Ballot.id.in_(select(Rating.ballot_id)))),
        counted=counted)


async def _audit(session: AsyncSession, study_id: str) -> list[AuditLine]:
    rows = await session.scalars(select(AuditEntry).where(
        AuditEntry.study_id == study_id, AuditEntry.allowed.is_(True)).order_by(
        AuditEntry.at, AuditEntry.id))
    # The actor (a platform user id) is deliberately left out: identities stay private.
    return [AuditLine(a.at, a.action, dict(a.detail or {})) for a in rows]


def software_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("delphi-conductor")
    except PackageNotFoundError:
        return "unknown (not installed as a package)"


def card_text(card: dict[str, Any]) -> str:
    """A card as stored in the outbox, as the expert read it (buttons in brackets)."""
    parts = [card["heading"]] if card.get("heading") else []
    parts += [text for text, _ in card.get("sections", [])]
    buttons = [label for row in card.get("buttons", []) for label, _ in row]
    if buttons:
        parts.append(" ".join(f"[{label}]" for label in buttons))
    return "\n\n".join(parts)


def _in_round(moment: datetime, rounds: list[Round], now: datetime) -> int | None:
    for round_ in rounds:
        if round_.opened_at is not None and round_.opened_at <= moment <= (
                round_.closed_at or now):
            return round_.number
    return None


async def _conduct(session: AsyncSession, study_id: str, rounds: list[Round],
                   actions: list[AuditLine], panel: PanelData, now: datetime) -> Conduct:
    reminders: dict[int, int] = {r.number: 0 for r in rounds}
    nudges = await session.scalars(select(OutboxMessage.created_at).where(
        OutboxMessage.study_id == study_id, OutboxMessage.kind == "nudge",
        OutboxMessage.participant_id.is_not(None)))
    for created in nudges:
        number = _in_round(created, rounds, now)
        if number is not None:
            reminders[number] += 1
    extensions: dict[int, list[datetime]] = {r.number: [] for r in rounds}
    for action in actions:
        number = _in_round(action.at, rounds, now)
        if action.action == "extend" and number is not None:
            extensions[number].append(action.at)
    first = rounds[0].opened_at if rounds else None
    late = sum(1 for m in panel.eligible if first is not None and m.consented_at is not None
               and m.consented_at > first)
    example, example_round = None, None
    later = [r for r in rounds if r.number >= 2 and r.opened_at is not None]
    if later:
        message = await session.scalar(select(OutboxMessage).where(
            OutboxMessage.study_id == study_id, OutboxMessage.kind == "round_open",
            OutboxMessage.participant_id.is_not(None),
            OutboxMessage.created_at >= later[0].opened_at).order_by(
            OutboxMessage.created_at, OutboxMessage.participant_id, OutboxMessage.id))
        if message is not None:
            cards = message.payload.get("cards", [])
            if cards:
                example = card_text(cards[1] if len(cards) > 1 else cards[0])
                example_round = later[0].number
    return Conduct(reminders, extensions, late, example, example_round, software_version())


async def _retention(session: AsyncSession, study_id: str, rounds: list[Round],
                     now: datetime) -> list[tuple[int, str, int, int]]:
    """Per round and stakeholder group: experts asked to rate (eligible, as in
    :func:`round_flow`) and ballots submitted."""
    out = []
    for round_ in rounds:
        opened = round_.opened_at or round_.closed_at or now
        has_ballot = select(Ballot.participant_id).where(Ballot.round_id == round_.id)
        eligible = (await session.execute(
            select(Participant.stakeholder_group, func.count()).where(
                Participant.study_id == study_id, or_(
                    Participant.id.in_(has_ballot),
                    (Participant.consented_at <= opened)
                    & Participant.status.in_(("active", "withdrawn"))
                    & or_(Participant.withdrawn_at.is_(None),
                          Participant.withdrawn_at > opened)))
            .group_by(Participant.stakeholder_group))).all()
        submitted = dict((await session.execute(
            select(Participant.stakeholder_group, func.count())
            .join(Ballot, Ballot.participant_id == Participant.id)
            .where(Ballot.round_id == round_.id, Ballot.submitted_at.is_not(None))
            .group_by(Participant.stakeholder_group))).all())
        for group, count in sorted(eligible, key=lambda row: row[0] or "\uffff"):
            out.append((round_.number, group or NO_GROUP, int(count),
                        int(submitted.get(group, 0))))
    return out


async def load_report_data(session: AsyncSession, study_id: str,
                           now: datetime) -> ReportData:
    study = await get_study(session, study_id)
    spec = study_file_of(study)
    rounds = (await session.scalars(select(Round).where(
        Round.study_id == study_id, Round.status != "draft").order_by(Round.number))).all()
    actions = await _audit(session, study_id)
    panel = await load_panel(session, study_id, spec)
    flows = [await round_flow(session, study_id, r, now, spec.consensus.ballots)
             for r in rounds]
    return ReportData(
        study_id=study.id, title=study.title, description=study.description, spec=spec,
        protocol=dict(study.protocol), protocol_hash=study.protocol_hash,
        hash_verified=protocol_hash(study.protocol) == study.protocol_hash,
        frozen_at=study.protocol_frozen_at, loaded_at=study.loaded_at,
        protocol_changes=[a for a in actions if a.action in PROTOCOL_ACTIONS],
        actions=actions,
        rounds=flows,
        statements=await _statements(session, study_id, VerdictRules.of(spec),
                                     spec.feedback.ask_reason),
        ratings=await ratings_frame(session, study_id,
                                    confidence=spec.scale.confidence != "off"),
        generated_at=now, panel=panel,
        conduct=await _conduct(session, study_id, list(rounds), actions, panel, now),
        retention=await _retention(session, study_id, list(rounds), now),
        draft_pending=await _count(session, select(func.count()).select_from(Round).where(
            Round.study_id == study_id, Round.status == "draft")) > 0,
        stopped_because=StopReason(study.end_reason) if study.end_reason else None,
        careless=await careless_flags(session, study_id),
        ended_at=study.ended_at)
