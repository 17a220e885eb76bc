"""The report as neutral blocks, section by section (see :mod:`engine.report.render`)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from engine.report import charts
from engine.report.checklist import checklist
from engine.report.data import SECTIONS, ReportData, Result, StatementData
from engine.report.render import (
    Block,
    Bullets,
    Contents,
    Group,
    Heading,
    Image,
    Paragraph,
    Quote,
    Table,
)
from engine.stats.rules import bands_for
from engine.studyfile import RuleSpec
from engine.verdict import UNCERTAIN

CLASS_WORDS = {"in": "consensus to endorse", "out": "consensus to reject",
               "none": "no consensus"}
SECTION_TITLES = {
    "recommendations": "Consensus recommendations",
    "uncertainty": "Areas of uncertainty (no final consensus)",
    "rejected": "Rejected statements (consensus against)",
    "dropped": "Dropped statements",
}
TOC = [("summary", "Summary"), ("protocol", "Protocol as pre-registered"),
       ("flow", "Participant flow"), *((s, SECTION_TITLES[s]) for s in SECTIONS),
       ("rounds", "Results per round"), ("charts", "Charts"),
       ("changes", "Statement change log"), ("sensitivity", "Sensitivity analysis"),
       ("actions", "Coordinator actions"), ("methods", "Methods and reproducibility"),
       ("checklist", "Reporting checklist")]
STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from
further had has have having he her here hers him his how i if in into is it its itself
just many may me might more most much must my need needs no nor not now of off on once one
only or other our out over own same shall she should so some such than that the their them
then there these they this those through to too under until up very was we well were what
when where which while who whom why will with would you your yours
""".split())  # noqa: SIM905 - a word list reads better as text
WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:
        return "–"
    return f"{round(value, digits):g}"


def when(moment: datetime | None) -> str:
    return "–" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def _points(values: list[int] | None) -> str:
    if not values:
        return "scale default"
    return ", ".join(str(v) for v in values)


def describe_rule(rule: RuleSpec, points: int, depth: int = 0) -> list[str]:
    """The consensus rule with every parameter, in words (sub-rules indented)."""
    bands = bands_for(rule, points)
    agree, disagree = list(bands.agree), list(bands.disagree)
    pad = "  " * depth
    group = " — must hold in every stakeholder group" if rule.every_group else ""
    if rule.rule == "percent_agreement":
        text = (f"percent agreement: in when ≥ {rule.threshold * 100:g} % of valid ratings "
                f"are in the agree set {{{_points(agree)}}}; out when ≥ "
                f"{rule.threshold * 100:g} % are in the disagree set {{{_points(disagree)}}}")
    elif rule.rule == "median_iqr":
        text = (f"median and IQR: in when median ≥ {fmt(rule.median_agree)} and IQR ≤ "
                f"{fmt(rule.max_iqr)}; out when median ≤ {fmt(rule.median_disagree)} and "
                f"IQR ≤ {fmt(rule.max_iqr)}")
    elif rule.rule == "grade_70_15":
        text = (f"GRADE / COMET: in when ≥ {rule.grade_in * 100:g} % rate in "
                f"{{{_points(agree)}}} and < {rule.grade_against * 100:g} % in "
                f"{{{_points(disagree)}}}; out is the mirror")
    elif rule.rule == "rand_ucla":
        text = ("RAND/UCLA appropriateness: median 7-9 in, 1-3 out, otherwise uncertain; "
                f"uncertain whenever there is disagreement ({rule.disagreement} method)")
    else:
        joined = "every" if rule.rule == "all_of" else "at least one (and none opposite)"
        text = f"{rule.rule}: {joined} of the following rules"
    lines = [f"{pad}{text}{group}"]
    for sub in rule.rules:
        lines += describe_rule(sub, points, depth + 1)
    return lines


def stability_text(result: Result) -> str:
    if result.stable is None:
        return "not assessed (first rating of this wording)"
    change = (f", {fmt(result.pct_change)} % changed" if result.pct_change is not None
              else "")
    return ("stable" if result.stable else "not stable") + change


