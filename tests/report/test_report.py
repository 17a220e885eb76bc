"""The report and the exports of a finished two-round study (see conftest), on every
backend: every statement once in the right section, the right counts, no identity
anywhere, well-formed offline HTML, and exports that `delphi analyze` reproduces."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app.analyze_cli import main as analyze_main
from engine.exports import export_files
from engine.models import AuditEntry
from engine.report import build_report
from engine.report.checklist import VERIFIED, checklist
from engine.report.data import SECTIONS
from engine.report.document import ANCHOR_TITLES
from tests.engine.helpers import EXAMPLES
from tests.report.conftest import FINAL, FinishedStudy
from tests.report.helpers import identity_strings, parse, xlsx_text


async def _outputs(finished: FinishedStudy) -> tuple[str, str, dict[str, bytes]]:
    async with finished.store.transaction() as session:
        report = await build_report(session, finished.study_id, finished.clock.now())
        files = await export_files(session, finished.study_id)
    return report.html, report.markdown, files


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


async def test_every_statement_once_in_the_right_section(finished: FinishedStudy) -> None:
    html, markdown, _ = await _outputs(finished)
    structure = parse(html)
    assert structure.problems == []
    assert sorted(structure.sections) == sorted(FINAL.items())
    assert {section for _, section in structure.sections} == set(SECTIONS)
    marked = re.findall(r"<!-- statement (\S+): (\w+) -->", markdown)
    assert sorted(marked) == sorted(FINAL.items())
    # The round in which S03 (revised) reached consensus, with its final wording.
    s03 = html[html.index('data-statement="S03"'):]
    s03 = s03[:s03.index("</article>")]
    assert "S03 (v2)" in s03 and "Consensus reached in round 2." in s03
    assert "more reliable than sunscreen in strong sun" in s03
    s07 = html[html.index('data-statement="S07"'):]
    assert "Dropped from round 2 on: duplicate of S06." in s07[:s07.index("</article>")]


async def test_protocol_flow_and_round_numbers(finished: FinishedStudy) -> None:
    html, markdown, files = await _outputs(finished)
    assert "Protocol hash (SHA-256)" in markdown and "(verified: matches" in markdown
    assert "≥ 75 % of valid ratings are in the agree set" in markdown
    assert "No change to the protocol was logged" in markdown
    flow = _rows(files["flow.csv"])
    assert [(r["round"], r["invited"], r["consented"], r["eligible"], r["started"],
             r["submitted"], r["withdrawn"], r["unreachable"], r["response_rate"])
            for r in flow] == [("1", "5", "5", "5", "5", "5", "0", "0", "100"),
                               ("2", "5", "5", "4", "4", "4", "1", "0", "100")]
    # Per round, per statement: counts, median, IQR, % agree, class (markdown table rows).
    assert "| S04 | 4 | 1 | 2 | 2 | 0 | 0 | 0 | 1.5 | 1-2 | 1 | 0 | 100 | out |" in markdown
    assert "| S03.v2 | 4 | 0 | 0 | 0 | 0 | 3 | 1 | 4 | 4-4.25 | 0.25 | 100 | 0 | in |" \
        in markdown
    assert "| S06 | 3 | 1 | 0 | 1 | 1 | 1 | 0 | 3 | 2.5-3.5 | 1 | 33.3 | 33.3 | none |" \
        in markdown
    # Change log: revision with old and new text, addition, drop with its reason.
    assert ("| S03 | revised (v1 → v2) | round 2 | Protective clothing is more reliable "
            "than sunscreen in strong sun. | Protective clothing is more reliable than "
            "sunscreen for preventing sunburn.") in markdown
    assert "| S07 | dropped | round 2 |  |  | duplicate of S06 |" in markdown
    # Sensitivity: S02 (80 % agree, 20 % disagree) is not "in" under GRADE 70/15.
    assert "| 1 | S02 | in | in | in | in | in | none |" in markdown
    # Uncertainty: comments verbatim (non-hidden only) and the repeated key term.
    assert "Hats help but fabric matters; fabric protection varies." in html
    assert "fabric (2)" in html
    assert "rude" not in html and "rude" not in markdown
    participants = _rows(files["participants.csv"])
    assert len(participants) == 10
    assert {(r["participant"], r["round"], r["round_status"]) for r in participants
            if r["status"] == "withdrawn"} == {("P05", "1", "submitted"),
                                               ("P05", "2", "withdrawn")}


async def test_no_identity_in_report_or_exports(finished: FinishedStudy) -> None:
    html, markdown, files = await _outputs(finished)
    secrets = await identity_strings(finished.store)
    assert len(secrets) == 2 * 5  # name and user id (= chat id) of 5 experts
    texts = {"report.html": html, "report.md": markdown,
             **{name: (xlsx_text(content) if name.endswith(".xlsx")
                       else content.decode("utf-8")) for name, content in files.items()}}
    for name, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} found in {name}"
    assert "Plumtree" not in html and "uid-" not in markdown


async def test_html_is_self_contained(finished: FinishedStudy) -> None:
    html, _, _ = await _outputs(finished)
    structure = parse(html)
    assert structure.doctype.lower() == "doctype html"
    assert {"html", "head", "body", "title", "style", "table", "img"} <= structure.tags
    assert not {"script", "link", "iframe", "object"} & structure.tags
    external = [r for r in structure.references
                if not (r.startswith("data:image/svg+xml;base64,") or r.startswith("#"))]
    assert external == []
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.sub(
        r'src="data:[^"]*"', "", html), re.IGNORECASE)
    images = [r for r in structure.references if r.startswith("data:image/svg+xml")]
    assert len(images) == 4  # flow, overview, distributions, statements per round
    anchors = set(re.findall(r' id="([^"]+)"', html))
    links = {r[1:] for r in structure.references if r.startswith("#")}
    assert links <= anchors  # every link of the contents and the checklists lands


async def test_exports_reproduce_results_through_delphi_analyze(
    finished: FinishedStudy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, files = await _outputs(finished)
    (tmp_path / "ratings.csv").write_bytes(files["ratings.csv"])
    out = tmp_path / "again.csv"
    code = analyze_main([str(tmp_path / "ratings.csv"), "--study",
                         str(EXAMPLES / "tiny.toml"), "--methods", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes() == files["results.csv"]
    results = _rows(files["results.csv"])
    assert [(r["round"], r["statement"], r["consensus"]) for r in results] == [
        ("1", "S01", "in"), ("1", "S02", "in"), ("1", "S03", "none"), ("1", "S04", "out"),
        ("1", "S05", "in"), ("2", "S03.v2", "in"), ("2", "S06", "none")]
    statements = _rows(files["statements.csv"])
    assert [(r["statement"], r["version"], r["revised_from_version"]) for r in statements
            if r["statement"] == "S03"] == [("S03", "1", ""), ("S03", "2", "1")]
    book = load_workbook(io.BytesIO(files["study.xlsx"]), read_only=True)
    names = [n.removesuffix(".csv") for n in files if n.endswith(".csv")]
    assert book.sheetnames == names
    for name in names:
        sheet = list(book[name].iter_rows(values_only=True))
        assert len(sheet) == len(files[f"{name}.csv"].decode().splitlines())
    ratings = list(book["ratings"].iter_rows(values_only=True))
    assert ratings[0] == ("round", "statement", "participant", "rating", "group")
    assert ratings[1][:4] == (1, "S01", "P01", 5)


async def test_hidden_comment_is_audited_not_fed_back_but_exported(
    finished: FinishedStudy,
) -> None:
    _, _, files = await _outputs(finished)
    comments = _rows(files["comments.csv"])
    hidden = [(c["round"], c["statement"], c["comment"]) for c in comments
              if c["hidden"] == "yes"]
    assert hidden == [("1", "S03", "This one is rude and should be moderated.")]
    assert len(comments) == 5
    async with finished.store.transaction() as session:
        audit = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "hide"))).all()
    assert [(a.allowed, a.detail.get("args")) for a in audit] == [
        (True, str(finished.hidden_comment_id))]
    # Round 2's card for S03 shows the other comment, not the hidden one.
    for index, card in enumerate(finished.round_2_first_cards):
        assert card.startswith("Round 2 · Statement 1 of 2")
        assert "Previous wording" in card and "rude" not in card
        if index != 1:  # an expert never sees their own comment as feedback
            assert "Depends on the fabric and on the UV index." in card


async def test_comments_listing_and_refusals(finished: FinishedStudy) -> None:
    coordinator = finished.coordinator
    await coordinator.command("comments", "1")
    listing = coordinator.last.plain_text()
    assert f"#{finished.hidden_comment_id} S03 [hidden]: This one is rude" in listing
    assert "Plumtree" not in listing and "P0" not in listing
    await coordinator.command("unhide", str(finished.hidden_comment_id))
    assert "is shown again" in coordinator.last.plain_text()
    await coordinator.command("hide", "99999")
    assert "no comment #99999" in coordinator.last.plain_text()
    await coordinator.command("hide", "abc")
    assert "Use: /hide" in coordinator.last.plain_text()
    expert = finished.experts[0]
    await expert.command("hide", str(finished.hidden_comment_id))
    assert "only for the study coordinators" in expert.last.plain_text()
    async with finished.store.transaction() as session:
        refused = (await session.scalars(select(AuditEntry).where(
            AuditEntry.allowed.is_(False)))).all()
    assert [a.action for a in refused] == ["hide"]


async def test_report_command_sends_the_report(finished: FinishedStudy) -> None:
    reply = await finished.coordinator.command("report")
    assert [d.filename for d in reply.documents] == ["report.html", "report.md",
                                                     "report.docx"]
    html = reply.documents[0].content.decode("utf-8")
    assert html.startswith("<!DOCTYPE html>") and parse(html).problems == []
    reply = await finished.coordinator.command("export")
    assert "study.xlsx" in [d.filename for d in reply.documents]
    assert "flow.csv" in [d.filename for d in reply.documents]


def test_checklists_carry_the_official_item_ids() -> None:
    items = checklist()
    ids = {g: [i.id for i in items if i.guideline == g]
           for g in ("ACCORD", "CREDES", "DELPHISTAR")}
    assert ids["ACCORD"] == ["T1", "I1", "I2", "I3", *(f"M{n}" for n in range(1, 22)),
                             *(f"R{n}" for n in range(1, 6)), "D1", "D2", "O1", "O2", "O3"]
    assert ids["CREDES"] == [str(n) for n in range(1, 17)]
    assert ids["DELPHISTAR"] == [str(n) for n in range(1, 39)]
    assert all(i.status in ("answered", "partly", "authors") for i in items)
    assert all(i.where is not None for i in items if i.status != "authors")
    assert all(i.note for i in items if i.status == "partly")  # says what is missing
    assert any(i.status == "authors" for i in items)
    anchors = set(ANCHOR_TITLES)
    assert all(i.where in anchors for i in items if i.status != "authors")


def test_checklist_topics_sit_on_their_official_ids() -> None:
    """Verified id -> topic pairs: ACCORD and DELPHISTAR against their official checklists
    (see engine.report.checklist); CREDES is reported as unverified, never as checked."""
    topic = {(i.guideline, i.id): i.topic.lower() for i in checklist()}
    for guideline, number, words in [
            ("ACCORD", "I3", "update"), ("ACCORD", "M1", "registration"),
            ("ACCORD", "M12", "definition of consensus"), ("ACCORD", "M16", "piloting"),
            ("ACCORD", "M17", "feedback"), ("ACCORD", "M18", "anonymity"),
            ("ACCORD", "M20", "reminders"), ("ACCORD", "R5", "modified or removed"),
            ("ACCORD", "O1", "endorsing"), ("ACCORD", "O2", "conflicts of interest"),
            ("ACCORD", "O3", "funding"),
            ("DELPHISTAR", "1", "title"), ("DELPHISTAR", "4", "funding"),
            ("DELPHISTAR", "8", "protocol"), ("DELPHISTAR", "13", "expert"),
            ("DELPHISTAR", "21", "number of rounds"), ("DELPHISTAR", "29", "consensus"),
            ("DELPHISTAR", "31", "flow chart"), ("DELPHISTAR", "33", "response rate")]:
        assert words in topic[guideline, number], (guideline, number)
    assert VERIFIED["CREDES"].startswith("Not verified")
    assert "official" in VERIFIED["ACCORD"] and "official" in VERIFIED["DELPHISTAR"]


async def test_each_checklist_says_what_it_was_checked_against(
        finished: FinishedStudy) -> None:
    async with finished.store.transaction() as session:
        report = await build_report(session, finished.study_id, finished.clock.now())
    part = report.markdown[report.markdown.index("{#checklist}"):]
    for name in ("ACCORD", "CREDES", "DELPHISTAR"):
        table = part.index(f"{name} (")
        assert part.index(VERIFIED[name], table) > table, name
    assert "| O3 | Funding and the funder's role in the study |" in part


async def test_how_the_study_ran(finished: FinishedStudy) -> None:
    """What the software knows: reminders and extensions per round, why it stopped, one
    feedback card as sent, response per group, software version and protocol hash."""
    async with finished.store.transaction() as session:
        report = await build_report(session, finished.study_id, finished.clock.now())
    markdown = report.markdown
    conduct = markdown[markdown.index("{#conduct}"):markdown.index("{#sensitivity}")]
    assert "| 1 | 0 | none |" in conduct and "| 2 | 0 | none |" in conduct
    assert "Why the study stopped:" in conduct
    card = report.html[report.html.index('<pre class="card">'):]
    card = card[:card.index("</pre>")]
    assert card.startswith('<pre class="card">Round 2 · Statement 1 of 2')
    assert "Previous wording" in card and "\n" in card  # the card's lines kept
    assert "rude" not in card and "Plumtree" not in card
    assert "| Software | delphi " in conduct
    assert f"| Protocol hash (SHA-256) | {await _hash(finished)} |" in conduct
    flow = markdown[markdown.index("{#flow}"):markdown.index("{#results}")]
    assert "| 1 | no group | 5 | 5 | 100 % | 100 % |" in flow
    assert "| 2 | no group | 4 | 4 | 100 % | 80 % |" in flow


async def _hash(finished: FinishedStudy) -> str:
    from engine.loading import get_study

    async with finished.store.transaction() as session:
        return (await get_study(session, finished.study_id)).protocol_hash


def test_frequent_words_leave_out_stop_words() -> None:
    from engine.report.document import key_terms

    comments = ["Usually like the data, see the evidence", "Mostly like data; evidence is thin",
                "I would rarely see it without evidence"]
    assert key_terms(comments) == [("evidence", 3), ("data", 2)]


async def test_report_renders_after_the_commit(finished: FinishedStudy,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """/report reads in its transaction and renders after it: while the figures and files
    are being made, other requests are not kept waiting for the database."""
    import asyncio
    import threading

    from engine.report import build
    from engine.report.build import render_report

    started, release = threading.Event(), threading.Event()

    def slow_render(*args: object, **kwargs: object) -> object:
        started.set()
        assert release.wait(30), "the test never released the renderer"
        return render_report(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "render_report", slow_render)
    pending = asyncio.create_task(finished.coordinator.command("report"))
    assert await asyncio.to_thread(started.wait, 30)
    # The renderer is busy: a coordinator command that writes (and is audited) goes through.
    await asyncio.wait_for(finished.coordinator.command("comments", "1"), 10)
    assert "S03" in finished.coordinator.last.plain_text()
    release.set()
    reply = await asyncio.wait_for(pending, 60)
    assert [d.filename for d in reply.documents] == ["report.html", "report.md",
                                                     "report.docx"]
