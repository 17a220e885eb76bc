"""The report as neutral blocks, section by section (see :mod:`engine.report.render`)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from engine.numbers import fmt, iqr_range, quartile_range
from engine.report import charts
from engine.report.checklist import ANSWERED, CITATIONS, GUIDELINES, PARTLY, VERIFIED
from engine.report.checks import method_checks
from engine.report.data import SECTIONS, ReportData, StatementData
from engine.report.render import (
    Block,
    Bullets,
    Contents,
    Group,
    Heading,
    Image,
    Link,
    Paragraph,
    Preformatted,
    Quote,
    Table,
)
from engine.report.tables import plural, table_1, table_2
from engine.statement_statistics import StatementStatistics
from engine.stats.rules import bands_for
from engine.studyfile import RuleSpec, share_fraction
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
       ("panel", "The panel (Table 1)"), ("flow", "Participant flow (Figure 1)"),
       ("results", "Results (Table 2, Figures 2-4)"), ("conduct", "How the study ran"),
       ("sensitivity", "Sensitivity analysis"), ("changes", "Statement change log"),
       ("actions", "Coordinator actions"), ("methods", "Methods and reproducibility"),
       ("checklist", "Reporting checklists"), ("appendix", "Appendix A: statements in full"),
       ("rounds", "Appendix B: ratings per round")]
ANCHOR_TITLES = {**dict(TOC), "table-1": "Table 1", "table-2": "Table 2",
                 **{s: SECTION_TITLES[s] for s in SECTIONS}}
STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from
further had has have having he her here hers him his how i if in into is it its itself
just many may me might more most much must my need needs no nor not now of off on once one
only or other our out over own same shall she should so some such than that the their them
then there these they this those through to too under until up very was we well were what
when where which while who whom why will with would you your yours
against almost already although always among another anything around away back become
cannot case cases certainly clearly else enough especially etc even ever every get gets
given go going good got however instead less like likely little lot make makes mostly
never often perhaps quite rarely rather really say see seem seems since something still
sure take thing things think though thus together toward towards usually way ways whether
within without yes yet
""".split())  # noqa: SIM905 - a word list reads better as text
WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


def when(moment: datetime | None) -> str:
    return "–" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def _points(values: list[int] | None) -> str:
    if not values:
        return "scale default"
    return ", ".join(str(v) for v in values)


def _share(value: float | str) -> str:
    """A threshold as pre-registered: ``75 %``, or ``5/7 (71.43 %)`` when given as text."""
    if isinstance(value, str):
        return f"{value} ({fmt(float(share_fraction(value)) * 100, 2)} %)"
    return f"{value * 100:g} %"


def describe_rule(rule: RuleSpec, points: int, depth: int = 0) -> list[str]:
    """The consensus rule with every parameter, in words (sub-rules indented)."""
    bands = bands_for(rule, points)
    agree, disagree = list(bands.agree), list(bands.disagree)
    pad = "  " * depth
    group = " — must hold in every stakeholder group" if rule.every_group else ""
    if rule.rule == "percent_agreement":
        text = (f"percent agreement: in when ≥ {_share(rule.threshold)} of valid ratings "
                f"are in the agree set {{{_points(agree)}}}; out when ≥ "
                f"{_share(rule.threshold)} are in the disagree set {{{_points(disagree)}}}")
    elif rule.rule == "median_iqr":
        text = (f"median and IQR: in when median ≥ {fmt(rule.median_agree)} and IQR ≤ "
                f"{fmt(rule.max_iqr)}; out when median ≤ {fmt(rule.median_disagree)} and "
                f"IQR ≤ {fmt(rule.max_iqr)}")
    elif rule.rule == "grade_70_15":
        text = (f"GRADE / COMET: in when ≥ {_share(rule.grade_in)} rate in "
                f"{{{_points(agree)}}} and < {_share(rule.grade_against)} in "
                f"{{{_points(disagree)}}}; out is the mirror")
    elif rule.rule == "rand_ucla":
        boundary = ("medians 6.5 and 3.5 count as appropriate / inappropriate (outer "
                    "regions; a convention of some panels, not the manual's)"
                    if rule.median_boundary == "outer" else
                    "medians 6.5 and 3.5 are uncertain (the manual's 7-9 / 1-3 regions)")
        method = ("interpercentile range adjusted for symmetry (IPRAS, as in the manual)"
                  if rule.disagreement == "ipr" else
                  "count method (the manual's table covers 8-16 panellists; for other panel "
                  "sizes delphi extrapolates it, about a third of the panel in each "
                  "extreme: our extension, not the manual's)")
        text = ("RAND/UCLA appropriateness (Fitch et al., The RAND/UCLA Appropriateness "
                "Method User's Manual, RAND MR-1269, 2001): median 7-9 in, 1-3 out, otherwise "
                f"uncertain; {boundary}; uncertain whenever there is disagreement, by the "
                f"{method}")
    else:
        joined = "every" if rule.rule == "all_of" else "at least one (and none opposite)"
        text = f"{rule.rule}: {joined} of the following rules"
    lines = [f"{pad}{text}{group}"]
    for sub in rule.rules:
        lines += describe_rule(sub, points, depth + 1)
    return lines