def _stats_line(result: Result, versions: int = 1) -> str:
    wording = f" (wording v{result.version})" if versions > 1 else ""
    return (f"Round {result.round}{wording}: n = {result.n} (unable to rate: "
            f"{result.n_unable}), "
            f"median {fmt(result.median, 2)}, IQR {fmt(result.q1, 2)}–{fmt(result.q3, 2)}, "
            f"{fmt(result.pct_agree)} % agree, {fmt(result.pct_disagree)} % disagree; "
            f"{CLASS_WORDS.get(result.consensus, result.consensus)}; "
            f"stability: {stability_text(result)}.")


def key_terms(texts: list[str], limit: int = 8) -> list[tuple[str, int]]:
    """Words used more than once across the comments (stop words removed). A count, not
    an analysis: the themes are for the authors to name. Ties are in alphabetical order,
    so the same comments always give the same list."""
    counts = Counter(w for t in texts for w in {m.lower() for m in WORD.findall(t)}
                     if w not in STOPWORDS)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(w, c) for w, c in ranked if c >= 2][:limit]


def _comments(statement: StatementData) -> list[Block]:
    shown = [c for c in statement.comments if not c.hidden and c.kind == "comment"]
    hidden = sum(1 for c in statement.comments if c.hidden)
    blocks: list[Block] = []
    for number in sorted({c.round for c in shown}):
        blocks.append(Paragraph(f"Comments in round {number} (anonymous, verbatim):"))
        blocks += [Quote(c.text) for c in shown if c.round == number]
    terms = key_terms([c.text for c in shown])
    if terms:
        blocks.append(Paragraph("Frequent words in these comments (count of comments using "
                                "each): " + ", ".join(f"{w} ({c})" for w, c in terms) + "."))
    blocks += _explained(statement)
    if not blocks:
        note = " (all hidden by moderation)" if hidden else ""
        return [Paragraph(f"No comments{note}.", note=True)]
    if hidden:
        blocks.append(Paragraph(f"{hidden} comment(s) hidden by the coordinator are not "
                                "shown (they are in comments.csv, marked).", note=True))
    return blocks


def _explained(statement: StatementData) -> list[Block]:
    """Outlying ratings and their reasons, and the anonymous reply threads: what
    ``[feedback] ask_reason`` and ``replies`` collected on this statement."""
    blocks: list[Block] = []
    if statement.outlying:
        blocks.append(Paragraph("Ratings away from the panel (asked for a reason): " + "; ".join(
            f"round {o.round}: {o.outlying}, {o.explained} explained"
            for o in statement.outlying) + "."))
    visible = [c for c in statement.comments if not c.hidden]
    for number in sorted({c.round for c in visible if c.kind == "reason"}):
        blocks.append(Paragraph(f"Reasons for outlying ratings in round {number} (anonymous, "
                                "verbatim):"))
        blocks += [Quote(c.text) for c in visible if c.round == number and c.kind == "reason"]
    parents = {c.id: c for c in visible}
    threads: dict[int, list[str]] = {}
    for reply in (c for c in visible if c.kind == "reply"):
        if reply.reply_to in parents:
            threads.setdefault(reply.reply_to, []).append(reply.text)
    if threads:
        blocks.append(Paragraph("Replies between experts (anonymous threads):"))
        for parent_id, replies in sorted(threads.items()):
            parent = parents[parent_id]
            blocks.append(Quote(f"Round {parent.round}: {parent.text}"))
            blocks += [Quote(f"↳ reply: {r}") for r in replies]
    return blocks


def _statement_group(statement: StatementData, section: str, ended: bool) -> Group:
    final = statement.final
    version = f" (v{final.version})" if final and final.version > 1 else ""
    blocks: list[Block] = [
        Heading(4, f"{statement.code}{version} · {statement.domain}"),
        Paragraph(statement.final_text),
        Paragraph(f"Verdict under the pre-registered protocol: "
                  f"{statement.verdict.label_while(ended)}.")]
    if section == "recommendations" and final:
        reached = min(r.round for r in statement.results
                      if r.consensus == "in" and r.version == final.version)
        blocks.append(Paragraph(f"Consensus reached in round {reached}."))
        blocks += [Paragraph(_stats_line(r, len(statement.versions))) for r in statement.results]
        blocks += _explained(statement)
    elif section == "dropped":
        reason = statement.drop_reason or "no reason recorded"
        blocks.append(Paragraph(f"Dropped from round {statement.dropped_in_round} on: "
                                f"{reason}."))
        blocks += [Paragraph(_stats_line(r, len(statement.versions))) for r in statement.results]
        if not statement.results:
            blocks.append(Paragraph("Never rated.", note=True))
    else:
        if not statement.results:
            blocks.append(Paragraph("Not rated (no ratings were recorded).", note=True))
        blocks += [Paragraph(_stats_line(r, len(statement.versions))) for r in statement.results]
        blocks += _comments(statement)
    return Group(statement.code, section, blocks)


