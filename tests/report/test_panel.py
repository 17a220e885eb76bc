"""Table 1 from stored screening answers: who joined, declined, was screened out (and by
which answer), stopped half-way or is eligible; every declaration counted per answer and
stakeholder group; conflicts of interest; panel.csv and the on-request per-pseudonym file.
And a report before round 1 opens is still a whole report."""

from __future__ import annotations

import csv
import io

from engine.clock import ManualClock
from engine.db import Store
from engine.enrolment import (
    PlatformUser,
    create_invites,
    record_consent,
    record_screening_answer,
    redeem_invite,
)
from engine.exports import export_files
from engine.loading import get_study, study_file_of
from engine.report import build_report
from engine.report.panel import load_panel
from engine.report.render import Table
from engine.report.tables import table_1
from engine.studyfile import load_study_file
from tests.engine.helpers import EXAMPLES, loaded

ELIGIBLE = {"board": "Yes", "experience": "11 to 20 years", "low_dose": "Yes",
            "rejuvenation_use": "No", "coi_isotretinoin": "No", "coi_aesthetic": "No"}
PEOPLE = [  # (consents, answers, group)
    (True, {**ELIGIBLE}, "Academic or hospital"),
    (True, {**ELIGIBLE, "rejuvenation_use": "Yes"}, "Academic or hospital"),
    (True, {**ELIGIBLE, "coi_aesthetic": "Yes"}, "Private practice"),
    (True, {"board": "No"}, None),  # screened out by the first answer
    (True, {"board": "Yes", "experience": "Less than 5 years"}, None),  # screened out
    (True, {"board": "Yes"}, None),  # stopped half-way
    (False, {}, None),  # declined consent
]


async def _panel_study(store: Store, clock: ManualClock) -> str:
    spec = await loaded(store, clock.now(), load_study_file(
        EXAMPLES / "isotretinoin-rejuvenation.toml"))
    now = clock.now()
    async with store.transaction() as session:
        tokens = await create_invites(session, spec.study.id, len(PEOPLE) + 1, now)
    for index, (consents, answers, group) in enumerate(PEOPLE):
        who = PlatformUser("telegram", f"u-{index}", f"c-{index}", f"Name {index}", None)
        async with store.transaction() as session:
            person = await redeem_invite(session, spec.study.id, tokens[index], who, now)
            await record_consent(session, person.id, consents, now)
            for question, answer in answers.items():
                await record_screening_answer(session, person.id, question, answer, now)
            if group:
                await record_screening_answer(session, person.id, "setting", group, now)
    return spec.study.id


async def test_table_1_counts_every_step_and_declaration(store: Store,
                                                         clock: ManualClock) -> None:
    study_id = await _panel_study(store, clock)
    async with store.transaction() as session:
        spec = study_file_of(await get_study(session, study_id))
        panel = await load_panel(session, study_id, spec)
        files = await export_files(session, study_id, screening_answers=True)
        report = await build_report(session, study_id, clock.now())
    assert (panel.invited, panel.joined, panel.declined, panel.consented) == (8, 7, 1, 6)
    assert len(panel.screened_out) == 2 and len(panel.eligible) == 3
    assert panel.not_answered == 1
    assert [(q.id, a, n) for q, a, n in panel.exclusions()] == [
        ("board", "No", 1), ("experience", "Less than 5 years", 1)]
    assert panel.conflicts()[0] == 1
    first = table_1(panel, 0)[0]
    assert isinstance(first, Table)
    recruitment = {row[0]: row[1] for row in first.rows}
    assert recruitment["  screened out by board: answered “No”"] == "1"
    assert recruitment["Joined but did not finish consent or screening"] == "1"
    assert recruitment["Eligible panel"] == "3"
    rows = list(csv.DictReader(io.StringIO(files["panel.csv"].decode())))

    def count(group: str, question: str, answer: str) -> str:
        return next(r["count"] for r in rows if r["population"] == "eligible"
                    and (r["group"], r["question"], r["answer"]) == (group, question, answer))

    assert count("all", "rejuvenation_use", "Yes") == "1"
    assert count("Academic or hospital", "rejuvenation_use", "No") == "1"
    assert count("Private practice", "coi_aesthetic", "Yes") == "1"
    assert count("all", "experience", "Less than 5 years") == "0"
    assert ("screened_out", "all", "board", "No", "1") in {
        (r["population"], r["group"], r["question"], r["answer"], r["count"]) for r in rows}
    answers = list(csv.DictReader(io.StringIO(files["screening_answers.csv"].decode())))
    assert {(r["participant"], r["question"], r["answer"]) for r in answers} >= {
        ("P04", "board", "No"), ("P03", "coi_aesthetic", "Yes")}
    assert "Name 1" not in files["screening_answers.csv"].decode()
    # The report before any round: Table 1 and the flow are there, nothing breaks.
    assert "Conflicts of interest: 1 of 3 eligible experts (33 %)" in report.html
    assert "screened out by board: answered “No”" in report.markdown
    assert "0 closed rounds" in report.html
    assert set(report.figures) == {"figure-1-flow.png", "figure-1-flow.svg",
                                   "figure-1-flow.pdf"}
