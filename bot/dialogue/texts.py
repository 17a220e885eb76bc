"""The wording of every card, in one place, platform-neutral.

Each function turns engine data into a :class:`bot.chat.cards.Card`. Nothing here touches
the database, so the texts can be read, tested and revised on their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.chat import actions
from bot.chat.cards import PHONE_LIMIT, Button, Card, Section, card
from bot.chat.text import Step, Words, say, spell
from engine.ballots import BallotItem, Progress
from engine.codec import version_key
from engine.conclusion import Conclusion, StatementOutcome
from engine.feedback import Feedback, GroupFigures, Outlying
from engine.models import Round
from engine.numbers import fmt, iqr_range
from engine.panel import DEFAULT_SECONDS_PER_STATEMENT, EnrolmentCounts
from engine.schedule import RoundCounts
from engine.studyfile import ScreeningQuestion, StudyFile
from engine.verdict import Verdict, VerdictRules

BAR = "█"
BAR_WIDTH = 12


def format_time(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "no deadline"
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a %d %b %Y, %H:%M} ({zone})"


def scale_label(spec: StudyFile, value: int | None) -> str:
    """``7 · Agree``: the number first, so buttons and summaries read the same everywhere."""
    if value is None:
        return "Unable to rate"
    return f"{value} · {spec.scale.labels[value - 1]}"


def share_line(n: int, consensus: str, pct_agree: float | None,
               pct_disagree: float | None) -> str:
    """The share that matters for the verdict: who agreed, or for a consensus to reject
    who disagreed; nobody pretends to a percentage of no ratings."""
    if n == 0:
        return "no one could rate this"
    if consensus == "out":
        return f"{fmt(pct_disagree)} % disagreed"
    return f"{fmt(pct_agree)} % agreed"


def shorten(text: str, limit: int = 60) -> str:
    """A statement's short form for a summary line: cut at a word, marked with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:.")
    return f"{cut}…"


# --- enrolment -----------------------------------------------------------------------

def need_invite() -> Card:
    return card("To take part you need a personal invite link from the study coordinator. "
                "Please open the link you were sent, or ask the coordinator for one.")


def consent(spec: StudyFile) -> Card:
    return card(
        spec.study.description,
        Section("What is kept: your ratings and comments, under a code name instead of your "
                "name. Your messenger account is kept apart from them, only to send you "
                "messages, and never appears in feedback, exports or the report.", "italic"),
        Section(say("Feedback is anonymous: other experts see the group's distribution and "
                    "comments without names. You can withdraw at any time with ",
                    Step("withdraw"), "."), "italic"),
        heading=spec.study.title,
        buttons=((Button("I agree to take part", actions.encode(actions.Consent(True))),
                  Button("I do not agree", actions.encode(actions.Consent(False)))),),
    )


def declined() -> Card:
    return card("Thank you for considering the study. Nothing more will be sent to you.")


SCREENING_HEADING = "Your declarations"


def screening_question(question: ScreeningQuestion, index: int, total: int) -> Card:
    buttons = tuple((Button(option, actions.encode(actions.Screen(question.id, i))),)
                    for i, option in enumerate(question.options))
    return card(question.question, heading=f"{SCREENING_HEADING} · {index} of {total}",
                buttons=buttons)


def ineligible() -> Card:
    return card("Thank you for your answers. This study's panel needs a profile that "
                "differs from yours, so we will not ask you to rate statements. Your "
                "answers are recorded; nothing else will be sent to you.")


def welcome_active(round_open: bool) -> Card:
    if round_open:
        return card("Thank you: you are on the panel. Here is the first statement.")
    return card("Thank you: you are on the panel. You will get a message here when the "
                "first round opens.")


# --- ballot --------------------------------------------------------------------------

def histogram(spec: StudyFile, feedback: Feedback) -> str:
    counts = feedback.statistics.counts
    peak = max(counts.values(), default=0) or 1
    width = len(str(spec.scale.points))
    lines = []
    for point in range(1, spec.scale.points + 1):
        count = counts.get(point, 0)
        bar = BAR * round(BAR_WIDTH * count / peak)
        mine = "  ← you" if feedback.own_rating == point else ""
        lines.append(f"{point:>{width}} {bar:<{BAR_WIDTH}} {count}{mine}")
    if feedback.statistics.n_unable:
        lines.append(f"Unable to rate: {feedback.statistics.n_unable}")
    return "\n".join(lines)


