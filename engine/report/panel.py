"""The panel as a journal's Table 1: recruitment counts and the screening declarations.

Read from ``invites``, ``participants`` and ``screening_answers`` only (pseudonyms, never
identities). Eligibility is derived from the stored answers against the study file's
screening questions, so the counts agree with what the experts were told at screening.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.models import Invite, Participant, ScreeningAnswer
from engine.studyfile import ScreeningQuestion, StudyFile

ALL = "all"
NO_GROUP = "no group"


def is_conflict_question(question: ScreeningQuestion) -> bool:
    """A declaration of interests: by id (``coi...``) or wording (conflict, financial)."""
    text = question.question.lower()
    return question.id.lower().startswith("coi") or "conflict of interest" in text \
        or "financial relationship" in text


def declares_conflict(answer: str) -> bool:
    """Any answer but a plain no declares an interest."""
    return not answer.strip().lower().startswith("no")


@dataclass(frozen=True)
class Member:
    pseudonym: str
    group: str
    status: str
    consented_at: datetime | None
    withdrawn_at: datetime | None
    answers: dict[str, str]


@dataclass
class PanelData:
    questions: list[ScreeningQuestion]
    invited: int
    members: list[Member]
    eligible: list[Member] = field(default_factory=list)
    screened_out: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.screened_out = [m for m in self.members if self.excluding(m)]
        self.eligible = [m for m in self.members if m.consented_at is not None
                         and not self.excluding(m) and self.complete(m)]

    @property
    def joined(self) -> int:
        return len(self.members)

    @property
    def consented(self) -> int:
        return sum(1 for m in self.members if m.consented_at is not None)

    @property
    def declined(self) -> int:
        return sum(1 for m in self.members if m.status == "declined")

    @property
    def not_answered(self) -> int:
        """Joined but neither declined nor answered consent (or screening) to the end."""
        return self.joined - self.declined - len(self.screened_out) - len(self.eligible)

    def excluding(self, member: Member) -> list[tuple[ScreeningQuestion, str]]:
        """The answers that excluded this member (empty if none did)."""
        return [(q, member.answers[q.id]) for q in self.questions
                if not q.assigns_group and q.id in member.answers
                and member.answers[q.id] not in q.eligible]

    def complete(self, member: Member) -> bool:
        return all(q.id in member.answers for q in self.questions)

    @property
    def groups(self) -> list[str]:
        return sorted({m.group for m in self.eligible} - {NO_GROUP}) + (
            [NO_GROUP] if any(m.group == NO_GROUP for m in self.eligible) else [])

    def exclusions(self) -> list[tuple[ScreeningQuestion, str, int]]:
        """How many were screened out by each (question, answer)."""
        counts = Counter((q.id, answer) for m in self.screened_out
                         for q, answer in self.excluding(m))
        return [(q, answer, counts[(q.id, answer)]) for q in self.questions
                for answer in q.options if counts[(q.id, answer)]]

    def declarations(self, members: list[Member] | None = None
                     ) -> list[tuple[ScreeningQuestion, str, dict[str, int]]]:
        """Per question and answer: how many eligible experts gave it, overall and per
        stakeholder group (``ALL`` and each group name)."""
        people = self.eligible if members is None else members
        rows = []
        for q in self.questions:
            for answer in q.options:
                chosen = [m for m in people if m.answers.get(q.id) == answer]
                counts = {ALL: len(chosen)}
                counts.update({g: sum(1 for m in chosen if m.group == g) for g in self.groups})
                rows.append((q, answer, counts))
        return rows

    def group_size(self, group: str) -> int:
        return len(self.eligible) if group == ALL else sum(
            1 for m in self.eligible if m.group == group)

    def conflicts(self) -> tuple[int, list[ScreeningQuestion]]:
        """Eligible experts declaring at least one interest, and the questions asked."""
        asked = [q for q in self.questions if is_conflict_question(q)]
        declaring = sum(1 for m in self.eligible if any(
            declares_conflict(m.answers.get(q.id, "no")) for q in asked))
        return declaring, asked


async def load_panel(session: AsyncSession, study_id: str, spec: StudyFile) -> PanelData:
    invited = int(await session.scalar(select(func.count()).select_from(Invite).where(
        Invite.study_id == study_id)) or 0)
    people = (await session.scalars(select(Participant).where(
        Participant.study_id == study_id, Participant.role == "expert").order_by(
        Participant.pseudonym))).all()
    answers: dict[int, dict[str, str]] = {p.id: {} for p in people}
    for row in (await session.execute(
            select(ScreeningAnswer.participant_id, ScreeningAnswer.question_id,
                   ScreeningAnswer.answer).join(
                Participant, Participant.id == ScreeningAnswer.participant_id).where(
                Participant.study_id == study_id))).all():
        answers.setdefault(row[0], {})[row[1]] = row[2]
    members = [Member(p.pseudonym, p.stakeholder_group or NO_GROUP, p.status,
                      p.consented_at, p.withdrawn_at, answers.get(p.id, {})) for p in people]
    return PanelData(list(spec.screening), invited, members)


def share(count: int, total: int) -> str:
    return "–" if not total else f"{100 * count / total:.0f} %"


def panel_rows(panel: PanelData) -> list[tuple[str, str, str, str, int, str]]:
    """``panel.csv``: population, group, question, answer, count, share of the group."""
    rows: list[tuple[str, str, str, str, int, str]] = []
    for q, answer, counts in panel.declarations():
        for group, count in counts.items():
            total = panel.group_size(group)
            rows.append(("eligible", group, q.id, answer, count,
                         "" if not total else f"{100 * count / total:.1f}"))
    for q, answer, count in panel.exclusions():
        rows.append(("screened_out", ALL, q.id, answer, count,
                     "" if not panel.screened_out else
                     f"{100 * count / len(panel.screened_out):.1f}"))
    return rows


def answer_rows(panel: PanelData) -> list[tuple[str, str, str, str, str]]:
    """``screening_answers.csv`` (on request only): pseudonym, group, status, question,
    answer: one row per stored answer."""
    return [(m.pseudonym, m.group, m.status, q.id, m.answers[q.id])
            for m in panel.members for q in panel.questions if q.id in m.answers]