def _section(data: ReportData, section: str) -> list[Block]:
    members = data.in_section(section)
    ended = data.study_ended
    blocks: list[Block] = [Heading(2, SECTION_TITLES[section], section)]
    if not members:
        return [*blocks, Paragraph("None.", note=True)]
    if section == "uncertainty":
        for kind in UNCERTAIN:
            kind_members = data.with_verdict(kind)
            if kind_members:
                label = kind.label_while(ended)
                blocks.append(Heading(3, f"{label[0].upper()}{label[1:]} "
                                         f"({len(kind_members)})"))
                blocks += [_statement_group(s, section, ended) for s in kind_members]
        return blocks
    domains = list(dict.fromkeys(s.domain for s in members))
    for domain in domains:
        blocks.append(Heading(3, domain))
        blocks += [_statement_group(s, section, ended) for s in members if s.domain == domain]
    return blocks


def _summary(data: ReportData) -> list[Block]:
    counts = {s: len(data.in_section(s)) for s in SECTIONS}
    closed = [r for r in data.rounds if r.status == "closed"]
    kinds = "; ".join(f"{kind.label_while(data.study_ended)}: {len(data.with_verdict(kind))}"
                      for kind in UNCERTAIN if data.with_verdict(kind))
    return [
        Heading(1, data.title),
        Paragraph(f"Delphi study report · study id {data.study_id} · generated "
                  f"{when(data.generated_at)} by the delphi bot.", note=True),
        Contents(TOC),
        Heading(2, "Summary", "summary"),
        Paragraph(f"{len(data.statements)} statements were considered over "
                  f"{len(closed)} closed round(s) (at most {data.spec.study.max_rounds} "
                  f"pre-registered). Under the pre-registered protocol: consensus to "
                  f"endorse: {counts['recommendations']}; consensus to reject: "
                  f"{counts['rejected']}; no final consensus: {counts['uncertainty']}"
                  + (f" ({kinds})" if kinds else "") + f"; dropped: {counts['dropped']}."),
        Paragraph(_stopped(data)),
        Paragraph("Study description as shown to the experts before consent:"),
        Quote(data.description),
    ]


def _stopped(data: ReportData) -> str:
    """Why the study stopped, as recorded when it stopped."""
    closed = [r.number for r in data.rounds if r.status == "closed"]
    last = f"after round {closed[-1]}" if closed else "before any round closed"
    if data.stopped_because is not None:
        return (f"Why the study stopped: {data.stopped_because.label} ({last}, "
                f"{when(data.ended_at)}).")
    if data.study_ended:
        return f"The study stopped {last}; the reason was not recorded."
    return ("The study has not ended: rounds remain, so every verdict below is provisional "
            "(as of the last closed round).")


def _feedback_rows(protocol: dict[str, Any]) -> list[list[str]]:
    """The frozen settings that change what experts were asked and shown."""
    confidence = protocol.get("scale", {}).get("confidence", "off")
    feedback = protocol.get("feedback", {})
    reason = feedback.get("ask_reason", "off")
    return [
        ["Confidence (sensitivity analysis only)",
         {"off": "not asked", "per_statement": "low / medium / high, once per statement",
          "per_domain": "low / medium / high, once per domain and round"}[confidence]],
        ["Reason for an outlying rating",
         {"off": "not asked",
          "outside_iqr": "asked (skippable) from round 2 for a rating outside the previous "
                         "round's IQR",
          "changed": "asked (skippable) from round 2 for a rating 2 or more points from the "
                     "expert's own previous rating"}[reason]],
        ["Feedback by stakeholder group",
         "each group's distribution and median (groups under 3 valid ratings not shown)"
         if feedback.get("by_group") else "whole panel only"],
        ["Anonymous replies to comments",
         "each shown comment can be answered once" if feedback.get("replies") else "off"],
    ]