def feedback_sections(spec: StudyFile, feedback: Feedback) -> list[Section]:
    own = (scale_label(spec, feedback.own_rating) if feedback.own_rated
           else "you did not rate it")
    s = feedback.statistics
    if s.n == 0:
        numbers = f"Round {s.round} results: no one could rate this"
    else:
        share = share_line(s.n, s.consensus, s.pct_agree, s.pct_disagree)
        numbers = (f"Round {s.round} results (n = {s.n}): median "
                   f"{fmt(s.median)}, {iqr_range(s.q1, s.q3)}, {share}")
    judged = s.verdict(VerdictRules.of(spec))
    sections = [
        Section(f"{numbers}; {judged.label_while(False)}. Your rating: {own}.", "bold"),
        Section(histogram(spec, feedback), "mono"),
    ]
    if feedback.previous_text is not None:
        note = f" ({feedback.change_note})" if feedback.change_note else ""
        sections.append(Section(f"Revised since round {s.round}{note}. Previous "
                                f"wording: {feedback.previous_text}", "italic"))
    if feedback.groups:
        sections.append(Section("By stakeholder group:", "bold"))
        sections.append(Section("\n".join(group_line(spec, g) for g in feedback.groups),
                                "mono"))
    if feedback.shown:
        sections.append(Section("Comments from other experts (anonymous):", "bold"))
        numbered = spec.feedback.replies  # the numbers the Reply buttons name
        sections += [Section(f"{f'[{index}] ' if numbered else ''}"
                             f"{'Reason for an outlying rating: ' if c.reason else ''}"
                             f"{c.text}", "quote")
                     for index, c in enumerate(feedback.shown, start=1)]
    for thread in feedback.threads:
        sections.append(Section("Replies to an earlier comment (anonymous):", "bold"))
        sections.append(Section("\n".join([thread.text, *(f"↳ {r}" for r in thread.replies)]),
                                "quote"))
    return sections


def group_line(spec: StudyFile, figures: GroupFigures) -> str:
    """One group's figures, or "too few to show" for a group too small to stay anonymous."""
    if figures.counts is None:
        return f"{figures.group}: too few to show"
    spread = "·".join(str(figures.counts.get(p, 0)) for p in range(1, spec.scale.points + 1))
    return (f"{figures.group} (n = {figures.n}): median {fmt(figures.median)}; "
            f"ratings 1-{spec.scale.points}: {spread}")


def scale_legend(spec: StudyFile) -> str:
    """The end labels that do not fit on a phone-width row of buttons."""
    labels, points = spec.scale.labels, spec.scale.points
    return f"1 = {labels[0]} · {points} = {labels[-1]}"


def rating_rows(spec: StudyFile, item: BallotItem) -> list[tuple[Button, ...]]:
    """The rating buttons. A 9-point scale as three rows of three numbers (1-3, 4-6,
    7-9), which fit a phone without cutting a label; the end labels go in the card
    text. A 5-point scale fits one row with its end labels; a 7-point scale four and
    three."""
    points = spec.scale.points

    def button(value: int) -> Button:
        label = (scale_label(spec, value) if points != 9 and value in (1, points)
                 else str(value))
        return Button(label, actions.encode(actions.Rate(item.round, item.code, value)))

    buttons = [button(v) for v in range(1, points + 1)]
    widths = {9: (3, 3, 3), 7: (4, 3)}.get(points, (points,))
    rows: list[tuple[Button, ...]] = []
    for width in widths:
        rows.append(tuple(buttons[:width]))
        buttons = buttons[width:]
    return rows


