"""Exports for the paper and for re-analysis. Pseudonyms only, never identities.

``ratings.csv`` is exactly the input format of ``delphi analyze``
(``round,statement,participant,rating,group``; an empty rating means unable to rate) and
``results.csv`` exactly its output: ``delphi analyze ratings.csv --study STUDY.toml
--methods`` reproduces ``results.csv`` byte for byte, so anyone can recompute every
published number.
The other files: ``statements.csv`` (every version with its lineage), ``comments.csv``
(comments, reasons for outlying ratings and replies, with ``id``, ``kind`` and
``reply_to``; hidden ones included, marked), ``participants.csv`` (pseudonym, group,
status in every round), ``flow.csv`` (participant flow per round), ``panel.csv``
(screening declarations counted per answer and stakeholder group: the report's Table 1)
and ``study.xlsx`` with one sheet per file. Per-pseudonym screening answers
(``screening_answers.csv``) only on request. None of these queries touches the
``identities`` table.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from engine.csvsafe import csv_text, guard, needs_guard, unguard
from engine.models import (
    Ballot,
    Comment,
    Participant,
    Round,
    RoundResult,
    Statement,
    StatementVersion,
)
from engine.stats.results_file import format_value

if TYPE_CHECKING:
    from engine.report.panel import PanelData


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    return csv_text(header, rows)


async def ratings_csv(session: AsyncSession, study_id: str) -> str:
    """The ``delphi analyze`` input: revised wordings appear as ``S05.v2`` (a new question)."""
    from engine.conclusion import ratings_frame
    from engine.loading import get_study, study_file_of

    spec = study_file_of(await get_study(session, study_id))
    frame = await ratings_frame(session, study_id,
                                confidence=spec.scale.confidence != "off")
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: guard(v) if isinstance(v, str) else v)
    return str(frame.to_csv(index=False, lineterminator="\n", na_rep=""))


async def statements_csv(session: AsyncSession, study_id: str) -> str:
    previous = aliased(StatementVersion)
    rows = (await session.execute(
        select(Statement.code, StatementVersion.version, StatementVersion.created_for_round,
               Statement.domain, StatementVersion.text, previous.version,
               StatementVersion.change_note, Statement.added_in_round,
               Statement.dropped_in_round, Statement.drop_reason)
        .join(StatementVersion, StatementVersion.statement_id == Statement.id)
        .outerjoin(previous, previous.id == StatementVersion.revised_from_id)
        .where(Statement.study_id == study_id)
        .order_by(Statement.position, StatementVersion.version))).all()
    return _csv(("statement", "version", "first_round", "domain", "text", "revised_from_version",
                 "change_note", "added_in_round", "dropped_in_round", "drop_reason"), rows)


async def comments_csv(session: AsyncSession, study_id: str) -> str:
    """Every comment, reason and reply. ``id`` is the number /hide takes; ``kind`` says
    which it is (comment, reason, reply) and ``reply_to`` the ``id`` a reply answers."""
    rows = (await session.execute(
        select(Round.number, Statement.code, StatementVersion.version, Participant.pseudonym,
               Comment.text, Comment.hidden, Comment.id, Comment.kind, Comment.reply_to)
        .join(Ballot, Ballot.id == Comment.ballot_id)
        .join(Round, Round.id == Ballot.round_id)
        .join(Participant, Participant.id == Ballot.participant_id)
        .join(StatementVersion, StatementVersion.id == Comment.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(Round.study_id == study_id)
        .order_by(Round.number, Statement.position, Participant.pseudonym, Comment.id)
    )).all()
    return _csv(("round", "statement", "version", "participant", "comment", "hidden", "id",
                 "kind", "reply_to"),
                [(*row[:5], "yes" if row[5] else "no", row[6], row[7],
                  "" if row[8] is None else row[8]) for row in rows])


async def stored_results_csv(session: AsyncSession, study_id: str) -> str:
    """The results as stored when each round closed (what the experts were shown)."""
    rows = (await session.execute(
        select(Round.number, Statement.code, RoundResult.n, RoundResult.n_unable,
               RoundResult.median, RoundResult.q1, RoundResult.q3, RoundResult.iqr,
               RoundResult.pct_agree, RoundResult.pct_disagree, RoundResult.consensus,
               RoundResult.reason)
        .join(Round, Round.id == RoundResult.round_id)
        .join(StatementVersion, StatementVersion.id == RoundResult.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(Round.study_id == study_id)
        .order_by(Round.number, Statement.position))).all()
    return _csv(("round", "statement", "n", "n_unable", "median", "q1", "q3", "iqr",
                 "pct_agree", "pct_disagree", "consensus", "reason"), rows)


async def results_csv(session: AsyncSession, study_id: str) -> str:
    """Exactly what ``delphi analyze ratings.csv --study STUDY.toml --methods`` writes.

    The same call on the same ratings (``analyze`` without the ``eligible`` counts, which
    ratings.csv cannot carry: ``participants`` / ``response_rate`` count the experts with
    at least one answer in the round), written by the same writer.
    """
    from engine.conclusion import ratings_frame
    from engine.loading import get_study, study_file_of
    from engine.stats import analyze, write_results_csv
    from engine.stats.methods import add_methods

    spec = study_file_of(await get_study(session, study_id))
    frame = await ratings_frame(session, study_id)
    if frame.empty:
        return ""
    table = add_methods(analyze(frame, spec.consensus, spec.scale.points, spec.stopping),
                        frame, spec.consensus, spec.scale.points, spec.stopping)
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "results.csv"
        write_results_csv(table, target)
        return target.read_text(encoding="utf-8")


async def participants_csv(session: AsyncSession, study_id: str) -> str:
    """One row per participant and round: pseudonym, group, overall status, and what they
    did in that round (submitted / started / not started / withdrawn before it)."""
    people = (await session.scalars(select(Participant).where(
        Participant.study_id == study_id).order_by(Participant.pseudonym))).all()
    rounds = (await session.scalars(select(Round).where(
        Round.study_id == study_id, Round.status != "draft").order_by(Round.number))).all()
    ballots = {(b.participant_id, b.round_id): b for b in await session.scalars(
        select(Ballot).join(Round, Round.id == Ballot.round_id).where(
            Round.study_id == study_id))}
    rows = []
    for person in people:
        for round_ in rounds:
            ballot = ballots.get((person.id, round_.id))
            if ballot is not None:
                state = "submitted" if ballot.submitted_at is not None else "started"
            elif (person.withdrawn_at is not None and round_.opened_at is not None
                  and person.withdrawn_at <= round_.opened_at):
                state = "withdrawn"
            elif person.status in ("active", "withdrawn"):
                state = "not started"
            else:
                state = person.status
            rows.append((person.pseudonym, person.role, person.stakeholder_group,
                         person.status, round_.number, state,
                         "yes" if person.unreachable_since is not None else "no"))
    return _csv(("participant", "role", "group", "status", "round", "round_status",
                 "unreachable"), rows)


async def flow_csv(session: AsyncSession, study_id: str) -> str:
    from engine.loading import get_study, study_file_of
    from engine.report.data import round_flow

    spec = study_file_of(await get_study(session, study_id))
    now = datetime.now(UTC)
    rounds = (await session.scalars(select(Round).where(
        Round.study_id == study_id, Round.status != "draft").order_by(Round.number))).all()
    rows = []
    for round_ in rounds:
        f = await round_flow(session, study_id, round_, now, spec.consensus.ballots)
        rate = None if f.response_rate is None else format_value(f.response_rate)
        rows.append((f.number, f.status, f.items, f.invited, f.consented, f.eligible,
                     f.started, f.submitted, f.withdrawn, f.unreachable, rate, f.answered))
    return _csv(("round", "status", "statements", "invited", "consented", "eligible",
                 "started", "submitted", "withdrawn", "unreachable", "response_rate",
                 "answered"), rows)


async def _panel(session: AsyncSession, study_id: str) -> PanelData:
    from engine.loading import get_study, study_file_of
    from engine.report.panel import load_panel

    return await load_panel(session, study_id, study_file_of(await get_study(session, study_id)))


async def panel_csv(session: AsyncSession, study_id: str) -> str:
    """Table 1's declarations, aggregated: how many eligible experts gave each screening
    answer, overall (``all``) and per stakeholder group, and which answers screened out."""
    from engine.report.panel import panel_rows

    return _csv(("population", "group", "question", "answer", "count", "share"),
                panel_rows(await _panel(session, study_id)))


async def screening_answers_csv(session: AsyncSession, study_id: str) -> str:
    """Every stored screening answer by pseudonym: written only when the coordinator asks
    for it (``delphi export --screening-answers``), since declarations are personal."""
    from engine.report.panel import answer_rows

    return _csv(("participant", "group", "status", "question", "answer"),
                answer_rows(await _panel(session, study_id)))


async def export_tables(session: AsyncSession, study_id: str) -> dict[str, str]:
    """Every CSV export as ``{file name: CSV text}``."""
    return {
        "ratings.csv": await ratings_csv(session, study_id),
        "results.csv": await results_csv(session, study_id),
        "statements.csv": await statements_csv(session, study_id),
        "comments.csv": await comments_csv(session, study_id),
        "participants.csv": await participants_csv(session, study_id),
        "flow.csv": await flow_csv(session, study_id),
        "panel.csv": await panel_csv(session, study_id),
    }


def _cell(text: str) -> object:
    """A CSV field as a spreadsheet cell: numbers as numbers, the rest as text.

    The apostrophe :func:`engine.csvsafe.guard` put in front of a would-be formula is
    taken off again: in the workbook such a cell is typed as text (see :func:`workbook`),
    so it shows exactly what was written and never runs."""
    text = unguard(text)
    if text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if text.strip() != text or text.lower() in ("nan", "inf", "-inf", "infinity"):
        return text
    return int(text) if number.is_integer() and "." not in text and "e" not in text.lower() \
        else number


def workbook(tables: dict[str, str]) -> bytes:
    """``study.xlsx``: one sheet per CSV export, same rows and columns.

    Every text cell is stored as a string (never a formula, whatever it begins with) and
    one that would read as a formula also carries Excel's quote prefix, so editing the
    cell keeps it text."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, content in tables.items():
        sheet = book.create_sheet(name.removesuffix(".csv")[:31])
        for row in csv.reader(io.StringIO(content)):
            sheet.append([_cell(field) for field in row])
        for cells in sheet.iter_rows():
            for cell in cells:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
                    if needs_guard(cell.value):
                        cell.quotePrefix = True
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return _without_timestamps(buffer.getvalue())


_CORE_TIMES = re.compile(rb"<dcterms:(created|modified)\b[^>]*>[^<]*</dcterms:\1>")


def _without_timestamps(xlsx: bytes) -> bytes:
    """The workbook with fixed zip entry times and no created / modified properties, so
    the same tables always give the same bytes (openpyxl stamps the wall-clock time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            data = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                data = _CORE_TIMES.sub(b"", data)
            info = zipfile.ZipInfo(entry.filename, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = entry.external_attr
            target.writestr(info, data)
    return out.getvalue()


async def export_files(session: AsyncSession, study_id: str,
                       screening_answers: bool = False) -> dict[str, bytes]:
    """Every export file, the CSVs and ``study.xlsx``, as bytes; with
    ``screening_answers`` also the per-pseudonym ``screening_answers.csv`` (not in the
    workbook)."""
    tables = await export_tables(session, study_id)
    files = {name: text.encode("utf-8") for name, text in tables.items()}
    files["study.xlsx"] = workbook(tables)
    if screening_answers:
        files["screening_answers.csv"] = (
            await screening_answers_csv(session, study_id)).encode("utf-8")
    return files
