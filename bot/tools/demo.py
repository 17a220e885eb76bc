"""`delphi demo`: a whole simulated study on the embedded SQLite default.

15 simulated dermatologists and a simulated coordinator run the bundled example study
through the real conductor and engine, via the in-process messenger (adapters/memory):
they receive the same cards a Telegram or Slack user would and press the same buttons;
round summaries and next-round cards go through the outbox and its dispatcher; time is
a simulated clock. Same seed, same study, same results.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from datetime import timedelta
from importlib import resources
from pathlib import Path

from adapters.memory import MemoryChat, MemoryMessenger
from adapters.memory.chat import PLATFORM, ShownMessage
from bot.app.failures import CommandError
from bot.app.outputs import write_files
from bot.chat import actions
from bot.chat.text import spell
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue import texts
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from bot.dialogue.scheduler import Scheduler
from bot.tools.simulation import Expert, Panel, PanelFile, load_panel_file
from engine import outbox, rounds
from engine.ballots import ballot_items
from engine.clock import ManualClock
from engine.db import Store
from engine.exports import export_files
from engine.loading import load_study
from engine.report import build_report
from engine.schema import upgrade
from engine.studyfile import StudyFile, describe, parse_study
from engine.verdict import Verdict, VerdictRules

PANEL_SIZE = 15
COORDINATOR = "coordinator"
_HEADING = re.compile(r"^Round (\d+) · Statement (\d+) of (\d+)")


def example_study() -> StudyFile:
    text = resources.files("engine.examples").joinpath("isotretinoin-rejuvenation.toml")
    return parse_study(text.read_text(encoding="utf-8"), "isotretinoin-rejuvenation.toml")


def example_panel() -> PanelFile:
    """The example study's simulated panel: opinions, comments and revisions per statement."""
    text = resources.files("engine.examples").joinpath("isotretinoin-rejuvenation.panel.toml")
    return load_panel_file(text.read_text(encoding="utf-8"))


MARKER = ".delphi-demo"
# What the demo wrote before it left a marker: a folder holding only such names is a
# previous demo output too.
_DEMO_NAMES = re.compile(r"^(demo\.db(-wal|-shm|-journal)?|[a-z_]+\.csv|study\.xlsx|"
                         r"report\.[a-z]+|transcript-expert-\d+\.txt|figures(/.*)?)$")


def _written_before(out: Path) -> list[Path] | None:
    """The files a previous demo wrote in ``out`` (from its marker), or None when ``out``
    holds files the demo did not write."""
    marker = out / MARKER
    if marker.is_file():
        return [out / line for line in marker.read_text(encoding="utf-8").splitlines()
                if line and ".." not in Path(line).parts and not Path(line).is_absolute()]
    found = [p for p in out.rglob("*") if p.is_file()]
    if all(_DEMO_NAMES.match(p.relative_to(out).as_posix()) for p in found):
        return found
    return None


def prepare_directory(out: Path) -> set[Path]:
    """Make ``out`` ready for a demo without deleting anything the demo did not write: a
    new or empty folder is used as it is; a previous demo output loses the files that demo
    wrote (and only those); any other folder is refused. Returns the files left in it."""
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out} is a file, not a folder; choose a new folder for --out.")
    if out.is_dir() and any(out.iterdir()):
        previous = _written_before(out)
        if previous is None:
            raise CommandError(f"{out} is not empty and is not an earlier demo output; choose "
                               "a new or empty folder for --out (the demo deletes nothing it "
                               "did not write).")
        for path in previous:
            path.unlink(missing_ok=True)
        (out / MARKER).unlink(missing_ok=True)
        for folder in sorted((p for p in out.rglob("*") if p.is_dir()), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
    out.mkdir(parents=True, exist_ok=True)
    return {p for p in out.rglob("*") if p.is_file()}


def mark_directory(out: Path, before: set[Path]) -> None:
    """Record what this demo wrote, so the next run may replace exactly that."""
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                     if p.is_file() and p not in before)
    (out / MARKER).write_text("\n".join(written) + "\n", encoding="utf-8")


def _progress(round_number: int, done: int, total: int) -> None:
    width = 30
    filled = round(width * done / total) if total else width
    sys.stderr.write(f"\rRound {round_number}  [{'#' * filled}{'.' * (width - filled)}] "
                     f"{done}/{total} experts")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