def statement_card(spec: StudyFile, item: BallotItem, feedback: Feedback | None,
                   chosen: int | None = None, answered: bool = False,
                   replies: bool = False) -> Card:
    rows = rating_rows(spec, item)
    extra = []
    if spec.scale.unable_to_rate:
        extra.append(Button("Unable to rate",
                            actions.encode(actions.Rate(item.round, item.code, None))))
    extra.append(Button("Comment", actions.encode(actions.AskComment(item.round, item.code))))
    if item.position > 1:
        extra.append(Button("Back", actions.encode(actions.Goto(item.round,
                                                                item.position - 1))))
    rows.append(tuple(extra))
    if replies and feedback is not None:
        answer = [Button(f"Reply to [{index}]",
                         actions.encode(actions.ReplyTo(item.round, comment.id)))
                  for index, comment in enumerate(feedback.shown, start=1)]
        rows += [tuple(answer[i:i + 4]) for i in range(0, len(answer), 4)]
    sections = [Section(item.text)]
    if spec.scale.points == 9:
        sections.append(Section(scale_legend(spec), "italic"))
    if answered:
        sections.append(Section(f"Your current answer: {scale_label(spec, chosen)}", "italic"))
    if feedback is not None:
        sections += feedback_sections(spec, feedback)
    return Card(
        heading=f"Round {item.round} · Statement {item.position} of {item.total} · "
                f"{item.domain}",
        sections=tuple(sections),
        buttons=tuple(r for r in rows if r),
    )


CONFIDENCE_WORDS = {1: "low", 2: "medium", 3: "high"}


def rated_card(spec: StudyFile, item: BallotItem, value: int | None,
               ask_confidence: str | None = None, confidence: int | None = None) -> Card:
    """What a rated card turns into: the statement and the choice, with a way back;
    ``ask_confidence`` ("statement" or "domain") adds the one-tap confidence question."""
    chosen = f"✓ {scale_label(spec, value)}"
    if confidence is not None:
        chosen += f" · confidence {CONFIDENCE_WORDS[confidence]}"
    sections = [Section(item.text), Section(chosen, "bold")]
    buttons: list[tuple[Button, ...]] = []
    if ask_confidence is not None:
        about = ("this rating" if ask_confidence == "statement"
                 else f"your ratings on {item.domain}")
        sections.append(Section(f"How sure are you of {about}? (optional, one tap)",
                                "italic"))
        buttons.append(tuple(Button(word.capitalize(), actions.encode(
            actions.Confide(item.round, item.code, level)))
            for level, word in CONFIDENCE_WORDS.items()))
    buttons.append((Button("Change", actions.encode(actions.Goto(item.round,
                                                                 item.position))),))
    return Card(
        heading=f"Round {item.round} · Statement {item.position} of {item.total} · "
                f"{item.domain}",
        sections=tuple(sections), buttons=tuple(buttons))


def reason_prompt(spec: StudyFile, item: BallotItem, value: int,
                  outlying: Outlying) -> Card:
    """The one-line, skippable question after an outlying rating. It names only the
    panel's middle half (already on the card) and the expert's own choice."""
    if outlying.previous is not None:
        why = (f"Last round you rated {outlying.previous}; now {value}. In a line, what "
               "changed your view?")
    else:
        low, high = fmt(outlying.q1), fmt(outlying.q3)
        band = low if low == high else f"{low}–{high}"
        why = f"The panel mostly rated {band}. In a line, why {value}?"
    return card(why, Section("Send it as your next message. Others see it without your "
                             "name. Or skip: it is optional.", "italic"),
                heading=f"Statement {item.position} ({item.code})",
                buttons=((Button("Write a reason", actions.encode(
                    actions.AskReason(item.round, item.code))),
                          Button("Skip", actions.encode(actions.SkipReason(item.round)))),))


def ask_reply(quoted: str) -> Card:
    short = quoted if len(quoted) <= 200 else quoted[:199] + "…"
    return card(f"Send your reply to this comment as your next message: \"{short}\"",
                Section("It is shown to the panel next round under the comment, without "
                        "your name. You can answer each comment once.", "italic"))


def text_saved(kind: str, item: BallotItem) -> str:
    noun = {"comment": "Comment", "reason": "Reason", "reply": "Reply"}[kind]
    return f"{noun} saved on statement {item.position} ({item.code})."