def _protocol(data: ReportData) -> list[Block]:
    spec = data.spec
    scale = data.protocol.get("scale", {})
    stopping = spec.stopping
    labels = "; ".join(f"{i} = {label}" for i, label in enumerate(spec.scale.labels, 1))
    quantile = {"type7": "type 7 (linear; numpy/pandas/R default, Excel QUARTILE.INC)",
                "type6": "type 6 (SPSS HAVERAGE, Excel QUARTILE.EXC)"}[spec.consensus.quantile]
    stability = {"percent_change": f"percent change ≤ {stopping.percent_change_limit * 100:g}"
                                   " % between rounds (Scheibe)",
                 "wilcoxon": f"Wilcoxon signed-rank, not significant at α = {stopping.alpha:g}",
                 "mcnemar": f"McNemar (exact) on agree / not agree, not significant at α = "
                            f"{stopping.alpha:g}"}[stopping.stability]
    stop = ("a statement is resolved once it reaches consensus"
            + (" and is stable" if stopping.require_stability else "")
            + "; statements without consensus are rated again"
            + (" and statements with consensus are carried too" if stopping.carry_consensus
               else "")
            + f"; the study ends when nothing is left to rate or after "
              f"{data.protocol.get('max_rounds')} rounds")
    rows = [
        ["Rating scale", f"{scale.get('points')} points: {labels}"],
        ["Unable to rate", "offered (excluded from valid n)" if spec.scale.unable_to_rate
         else "not offered"],
        ["Consensus rule", "\n".join(describe_rule(spec.consensus, spec.scale.points))],
        ["Quantile (quartile) method", quantile],
        ["Stability test", stability],
        ["Stopping rule", stop],
        ["Maximum number of rounds", str(data.protocol.get("max_rounds"))],
        *_feedback_rows(data.protocol),
        ["Protocol hash (SHA-256)", data.protocol_hash + (
            " (verified: matches the stored protocol)" if data.hash_verified
            else " (MISMATCH: the stored protocol does not match its hash)")],
        ["Frozen at", when(data.frozen_at) + (" (when round 1 opened)" if data.frozen_at
                                               else " (not yet: round 1 has not opened)")],
        ["Study file loaded", when(data.loaded_at)],
    ]
    blocks: list[Block] = [Heading(2, "Protocol as pre-registered", "protocol"),
                           Table(["Item", "Pre-registered value"], rows)]
    if spec.screening:
        blocks.append(Paragraph("Eligibility screening questions (answers that make an "
                                "expert eligible in brackets):"))
        blocks.append(Bullets([f"{q.question} [{', '.join(q.eligible) or 'assigns group'}]"
                               for q in spec.screening]))
    if data.protocol_changes:
        blocks.append(Table(["When", "Change"], [[when(c.at), f"{c.action}: {c.detail}"]
                                                  for c in data.protocol_changes],
                            caption="Logged changes to the protocol"))
    else:
        blocks.append(Paragraph("No change to the protocol was logged after it was frozen."))
    return blocks


def _flow(data: ReportData, images: bool) -> list[Block]:
    rows = [[str(f.number), f.status, when(f.opened_at), when(f.closed_at), str(f.items),
             str(f.invited), str(f.consented), str(f.eligible), str(f.started),
             str(f.submitted), str(f.withdrawn), str(f.unreachable),
             "–" if f.response_rate is None else f"{fmt(f.response_rate)} %"]
            for f in data.rounds]
    blocks: list[Block] = [
        Heading(2, "Participant flow", "flow"),
        Table(["Round", "Status", "Opened", "Closed", "Statements", "Invited", "Consented",
               "Eligible", "Started", "Submitted", "Withdrawn", "Unreachable",
               "Response rate"], rows, caption="Participant flow per round"),
        Paragraph("Invited, consented, withdrawn and unreachable are cumulative at the "
                  "round's close. Eligible = the panel asked to rate in that round (passed "
                  "screening and not withdrawn when it opened, or held a ballot in it). "
                  "Started = opened a ballot; submitted = submitted the ballot. Response "
                  "rate = submitted / eligible.", note=True)]
    if images and data.rounds:
        blocks.append(Image("flow.png", charts.flow_chart(data.rounds),
                            "Participant flow diagram", "Figure 1. Participant flow."))
    return blocks