class Demo:
    """The simulated study: one coordinator chat, one chat per expert."""

    def __init__(self, store: Store, spec: StudyFile, seed: int, size: int,
                 panel_file: PanelFile | None = None) -> None:
        self.store = store
        self.spec = spec
        self.clock = ManualClock()
        self.messenger = MemoryMessenger()
        context = StudyContext(store, self.clock, spec,
                               Coordinators(frozenset({(PLATFORM, COORDINATOR)})))
        self.conductor = Conductor(context)
        self.dispatcher = Dispatcher(store, self.clock, {PLATFORM: self.messenger})
        self.scheduler = Scheduler(context, self.conductor.coordination)
        self.opened_at = self.clock.now()
        self.coordinator = self.messenger.chat(self.conductor, COORDINATOR, "Coordinator")
        self.panel = Panel(seed, [(s.id, s.domain) for s in spec.statements], size,
                           spec.scale.points, panel_file)
        self.chats: dict[int, MemoryChat] = {}
        self.tallies: list[tuple[int, ...]] = []
        self.revised: set[str] = set()

    async def deliver(self) -> None:
        while await self.dispatcher.run_once():
            pass

    # --- enrolment ---------------------------------------------------------------------

    async def enrol(self) -> None:
        await self.coordinator.command("invite", str(len(self.panel.experts)))
        invite_card = self.coordinator.last
        tokens = spell(invite_card.sections[-1].text).split()
        for expert, token in zip(self.panel.experts, tokens, strict=True):
            chat = self.messenger.chat(self.conductor, f"expert-{expert.index + 1:02d}",
                                       expert.name)
            self.chats[expert.index] = chat
            await chat.command("start", token)
            await chat.press("I agree to take part")
            await self._screen(chat, expert)

    async def _screen(self, chat: MemoryChat, expert: Expert) -> None:
        questions = {q.question: q for q in self.spec.screening}
        while chat.last.heading and chat.last.heading.startswith(texts.SCREENING_HEADING):
            question = questions[spell(chat.last.sections[0].text)]
            if question.assigns_group:
                answer = question.options[expert.index % len(question.options)]
            else:
                answer = (question.eligible or question.options)[0]
            await chat.press(answer)

    # --- a round -----------------------------------------------------------------------

    async def rate_round(self, round_number: int, quiet: bool = False) -> None:
        """Experts take their ballots one sitting after another over the round's days; the
        last two leave it late, so the scheduler's reminders reach them first."""
        active = [e for e in self.panel.experts
                  if e.withdraws_after is None or e.withdraws_after >= round_number]
        late = self.opened_at + timedelta(days=self.spec.schedule.round_days, hours=-60)
        for done, expert in enumerate(active, start=1):
            self.clock.advance(self._sitting_gap(expert))
            if done == len(active) - 1 and self.clock.now() < late:
                self.clock.set(late)
            await self.tick()
            await self._ballot(self.chats[expert.index], expert, round_number)
            if not quiet:
                _progress(round_number, done, len(active))

    async def tick(self) -> None:
        """Let the scheduler do what is due at the simulated time, then deliver."""
        await self.scheduler.run_due(self.clock.now())
        await self.deliver()

    @staticmethod
    def _sitting_gap(expert: Expert) -> timedelta:
        return timedelta(hours=2 + (expert.index * 7) % 20)

    async def _ballot(self, chat: MemoryChat, expert: Expert, round_number: int) -> None:
        await chat.command("ballot")
        while True:
            card = chat.messages[-1]
            heading = _HEADING.match(card.card.heading or "")
            if heading is None:
                break
            rate = actions.decode(card.card.buttons[0][0].data)
            assert isinstance(rate, actions.Rate)
            if await self._reply(chat, expert, card, rate):
                continue  # the card comes back after the reply
            value = self.panel.rate(expert, rate.code, card.card.plain_text())
            comment = self.panel.comment(expert, rate.code, value) if round_number == 1 else None
            if comment:
                await chat.press("Comment", card)
                await chat.say(comment)
            reply = await chat.press_data(
                actions.encode(actions.Rate(rate.round, rate.code, value)), card)
            if reply.alert:  # a refusal: the simulation is wrong, not the expert
                raise RuntimeError(f"{chat.user_id}: {reply.toast}")
            await self._after_rating(chat, expert, card)
        await chat.press("Submit my ballot")

    async def _reply(self, chat: MemoryChat, expert: Expert, card: ShownMessage,
                     rate: actions.Rate) -> bool:
        """Now and then a talkative expert answers the first comment shown, anonymously."""
        if not any(b.label.startswith("Reply to") for row in card.card.buttons for b in row):
            return False
        text = self.panel.reply(expert, rate.round, rate.code)
        if text is None:
            return False
        await chat.press("Reply to [1]", card)
        await chat.say(text)
        return True

    async def _after_rating(self, chat: MemoryChat, expert: Expert,
                            rated: ShownMessage) -> None:
        """The optional questions a rating may bring: how sure (a tap on the rated card)
        and, for an outlying rating, a reason (a line, or Skip)."""
        labels = [b.label for row in rated.card.buttons for b in row]
        if "Medium" in labels:
            domain = (rated.card.heading or "").rsplit(" · ", 1)[-1]
            level = self.panel.confidence(expert, domain)
            await chat.press(("Low", "Medium", "High")[level - 1], rated)
        if any(b.label == "Skip" for row in chat.last.buttons for b in row):
            reason = self.panel.reason(expert)
            if reason is None:
                await chat.press("Skip")
            else:
                await chat.say(reason)

    async def close_round(self) -> str:
        await self.coordinator.command("closeround")
        await self.coordinator.press("Close the round")
        await self.deliver()
        return self.coordinator.last.plain_text()

    async def withdrawals(self, after_round: int) -> None:
        for expert in self.panel.experts:
            if expert.withdraws_after == after_round:
                chat = self.chats[expert.index]
                await chat.command("withdraw")
                await chat.press("Yes, withdraw")

    async def revise_from_comments(self) -> list[str]:
        """The steering committee rewords the two most-commented statements that go back
        (with the wording the panel file gives for them)."""
        await self.coordinator.command("export")
        comments = next(d for d in reversed(self.coordinator.documents)
                        if d.filename == "comments.csv").content.decode().splitlines()[1:]
        counts: dict[str, int] = {}
        for line in comments:
            code = line.split(",")[1].split(".")[0]
            counts[code] = counts.get(code, 0) + 1
        async with self.store.transaction() as session:
            draft = await rounds.round_by_status(session, self.spec.study.id, "draft")
        if draft is None:
            return []
        async with self.store.transaction() as session:
            carried = [i.code for i in await ballot_items(session, draft)]
        revisable = [c for c in carried if self.panel.revision(c) and c not in self.revised]
        chosen = sorted(revisable, key=lambda c: (-counts.get(c, 0), c))[:2]
        for code in chosen:
            await self.coordinator.command("revise", f"{code} {self.panel.revision(code)}")
            self.revised.add(code)
        return chosen

    async def run(self) -> list[tuple[int, ...]]:
        await self.enrol()
        table = []
        round_number = 1
        while True:
            await self.coordinator.command("openround", f"{self.spec.schedule.round_days}d")
            self.opened_at = self.clock.now()
            await self.deliver()
            await self.rate_round(round_number)
            results = await self.close_round()
            table.append(await self._tally(round_number))
            await self.withdrawals(round_number)
            if "is prepared as a draft" not in results:
                break
            await self.revise_from_comments()
            round_number += 1
        return table

    async def _tally(self, round_number: int) -> tuple[int, ...]:
        """One row of the demo's table: the verdicts after the round (engine.verdict)."""
        rules = VerdictRules.of(self.spec)
        async with self.store.transaction() as session:
            results = await rounds.stored_statistics(session, self.spec.study.id, round_number)
            nudged = await outbox.delivered(session, "nudge")
        kinds = [result.verdict(rules) for result in results]
        earlier = sum(row[-1] for row in self.tallies)
        tally = (round_number, len(kinds), kinds.count(Verdict.ENDORSED),
                 kinds.count(Verdict.REJECTED), kinds.count(Verdict.NOT_STABLE),
                 len(kinds) - sum(kinds.count(v) for v in (
                     Verdict.ENDORSED, Verdict.REJECTED, Verdict.NOT_STABLE)),
                 nudged - earlier)
        self.tallies.append(tally)
        return tally