def review(spec: StudyFile, round_number: int,
           entries: Sequence[tuple[BallotItem, int | None, bool]],
           submitted: bool) -> Card:
    lines = [f"{item.position}. {item.code}: "  # no domain: 30 lines stay phone-sized
             f"{scale_label(spec, value) if answered else 'not answered'}"
             for item, value, answered in entries]
    missing = [item for item, _, answered in entries if not answered]
    buttons: list[tuple[Button, ...]] = []
    jump = [Button(str(item.position), actions.encode(actions.Goto(round_number,
                                                                   item.position)))
            for item, _, _ in entries] if len(entries) <= 60 else []
    buttons += [tuple(jump[i:i + 8]) for i in range(0, len(jump), 8)]
    if submitted:
        status = ("Your ballot is submitted. You can still change answers until the round "
                  "closes.")
        buttons.append((Button("Change answers", actions.encode(actions.Reopen(round_number))),))
    elif missing:
        status = (f"{len(missing)} statement(s) still unanswered: "
                  f"{', '.join(i.code for i in missing)}. Tap a number to go to it.")
    else:
        status = "Every statement is answered. Check your answers, then submit."
        buttons.append((Button("Submit my ballot", actions.encode(actions.Submit(round_number))),))
    return Card(heading=f"Round {round_number} · Review",
                sections=(Section("\n".join(lines)), Section(status, "bold")),
                buttons=tuple(buttons))


def submitted(progress: Progress, zone: str) -> Card:
    return card(f"Thank you: your round {progress.round} ballot is submitted "
                f"({progress.answered} statements). You can change answers until the round "
                f"closes ({format_time(progress.deadline, zone)}).",
                buttons=((Button("Change answers",
                                 actions.encode(actions.Reopen(progress.round))),),))


def progress_text(progress: Progress, zone: str) -> Card:
    state = "submitted" if progress.submitted_at else "not submitted yet"
    unable = f", {progress.unable} unable to rate" if progress.unable else ""
    buttons: tuple[tuple[Button, ...], ...] = ()
    if not progress.submitted_at:
        buttons = ((Button("Continue", actions.encode(actions.Resume())),),)
    return card(f"Round {progress.round}: {progress.answered} of {progress.total} answered"
                f"{unable}; {state}. Deadline: {format_time(progress.deadline, zone)}.",
                buttons=buttons)


def ask_comment(item: BallotItem) -> Card:
    return card(f"Send your comment on statement {item.position} ({item.code}) as your next "
                "message (up to 2000 characters). Other experts will see it without your "
                "name.")


def comment_saved(item: BallotItem) -> Card:
    return card(f"Comment saved on statement {item.position} ({item.code}).",
                buttons=((Button("Continue", actions.encode(actions.Resume())),),))


def withdraw_confirm() -> Card:
    return card("Do you want to withdraw from the study? Your ratings so far stay in the "
                "study under your pseudonym; you will get no more messages.",
                buttons=((Button("Yes, withdraw", actions.encode(actions.Withdraw(True))),
                          Button("No, stay", actions.encode(actions.Withdraw(False)))),))


def withdrawn() -> Card:
    return card("You have withdrawn from the study. Thank you for your time.")


@dataclass(frozen=True)
class Returning:
    """Why the statements of a round are on its ballot (round 2 on)."""

    revised: int = 0     # reworded after the last round's comments
    new: int = 0         # added by the coordinators
    stability: int = 0   # reached consensus, asked again to check it holds
    open: int = 0        # no consensus yet, unchanged


def round_opened(number: int, total: int, returning: Returning, deadline: Words) -> Card:
    """The first message of a round: how much, until when, and (round 2 on) why these
    statements come back: written when the round opens, so it is true."""
    parts = [(returning.open, "without consensus yet"),
             (returning.revised, "revised in the light of your comments"),
             (returning.stability, "asked again to check that the agreement holds"),
             (returning.new, "new")]
    why = "; ".join(f"{n} {words}" for n, words in parts if n)
    text = say(f"Round {number} is open: {total} statement{'s' if total != 1 else ''}, until ",
               deadline, ".")
    if why:
        text = say(text, f" On the ballot: {why}. Each card shows the group's answers from the "
                   "last round.")
    return card(say(text, " Tap a number to rate each statement; ", Step("ballot"),
                    " resumes where you left off."))