def _rounds(data: ReportData) -> list[Block]:
    points = data.spec.scale.points
    blocks: list[Block] = [Heading(2, "Results per round", "rounds")]
    for flow in data.rounds:
        rows = []
        for statement in data.statements:
            for r in statement.results:
                if r.round != flow.number:
                    continue
                rows.append([statement.code + (f".v{r.version}" if r.version > 1 else ""),
                             str(r.n), str(r.n_unable),
                             *(str(r.counts.get(p, 0)) for p in range(1, points + 1)),
                             fmt(r.median, 2), f"{fmt(r.q1, 2)}–{fmt(r.q3, 2)}",
                             fmt(r.iqr, 2),
                             fmt(r.pct_agree), fmt(r.pct_disagree), r.consensus,
                             stability_text(r)])
        if rows:
            blocks.append(Table(["Statement", "n", "Unable", *map(str, range(1, points + 1)),
                                 "Median", "Q1–Q3", "IQR", "% agree", "% disagree", "Class",
                                 "Stability"], rows,
                                caption=f"Round {flow.number}: counts per scale point"))
    blocks.append(Paragraph("n = valid ratings (unable to rate excluded); columns 1.."
                            f"{points} = number of experts choosing each point; class in = "
                            "consensus to endorse, out = consensus to reject, none = no "
                            "consensus. A revised wording (.v2) is a new question: its "
                            "stability is not tested against the old wording.", note=True))
    return blocks


def _charts(data: ReportData) -> list[Block]:
    bands = bands_for(data.spec.consensus, data.spec.scale.points)
    scale = charts.Bands(data.spec.scale.points, bands.agree, bands.disagree)
    numbers = [f.number for f in data.rounds if f.status == "closed"]
    blocks: list[Block] = [Heading(2, "Charts", "charts")]
    if numbers:
        blocks.append(Image("consensus-per-round.png",
                            charts.consensus_chart(data.statements, numbers),
                            "Number of statements by consensus class per round",
                            "Figure 2. Statements by class in each round and the cumulative "
                            "number endorsed."))
    for index, statement in enumerate(data.statements, start=1):
        if statement.results:
            blocks.append(Image(f"statement-{statement.code}.png",
                                charts.statement_chart(statement, scale),
                                f"Distribution of ratings of {statement.code} by round",
                                f"Figure 3.{index}. {statement.code}: green = agree set, "
                                "red = disagree set, dashed line = median."))
    return blocks


def _changes(data: ReportData) -> list[Block]:
    rows: list[list[str]] = []
    for s in data.statements:
        first = s.versions[0]
        kind = "initial" if s.added_in_round == 1 else "added"
        rows.append([s.code, kind, f"round {s.added_in_round}", first.text, "",
                     "" if kind == "initial" else "added by the steering committee"])
        for v in s.versions[1:]:
            rows.append([s.code, f"revised (v{v.revised_from} → v{v.version})",
                         f"round {v.first_round}", v.text, s.text_of(v.revised_from or 1),
                         v.change_note or ""])
        if s.dropped_in_round is not None:
            rows.append([s.code, "dropped", f"round {s.dropped_in_round}", "", "",
                         s.drop_reason or "no reason recorded"])
    return [Heading(2, "Statement change log", "changes"),
            Table(["Statement", "Change", "From", "New text", "Previous text", "Reason / note"],
                  rows)]


def _sensitivity(data: ReportData) -> list[Block]:
    from engine.stats import changed_statements, sensitivity_table, with_confidence

    blocks: list[Block] = [Heading(2, "Sensitivity analysis", "sensitivity")]
    if data.ratings.empty:
        return [*blocks, Paragraph("No ratings yet.", note=True)]
    table = with_confidence(
        sensitivity_table(data.ratings, data.spec.consensus, data.spec.scale.points),
        data.ratings, data.spec.consensus, data.spec.scale.points)
    described = dict(zip(table["definition"], table["description"], strict=False))
    blocks.append(Paragraph("The same ratings classified under common alternative consensus "
                            "definitions (Webbe et al., Trials 2023 show that the definition "
                            "changes results). 'study' is the pre-registered rule."))
    blocks.append(Table(["Definition", "Description"],
                        [[name, text] for name, text in described.items()]))
    wide = changed_statements(table)
    cells = table[["round", "statement"]].drop_duplicates()
    if wide.empty:
        blocks.append(Paragraph(f"No statement changes class under any alternative "
                                f"definition ({len(cells)} statement-rounds checked)."))
        return blocks
    blocks.append(Paragraph(f"{len(wide)} of {len(cells)} statement-rounds change class "
                            "under at least one alternative:"))
    blocks.append(Table([str(c) for c in wide.columns],
                        [[str(v) for v in row] for row in wide.itertuples(index=False)],
                        caption="Statements whose class depends on the definition"))
    return blocks