def stability_text(result: StatementStatistics) -> str:
    if result.stable is None:
        return "not assessed (first rating of this wording)"
    change = (f", {fmt(result.pct_change)} % changed" if result.pct_change is not None
              else "")
    return ("stable" if result.stable else "not stable") + change


def _stats_line(result: StatementStatistics, versions: int = 1) -> str:
    wording = f" (wording v{result.version})" if versions > 1 else ""
    return (f"Round {result.round}{wording}: n = {result.n} (unable to rate: "
            f"{result.n_unable}), "
            f"median {fmt(result.median, 2)}, {iqr_range(result.q1, result.q3)}, "
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
        blocks.append(Paragraph(f"{plural(hidden, 'comment')} hidden by the coordinator "
                                f"{'is' if hidden == 1 else 'are'} not shown (in "
                                "comments.csv, marked).", note=True))
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
        Heading(5, f"{statement.code}{version} · {statement.domain}"),
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
    blocks: list[Block] = [Heading(3, SECTION_TITLES[section], section)]
    if not members:
        return [*blocks, Paragraph("None.", note=True)]
    if section == "uncertainty":
        for kind in UNCERTAIN:
            kind_members = data.with_verdict(kind)
            if kind_members:
                label = kind.label_while(ended)
                blocks.append(Heading(4, f"{label[0].upper()}{label[1:]} "
                                         f"({len(kind_members)})"))
                blocks += [_statement_group(s, section, ended) for s in kind_members]
        return blocks
    domains = list(dict.fromkeys(s.domain for s in members))
    for domain in domains:
        blocks.append(Heading(4, domain))
        blocks += [_statement_group(s, section, ended) for s in members if s.domain == domain]
    return blocks


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
        ["Minimum valid ratings", f"{spec.consensus.min_valid}: fewer valid ratings is "
         "reported as 'too few valid ratings', never consensus"],
        ["Denominator of the shares", "valid ratings and 'unable to rate' answers"
         if spec.consensus.unable_in_denominator else
         "valid ratings only ('unable to rate' excluded)"],
        ["Ballots counted", "submitted ballots only (statistics and response rate)"
         if spec.consensus.ballots == "submitted" else
         "every answered statement, submitted or not (statistics and response rate)"],
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


def _rounds(data: ReportData) -> list[Block]:
    points = data.spec.scale.points
    blocks: list[Block] = [Heading(2, "Appendix B: ratings per round", "rounds")]
    for flow in data.rounds:
        rows = []
        for statement in data.statements:
            for r in statement.results:
                if r.round != flow.number:
                    continue
                rows.append([r.key,
                             str(r.n), str(r.n_unable),
                             *(str(r.counts.get(p, 0)) for p in range(1, points + 1)),
                             fmt(r.median, 2), quartile_range(r.q1, r.q3),
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


def verdicts(data: ReportData) -> dict[str, str]:
    """Each statement's verdict under the frozen protocol (:mod:`engine.verdict`), worded
    for the reader (interim wording while rounds remain)."""
    return {s.code: s.verdict.label_while(data.study_ended) for s in data.statements}


def _summary(data: ReportData) -> list[Block]:
    counts = {s: len(data.in_section(s)) for s in SECTIONS}
    closed = [r for r in data.rounds if r.status == "closed"]
    kinds = "; ".join(f"{kind.label_while(data.study_ended)}: {len(data.with_verdict(kind))}"
                      for kind in UNCERTAIN if data.with_verdict(kind))
    return [
        Heading(1, data.title),
        Paragraph(f"Delphi study report · study id {data.study_id} · generated "
                  f"{when(data.generated_at)} by delphi {data.conduct.version}.", note=True),
        Contents(TOC),
        Heading(2, "Summary", "summary"),
        Paragraph(f"{plural(len(data.statements), 'statement')} were considered over "
                  f"{plural(len(closed), 'closed round')} (at most "
                  f"{data.spec.study.max_rounds} pre-registered) by a panel of "
                  f"{plural(len(data.panel.eligible), 'eligible expert')}. Under the "
                  f"pre-registered protocol: consensus to endorse: "
                  f"{counts['recommendations']}; consensus to reject: {counts['rejected']}; "
                  f"no final consensus: {counts['uncertainty']}"
                  + (f" ({kinds})" if kinds else "") + f"; dropped: {counts['dropped']}."),
        Paragraph(_stopped(data)),
        Paragraph("Study description as shown to the experts before consent:"),
        Quote(data.description),
    ]


def _panel(data: ReportData) -> list[Block]:
    return [Heading(2, "The panel (Table 1)", "panel"),
            *table_1(data.panel, data.conduct.late_joiners)]


def flow_steps(data: ReportData) -> list[charts.FlowStep]:
    panel = data.panel
    lost = [f"Declined consent: {panel.declined}",
            *(f"Screened out ({q.id}: {a}): {n}" for q, a, n in panel.exclusions())]
    if panel.not_answered:
        lost.append(f"Did not finish consent or screening: {panel.not_answered}")
    steps = [charts.FlowStep(f"Invited\nn = {panel.invited}",
                             f"Did not join\nn = {panel.invited - panel.joined}"),
             charts.FlowStep(f"Joined\nn = {panel.joined}", "\n".join(lost)),
             charts.FlowStep(f"Eligible panel\nn = {len(panel.eligible)}",
                             f"Joined after round 1: {data.conduct.late_joiners}"
                             if data.conduct.late_joiners else None)]
    withdrawn = 0
    for flow in data.rounds:
        rate = "–" if flow.response_rate is None else f"{flow.response_rate:.0f} %"
        aside = [f"Withdrew: {flow.withdrawn - withdrawn}",
                 f"Did not respond: {max(0, flow.eligible - flow.submitted)}"]
        if flow.unreachable:
            aside.append(f"Unreachable: {flow.unreachable}")
        steps.append(charts.FlowStep(
            f"Round {flow.number} ({plural(flow.items, 'statement')})\n"
            f"responded {flow.submitted} of {flow.eligible} ({rate})", "\n".join(aside)))
        withdrawn = flow.withdrawn
    return steps


def _flow(data: ReportData, images: bool) -> list[Block]:
    rows = [[str(f.number), f.status, when(f.opened_at), when(f.closed_at), str(f.items),
             str(f.eligible), str(f.started), str(f.submitted), str(f.withdrawn),
             str(f.unreachable),
             "–" if f.response_rate is None else f"{fmt(f.response_rate)} %"]
            for f in data.rounds]
    blocks: list[Block] = [Heading(2, "Participant flow (Figure 1)", "flow")]
    if images:
        blocks.append(Image("figure-1-flow", charts.flow_chart(flow_steps(data)),
                            "Participant flow diagram",
                            "Figure 1. Participant flow, from invitation to the last round.",
                            anchor="figure-1"))
    blocks += [
        Table(["Round", "Status", "Opened", "Closed", "Statements", "Eligible", "Started",
               "Submitted", "Withdrawn (cumulative)", "Unreachable", "Response rate"], rows,
              caption="Participant flow per round"),
        Paragraph("Eligible = the panel asked to rate in that round (passed screening and "
                  "not withdrawn when it opened, or held a ballot in it). Started = opened a "
                  "ballot; submitted = submitted it. Response rate = "
                  + ("submitted" if data.spec.consensus.ballots == "submitted"
                     else "answered at least one statement")
                  + " / eligible: the experts whose ratings the statistics use "
                  "(pre-registered 'ballots counted').",
                  note=True)]
    if data.retention:
        first = {g: n for r, g, n, _ in data.retention if r == data.rounds[0].number}
        blocks.append(Table(
            ["Round", "Stakeholder group", "Eligible", "Submitted", "Response",
             "Retention (submitted / eligible in round 1)"],
            [[str(r), g, str(n), str(k), "–" if not n else f"{100 * k / n:.0f} %",
              "–" if not first.get(g) else f"{100 * k / first[g]:.0f} %"]
             for r, g, n, k in data.retention],
            caption="Response and retention per round and stakeholder group"))
    return blocks


def threshold_of(rule: RuleSpec) -> float | None:
    """The % agreement threshold of the pre-registered rule, if it has one."""
    if rule.rule == "percent_agreement":
        return float(share_fraction(rule.threshold)) * 100
    if rule.rule == "grade_70_15":
        return float(share_fraction(rule.grade_in)) * 100
    return next((t for t in (threshold_of(r) for r in rule.rules) if t is not None), None)


def _ordered(data: ReportData) -> list[StatementData]:
    domains = list(dict.fromkeys(s.domain for s in data.statements))
    return sorted(data.statements, key=lambda s: (domains.index(s.domain), s.position))


def _results(data: ReportData, images: bool) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Results (Table 2, Figures 2-4)", "results"),
                           *table_2(data, verdicts(data))]
    if not images:
        return blocks
    colour = {"recommendations": "in", "rejected": "out"}
    rated = [s for s in _ordered(data) if s.results]
    if rated:
        rows = [charts.Trajectory(s.code, s.domain, [(r.round, r.pct_agree)
                                                     for r in s.results],
                                  colour.get(s.section, "none")) for s in rated]
        threshold = threshold_of(data.spec.consensus)
        line = (f"the dashed line is the pre-registered threshold of {threshold:g} %"
                if threshold is not None else "the pre-registered rule has no single "
                "% threshold, so none is drawn")
        blocks.append(Image("figure-2-overview", charts.overview_chart(rows, threshold),
                            "Agreement of every statement in every round",
                            "Figure 2. Agreement with each statement in each round, grouped "
                            f"by domain; grey dots = earlier rounds, the coloured dot = the "
                            f"last round rated, coloured by the final verdict; {line}.",
                            anchor="figure-2"))
        bands = bands_for(data.spec.consensus, data.spec.scale.points)
        scale = charts.Bands(data.spec.scale.points, bands.agree, bands.disagree)
        words = verdicts(data)
        panels = []
        for s in rated:
            final = s.results[-1]
            panels.append(charts.Panel(f"{s.code} · {words[s.code]}", final.counts,
                                       final.median))
        blocks.append(Image("figure-3-distributions", charts.distributions_chart(
            panels, scale), "Distribution of the last ratings of every statement",
            "Figure 3. Ratings of each statement in the last round it was rated (green = "
            "agree set, red = disagree set, dashed line = median); shared axes.",
            anchor="figure-3"))
    numbers = [f.number for f in data.rounds if f.status == "closed"]
    if numbers:
        blocks.append(Image("figure-4-per-round", charts.consensus_chart(
            data.statements, numbers), "Number of statements by class per round",
            "Figure 4. Statements by class in each round and the cumulative number "
            "endorsed.", anchor="figure-4"))
    return blocks


def _conduct(data: ReportData) -> list[Block]:
    conduct = data.conduct
    schedule = data.spec.schedule
    hours = ", ".join(f"{h} h" for h in schedule.nudge_hours_before)
    rows = [[str(f.number), str(conduct.reminders.get(f.number, 0)),
             ", ".join(when(t) for t in conduct.extensions.get(f.number, [])) or "none",
             when(f.deadline)] for f in data.rounds]
    blocks: list[Block] = [
        Heading(2, "How the study ran", "conduct"),
        Paragraph(f"Reminders: experts with an unfinished ballot were reminded {hours} "
                  f"before each round's deadline (outside quiet hours "
                  f"{schedule.quiet_hours}, {data.spec.study.timezone}); rounds lasted "
                  f"{plural(schedule.round_days, 'day')} unless extended."),
        Table(["Round", "Reminders sent", "Deadline extended on", "Final deadline"], rows,
              caption="Reminders and deadline extensions per round"),
        Paragraph(_stopped(data)),
        Paragraph(f"Experts who joined after round 1 had opened: "
                  f"{data.conduct.late_joiners}."),
    ]
    if conduct.example_card:
        blocks.append(Paragraph(f"Feedback as the experts saw it: the first card of round "
                                f"{conduct.example_round} sent to one expert, verbatim "
                                "(buttons in brackets):"))
        blocks.append(Preformatted(conduct.example_card))
    else:
        blocks.append(Paragraph("No round with feedback has been sent yet.", note=True))
    blocks.append(Table(["Item", "Value"], [
        ["Software", f"delphi {conduct.version}"],
        ["Protocol hash (SHA-256)", data.protocol_hash],
        ["Protocol frozen", when(data.frozen_at)]], caption="Software and protocol"))
    return blocks


def plain_definition(name: str) -> str:
    """A sensitivity definition's id in the words a reader uses."""
    if name == "study":
        return "pre-registered rule"
    if match := re.fullmatch(r"percent_agreement_(\d+)", name):
        return f"{match.group(1)} % agreement"
    if match := re.fullmatch(r"median_iqr_([\d.]+)_([\d.]+)", name):
        return f"median ≥ {match.group(1)} and IQR ≤ {match.group(2)}"
    return {"grade_70_15": "GRADE 70/15", "rand_ucla_ipr": "RAND/UCLA, IPR method",
            "rand_ucla_count": "RAND/UCLA, count method",
            "confidence_weighted": "weighted by confidence",
            "without_low_confidence": "low-confidence ratings left out",
            }.get(name, name.replace("_", " "))


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
                            "changes results)."))
    blocks.append(Table(["Definition", "Description"],
                        [[plain_definition(name), text] for name, text in described.items()]))
    wide = changed_statements(table)
    cells = table[["round", "statement"]].drop_duplicates()
    if wide.empty:
        blocks.append(Paragraph(f"No statement changes class under any alternative "
                                f"definition ({len(cells)} statement-rounds checked)."))
        return blocks
    blocks.append(Paragraph(f"{len(wide)} of {len(cells)} statement-rounds change class "
                            "under at least one alternative (in = endorse, out = reject, "
                            "none = no consensus):"))
    blocks.append(Table([plain_definition(str(c)) if i > 1 else str(c).capitalize()
                         for i, c in enumerate(wide.columns)],
                        [[str(v) for v in row] for row in wide.itertuples(index=False)],
                        caption="Statements whose class depends on the definition"))
    return blocks


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
            "excepted). An example card as sent is under 'How the study ran'.",
            "Statistics: valid n excludes 'unable to rate'; quartiles by the pre-registered "
            "method; the 95 % interval of a share is the Wilson score interval; stability "
            "between rounds only for statements carried unchanged (percent change, "
            "Wilcoxon signed-rank and McNemar are all computed; the pre-registered one "
            "decides).",
            "Reproduce every number: delphi analyze ratings.csv --study STUDY.toml "
            "--methods on the exported ratings.csv gives results.csv byte for byte; "
            "--sensitivity gives the sensitivity table.",
            "Data: ratings.csv, results.csv, statements.csv, comments.csv, "
            "participants.csv, flow.csv, panel.csv and study.xlsx (one sheet each), "
            "pseudonyms only; per-expert screening answers only on request "
            "(delphi export --screening-answers).",
        ]),
        *method_checks(data),
    ]