def enrolment_line(counts: EnrolmentCounts) -> str:
    return (f"{counts.invited} invited, {counts.joined} joined, {counts.consented} consented, "
            f"{counts.screened_out} screened out, {counts.active} on the panel"
            + (f", {counts.declined} declined" if counts.declined else "")
            + (f", {counts.withdrawn} withdrawn" if counts.withdrawn else ""))


def next_step(counts: EnrolmentCounts, latest: Round | None) -> Section:
    if counts.invited == 0:
        hint = say("Next: ", Step("invite"), " <n> makes invite links to send to the experts.")
    elif latest is not None and latest.status == "draft":
        hint = say("Next: ", Step("preview"), f" shows round {latest.number} as the experts "
                   "will see it; ", Step("openround"), " opens it.")
    else:
        hint = say("The study has no further round; ", Step("report"), " writes the report.")
    return Section(hint, "italic")


def whoami(platform: str, user_id: str, coordinator: bool) -> Card:
    """Anyone's own platform and id: what a coordinator puts in the config."""
    key = user_id if platform == "telegram" else f'"{user_id}"'
    role = ("You are a coordinator of this study." if coordinator else
            f"To make this account a coordinator, add the id to the bot's config: "
            f"[coordinators] {platform} = [{key}], then restart the bot.")
    return card(f"Platform: {platform}. Your user id: {user_id}. {role}")


def expert_help(coordinator: bool) -> Card:
    text = say("Commands: ", Step("ballot"), " continues your ballot at the first unanswered "
               "statement; ", Step("progress"), " shows how far you are; ", Step("withdraw"),
               " leaves the study; ", Step("help"), " shows this. Rate each statement with the "
               "buttons; \"Comment\" adds a comment. A question for the study coordinators: "
               "just write it here (or ", Step("ask"), " <question>); they see your code name, "
               "not your account. ", Step("timezone"), " shows or sets your time zone.")
    if coordinator:
        text = say(text, "\n\nCoordinator commands: ", Step("status"), ", ", Step("preview"),
                   ", ", Step("openround"), " [deadline], ", Step("closeround"), ", ",
                   Step("extend"), " <when>, ", Step("nudge"), ", ", Step("results"), ", ",
                   Step("revise"), " <id> <new text> [| reason], ", Step("drop"),
                   " <id> [reason], ", Step("add"), " <domain> | <text>, ", Step("invite"),
                   " <n>, ", Step("comments"), " [round], ", Step("hide"), " <id>, ",
                   Step("unhide"), " <id>, ", Step("reply"), " <P07> <answer>, ",
                   Step("export"), ", ", Step("report"), ", ", Step("endstudy"), ", ",
                   Step("whoami"), ".")
    return card(text)




def round_summary(outcome: Conclusion, wording: Mapping[int, str]) -> Card:
    """What every expert gets when a round closes, phone-sized: what reached consensus (a
    line each, with a short form of the statement), what comes back and why. Sent at the
    close, before the coordinators revise, so it promises nothing they may still change;
    the message that opens the next round says exactly what comes back. Each statement
    is stated by its verdict under the frozen protocol (:mod:`engine.verdict`)."""
    reached = [o for o in outcome.outcomes if o.verdict.reached]
    open_ = [o for o in outcome.outcomes if not o.verdict.reached]
    final = outcome.next_round is None
    head = Section(f"Round {outcome.round} has closed: {outcome.submitted} of "
                   f"{outcome.panel_size} experts submitted. Thank you!")
    if final:
        why = (f" The study has ended: {outcome.stopped_because.label}."
               if outcome.stopped_because else "")
        tail = Section(f"This was the final round.{why} The steering committee will share "
                       "the results.", "italic")
    else:
        tail = Section(f"Round {outcome.next_round} will ask again about the statements "
                       "without consensus" + (" and, to check that it holds, some that "
                                              "reached it" if any(o.carried for o in reached)
                                              else "")
                       + ", with the group's answers and comments beside each. The "
                       "coordinators may still revise or drop some first; you will get a "
                       "message when it opens.", "italic")
    by_label: dict[str, list[str]] = {}
    for o in open_:
        by_label.setdefault(o.verdict.label_while(final), []).append(o.code)
    pending = [Section("\n".join(f"{label[0].upper()}{label[1:]} ({len(codes)}): "
                                 f"{', '.join(codes)}" for label, codes in by_label.items()))
               ] if open_ else []

    def line(o: StatementOutcome, width: int) -> str:
        mark = "✓" if o.verdict is Verdict.ENDORSED else "✗"
        s = o.statistics
        share = share_line(s.n, s.consensus, s.pct_agree, s.pct_disagree)
        return f"{mark} {o.code} {shorten(wording.get(o.version_id, ''), width)} ({share})"

    sections: list[Section] = []
    for width in (60, 45, 32, 24):
        shown = [line(o, width) for o in reached]
        sections = _summary_sections(head, reached, shown, pending, tail)
        if _length(sections, outcome.round) <= PHONE_LIMIT:
            break
    while _length(sections, outcome.round) > PHONE_LIMIT and shown:
        shown = shown[:-1]
        sections = _summary_sections(head, reached, shown, pending, tail)
    return Card(heading=f"Round {outcome.round} summary", sections=tuple(sections))