def _actions(data: ReportData) -> list[Block]:
    shown = {"openround", "closeround", "revise", "drop", "add", "hide", "unhide"}

    def detail(d: dict[str, Any]) -> str:
        return f"round {d['round']}" if "round" in d else str(d.get("args") or "")

    # /closeround only asks for confirmation; the confirmed close is logged with its round.
    rows = [[when(a.at), a.action, detail(a.detail)] for a in data.actions
            if a.action in shown and not (a.action == "closeround" and "round" not in a.detail)]
    return [Heading(2, "Coordinator actions", "actions"),
            Paragraph("Round control, statement changes and comment moderation from the "
                      "audit log (who acted is not shown)."),
            Table(["When", "Action", "Detail"], rows) if rows else Paragraph("None.")]


def _methods(data: ReportData) -> list[Block]:
    return [
        Heading(2, "Methods and reproducibility", "methods"),
        Bullets([
            "Experts rated each statement in a private chat with the bot, one tap per "
            "statement, and could add a comment or answer 'unable to rate'.",
            "Anonymity: platform identities are stored apart from the ratings; ratings, "
            "comments, exports and this report carry pseudonyms only, and the feedback "
            "shows no pseudonyms at all.",
            "Feedback between rounds: for every statement rated again, each expert saw the "
            "panel's distribution, median, interquartile range and % agreement from the "
            "previous round, their own previous rating, the previous wording if it was "
            "revised, and the other experts' comments (comments hidden by the coordinator "
            "excepted).",
            "Statistics: valid n excludes 'unable to rate'; quartiles by the pre-registered "
            "method; stability between rounds only for statements carried unchanged "
            "(percent change, Wilcoxon signed-rank and McNemar are all computed; the "
            "pre-registered one decides).",
            "Reproduce every number: `delphi analyze ratings.csv --study STUDY.toml --methods` on "
            "the exported ratings.csv gives results.csv byte for byte; "
            "`--sensitivity` gives the sensitivity table.",
            "Data: ratings.csv, results.csv, statements.csv, comments.csv, "
            "participants.csv, flow.csv and study.xlsx (one sheet each), pseudonyms only.",
        ]),
    ]


def _checklist() -> list[Block]:
    titles = dict(TOC)
    status_words = {"report": "answered", "partly": "partly (authors add context)",
                    "authors": "authors must write"}
    blocks: list[Block] = [
        Heading(2, "Reporting checklist", "checklist"),
        Paragraph("Items of ACCORD (Gattrell et al., PLoS Med 2024), CREDES (Jünger et al., "
                  "Palliat Med 2017) and DELPHISTAR (Niederberger et al., PLoS One 2024) "
                  "that this software can support, and where this report answers them. "
                  "Item topics are paraphrased and item numbers omitted: check them "
                  "against the official checklists.", note=True)]
    for guideline in ("ACCORD", "CREDES", "DELPHISTAR"):
        rows = [[item.topic, status_words[item.status],
                 titles.get(item.where, "–") if item.where else "–", item.note]
                for item in checklist() if item.guideline == guideline]
        blocks.append(Table(["Item (paraphrased)", "Status", "Where in this report", "Note"],
                            rows, caption=guideline))
    return blocks


def build_blocks(data: ReportData, images: bool = True) -> list[Block]:
    blocks = [*_summary(data), *_protocol(data), *_flow(data, images)]
    for section in SECTIONS:
        blocks += _section(data, section)
    blocks += _rounds(data)
    if images:
        blocks += _charts(data)
    blocks += [*_changes(data), *_sensitivity(data), *_actions(data), *_methods(data),
               *_checklist()]
    return blocks