def _checklist() -> list[Block]:
    words = {ANSWERED: "answered", PARTLY: "partly answered", "authors":
             "for the authors to complete"}
    blocks: list[Block] = [
        Heading(2, "Reporting checklists", "checklist"),
        Paragraph("Each item of the three Delphi reporting guidelines by its official id, "
                  "with its content paraphrased: answered (see the linked section), partly "
                  "answered (what is missing), or for the authors to complete. Under each "
                  "table: what its ids were checked against. Journals want the official "
                  "checklist filled in; use these tables to fill it.",
                  note=True)]
    for name, items in GUIDELINES.items():
        rows: list[list[str | Link]] = []
        for item in items:
            where: str | Link = (Link(ANCHOR_TITLES.get(item.where, item.where), item.where)
                                 if item.where and item.status != "authors" else "–")
            rows.append([item.id, item.topic, words[item.status], where, item.note])
        blocks.append(Table(["Item", "Content (paraphrased)", "Status", "See", "Note"], rows,
                            caption=f"{name} ({len(items)} items): {CITATIONS[name]}",
                            anchor=f"checklist-{name.lower()}"))
        blocks.append(Paragraph(VERIFIED[name], note=True))
    return blocks


def _appendix(data: ReportData) -> list[Block]:
    blocks: list[Block] = [
        Heading(2, "Appendix A: statements in full", "appendix"),
        Paragraph("Every statement once, in the section of its final verdict, with the "
                  "numbers of each round and the experts' comments.", note=True)]
    for section in SECTIONS:
        blocks += _section(data, section)
    return blocks


def build_blocks(data: ReportData, images: bool = True) -> list[Block]:
    return [*_summary(data), *_protocol(data), *_panel(data), *_flow(data, images),
            *_results(data, images), *_conduct(data), *_sensitivity(data), *_changes(data),
            *_actions(data), *_methods(data), *_checklist(), *_appendix(data),
            *_rounds(data)]