def _summary_sections(head: Section, reached: Sequence[StatementOutcome], shown: list[str],
                      pending: list[Section], tail: Section) -> list[Section]:
    body = [head]
    if reached:
        endorsed = sum(1 for o in reached if o.verdict is Verdict.ENDORSED)
        rejected = len(reached) - endorsed
        words = ", ".join(w for w in (f"{endorsed} to endorse (✓)" if endorsed else "",
                                      f"{rejected} to reject (✗)" if rejected else "") if w)
        body.append(Section(f"Consensus reached on {len(reached)}: {words}.", "bold"))
        more = len(reached) - len(shown)
        body.append(Section("\n".join(shown + ([f"… and {more} more (all in the report)"]
                                               if more else []))))
    return [*body, *pending, tail]


def _length(sections: Sequence[Section], round_number: int) -> int:
    return len(f"Round {round_number} summary") + sum(len(spell(s.text)) + 2 for s in sections)


def study_ended_by_coordinator(last_round: int) -> Card:
    """What every expert gets when the coordinator ends the study between rounds."""
    return card(f"The study has ended after round {last_round}: the coordinator ended it. "
                "There will be no further round. Thank you for taking part; the steering "
                "committee will share the results.")


# --- report and comment moderation (bot/dialogue/report_commands.py) --------------------------

COMMENTS_HINT = say("Hidden comments are not shown to experts in the feedback; they stay in "
                    "the export, marked. ", Step("hide"), " <number> hides one, ",
                    Step("unhide"), " <number> shows it again.")


def comment_line(comment_id: int, code: str, version: int, text: str, hidden: bool,
                 kind: str = "comment", reply_to: int | None = None) -> str:
    label = version_key(code, version)
    flag = " [hidden]" if hidden else ""
    what = {"reason": " [reason]", "reply": f" [reply to #{reply_to}]"}.get(kind, "")
    return f"#{comment_id} {label}{what}{flag}: {text}"


def comment_moderated(comment_id: int, code: str, round_number: int, hidden: bool) -> str:
    if hidden:
        return (f"Comment #{comment_id} on {code} (round {round_number}) is hidden: experts "
                "will not see it in the feedback. It stays in comments.csv, marked hidden.")
    return f"Comment #{comment_id} on {code} (round {round_number}) is shown again."


def report_sent(study_id: str) -> str:
    return (f"Report of study {study_id}: report.html (self-contained, opens offline), its "
            "Markdown twin and report.docx for the manuscript. `delphi report` also writes "
            "every figure as PNG (300 dpi), SVG and PDF.")


# --- deadlines, nudges, digests (dialogue/scheduler) ------------------------------------