TABLE_HEADER = ("round  rated  endorsed  rejected  consensus not stable  no consensus  "
                "reminders")


def _table(rows: Iterable[tuple[int, ...]]) -> str:
    lines = [TABLE_HEADER,
             "-----  -----  --------  --------  --------------------  ------------  ---------"]
    lines += [f"{r:>5}  {n:>5}  {e:>8}  {j:>8}  {u:>20}  {x:>12}  {m:>9}"
              for r, n, e, j, u, x, m in rows]
    return "\n".join(lines)


def _excerpt(chat: MemoryChat) -> str:
    """The parts of one expert's chat that show the product: the first round-2 card with
    its feedback, and every round summary."""
    keep = [m.first for m in chat.messages
            if (m.first.heading or "").startswith(("Round 2 · Statement 1 of", "Round 1 summary",
                                                   "Round 2 summary", "Round 3 summary"))]
    unique = [card for i, card in enumerate(keep) if card not in keep[:i]]
    return "\n\n".join(card.plain_text() for card in unique)


async def run_demo(out: Path, seed: int, size: int = PANEL_SIZE) -> int:
    before = prepare_directory(out)
    spec = example_study()
    store = Store.from_url(f"sqlite:///{out / 'demo.db'}")
    try:
        await upgrade(store.engine)
        demo = Demo(store, spec, seed, size, example_panel())
        async with store.transaction() as session:
            await load_study(session, spec, demo.clock.now())
        print(describe(spec))
        if size < spec.consensus.min_valid:
            print(f"Note: the study needs at least {spec.consensus.min_valid} valid ratings "
                  f"per statement (min_valid); with {size} experts every statement ends as "
                  "'too few valid ratings'.")
        table = await demo.run()
        async with store.transaction() as session:
            exports = await export_files(session, spec.study.id)
            report = await build_report(session, spec.study.id, demo.clock.now())
        write_files(out, {**exports, **report.files()})
        first = demo.chats[0]
        transcript = out / "transcript-expert-01.txt"
        transcript.write_text(first.transcript(as_sent=True) + "\n", encoding="utf-8")
        print()
        print(_table(table))
        print()
        print(f"Report: {out / 'report.html'} (opens offline; Markdown twin report.md, "
              "Word version report.docx, figures/ as PNG, SVG and PDF)")
        print(f"Exports: {', '.join(str(out / n) for n in exports)}")
        print(f"Transcript of expert 01's chat: {transcript}")
        print()
        print("--- from expert 01's chat " + "-" * 50)
        print(_excerpt(first))
    finally:
        await store.dispose()
        mark_directory(out, before)
    return 0