def time_left(left: int, pace: float | None) -> str:
    """How long ``left`` statements take: at the expert's own pace when known, else at
    the default pace, said as such."""
    seconds = left * (pace or DEFAULT_SECONDS_PER_STATEMENT)
    minutes = max(1, round(seconds / 60))
    amount = ("about a minute" if minutes == 1 else f"about {minutes} minutes" if minutes < 90
              else f"about {fmt(minutes / 60)} hours")
    return (f"{amount} at your pace so far" if pace is not None
            else f"{amount} at about half a minute a statement")


def nudge(progress: Progress, zone: str, pace: float | None = None) -> Card:
    """A reminder to an expert whose ballot is incomplete: how much is left, how long that
    takes (``pace``: their own seconds per statement, if known), until when, and one
    button that continues at the first unanswered statement."""
    left = progress.total - progress.answered
    when = format_time(progress.deadline, zone)
    if left:
        body: Words = say(f"Round {progress.round} closes {when}. You have {left} of "
                          f"{progress.total} statement{'s' if progress.total != 1 else ''} left "
                          f"to rate: {time_left(left, pace)}. ", Step("ballot"),
                          " or the button continues where you left off.")
        label = "Continue rating"
    else:
        body = (f"Round {progress.round} closes {when}. You have rated every statement; "
                "please review and submit your ballot so it counts.")
        label = "Review and submit"
    return card(body, heading="A friendly reminder",
                buttons=((Button(label, actions.encode(actions.Resume())),),))


def deadline_moved(round_number: int, deadline: datetime, zone: str) -> Card:
    return card(f"The deadline of round {round_number} has moved: it now closes "
                f"{format_time(deadline, zone)}.",
                buttons=((Button("Continue rating", actions.encode(actions.Resume())),),))


def deadline_ask(round_number: int, submitted: int, panel: int) -> Card:
    """The coordinators' question when a round's deadline passes and the study says ask."""
    return card(
        say(f"The deadline of round {round_number} has passed. {submitted} of {panel} experts "
            "have submitted. Close the round now (results and summaries go out), or keep it "
            "open with ", Step("extend"), " <when>, e.g. ", Step("extend"), " 3d."),
        heading=f"Round {round_number}: deadline reached",
        buttons=((Button("Close the round",
                         actions.encode(actions.CloseRound(round_number, True))),
                  Button("Keep open", actions.encode(actions.CloseRound(round_number, False)))),))


def closed_at_deadline(round_number: int) -> Card:
    return card(f"Round {round_number} closed automatically at its deadline; every expert "
                "gets the summary. The results follow.")


def digest(title: str, counts: Sequence[RoundCounts], zone: str) -> Card:
    """The coordinators' daily response counts, one line per round."""
    lines = [f"Round {c.number} ({c.status}): {c.submitted} of {c.panel} submitted, "
             f"{c.started} started" + (f"; closes {format_time(c.deadline, zone)}"
                                       if c.status == "open" else "") for c in counts]
    return card("\n".join(lines) or "No round has been opened yet.",
                heading=f"{title} · daily responses")


def nudged(sent: int, quiet: int, round_number: int) -> Card:
    tail = (f" {quiet} in their quiet hours were left for the next scheduled reminder."
            if quiet else "")
    return card(f"Round {round_number}: reminder queued for {sent} expert"
                f"{'s' if sent != 1 else ''} with an incomplete ballot.{tail}")


def chart_caption(round_number: int) -> str:
    return (f"Round {round_number} at a glance: how the panel rated each statement. Your "
            "own rating is outlined; green = agree, red = disagree, dashed line = median.")


def not_text(kind: str, prompt: str | None, captioned: bool) -> Card:
    """The answer to a photo, sticker, file...: nothing of it is kept. ``prompt`` is the
    kind of text answer the expert was asked for (a comment), if any."""
    article = "an" if kind[:1] in ("a", "e", "i", "o", "u") else "a"
    lost = f"{article} {kind} cannot be kept"
    if captioned:
        lost += ", and neither can its caption"
    if prompt is not None:
        what = "comment" if prompt == "comment" else "answer"
        return card(say(f"Please type your {what} as text: {lost}. Send it as a message, or ",
                        Step("ballot"), " to go on without it."))
    return card(say(f"I can only read text and button presses: {lost}. Please use the buttons "
                    "to rate, or send ", Step("ballot"), " to continue."))
