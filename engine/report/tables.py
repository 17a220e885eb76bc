"""The two tables every Delphi paper prints: Table 1 (the panel) and Table 2 (the results).

Numbers only from :class:`engine.report.data.ReportData`; the final verdict of each
statement from :mod:`engine.verdict`, so Table 2 cannot disagree with the rest.
"""

from __future__ import annotations

from engine.feedback import MIN_GROUP_SHOWN
from engine.numbers import fmt, quartile_range
from engine.report.data import ReportData, StatementData
from engine.report.panel import ALL, PanelData, share
from engine.report.render import Block, Paragraph, Table
from engine.statement_statistics import StatementStatistics
from engine.stats.interval import wilson_interval


def plural(count: int, noun: str, many: str | None = None) -> str:
    return f"{count} {noun if count == 1 else many or noun + 's'}"


# --- Table 1 ------------------------------------------------------------------------

def recruitment_rows(panel: PanelData, late_joiners: int) -> list[list[str]]:
    rows = [["Invited (invitation links created)", str(panel.invited)],
            ["Joined (opened an invitation)", str(panel.joined)],
            ["Declined consent", str(panel.declined)],
            ["Consented", str(panel.consented)],
            ["Screened out", str(len(panel.screened_out))]]
    rows += [[f"  screened out by {q.id}: answered “{answer}”", str(count)]
             for q, answer, count in panel.exclusions()]
    if panel.not_answered:
        rows.append(["Joined but did not finish consent or screening",
                     str(panel.not_answered)])
    rows.append(["Eligible panel", str(len(panel.eligible))])
    rows.append(["  of whom joined after round 1 had opened", str(late_joiners)])
    return rows


def table_1(panel: PanelData, late_joiners: int) -> list[Block]:
    blocks: list[Block] = [Table(["Step", "Experts"], recruitment_rows(panel, late_joiners),
                                 caption="Table 1a. Recruitment and eligibility",
                                 anchor="table-1")]
    if not panel.questions:
        blocks.append(Paragraph("The study asked no screening questions, so the panel's "
                                "characteristics are for the authors to report.", note=True))
        return blocks
    groups = [ALL, *panel.groups] if panel.groups and panel.groups != ["no group"] else [ALL]
    header = ["Question", "Answer", *(
        f"{'All' if g == ALL else g} (n = {panel.group_size(g)})" for g in groups)]
    rows: list[list[str]] = []
    previous = None
    for q, answer, counts in panel.declarations():
        first, previous = q.id != previous, q.id
        rows.append([q.id if first else "", answer, *(
            f"{counts[g]} ({share(counts[g], panel.group_size(g))})" for g in groups)])
    blocks.append(Table(header, rows, caption="Table 1b. Characteristics and declarations "
                        "of the eligible panel (screening answers, n (%))"))
    blocks.append(Paragraph("Questions as asked: " + "; ".join(
        f"{q.id}: {q.question}" for q in panel.questions) + ".", note=True))
    declaring, asked = panel.conflicts()
    if asked:
        blocks.append(Paragraph(
            f"Conflicts of interest: {declaring} of {len(panel.eligible)} eligible experts "
            f"({share(declaring, len(panel.eligible))}) declared at least one interest in "
            f"answer to {', '.join(q.id for q in asked)}."))
    else:
        blocks.append(Paragraph("No screening question asked about conflicts of interest: "
                                "report them from your own records.", note=True))
    return blocks


# --- Table 2 ------------------------------------------------------------------------

def agreement_cell(result: StatementStatistics, unable_in_denominator: bool = False) -> str:
    if result.pct_agree is None or not result.n:
        return "–"
    total = result.n + (result.n_unable if unable_in_denominator else 0)
    successes = round(result.pct_agree * total / 100)
    interval = wilson_interval(successes, total)
    assert interval is not None
    return (f"{fmt(result.pct_agree)} % [{fmt(100 * interval[0], 0)}–"
            f"{fmt(100 * interval[1], 0)}]")


def median_cell(result: StatementStatistics) -> str:
    if result.median is None:
        return "–"
    return f"{fmt(result.median, 2)} [{quartile_range(result.q1, result.q3)}]"


def reached_round(statement: StatementData) -> int | None:
    """The round from which the final wording held its final verdict (endorsed or
    rejected, stable too when the protocol requires it); None for any other verdict."""
    final = statement.final
    goal = statement.verdict
    if final is None or not goal.reached:
        return None
    reached = None
    for result in statement.results:
        if result.version != final.version:
            continue
        holds = result.verdict(statement.rules) == goal
        reached = (reached or result.round) if holds else None
    return reached


def group_agreement(data: ReportData, statement: StatementData,
                    result: StatementStatistics) -> str:
    """% agreement of each stakeholder group on one result (groups of fewer than
    :data:`MIN_GROUP_SHOWN` valid ratings: "too few")."""
    from engine.stats.rules import bands_for

    ratings = data.ratings
    if ratings.empty or "group" not in ratings.columns:
        return "–"
    agree = set(bands_for(data.spec.consensus, data.spec.scale.points).agree)
    rows = ratings[(ratings["round"] == result.round)
                   & (ratings["statement"] == result.key)]
    cells = []
    for group in data.spec.study.groups:
        valid = [int(v) for v in rows[rows["group"] == group]["rating"].dropna()]
        if len(valid) < MIN_GROUP_SHOWN:
            cells.append(f"{group}: too few")
        else:
            share_ = 100 * sum(v in agree for v in valid) / len(valid)
            cells.append(f"{group}: {fmt(share_)} % (n = {len(valid)})")
    return "; ".join(cells)


def table_2(data: ReportData, verdict_of: dict[str, str]) -> list[Block]:
    numbers = [f.number for f in data.rounds]
    by_group = len(data.spec.study.groups) >= 2
    header = ["Statement", "Final text", "Domain", "Final verdict", "Reached in round"]
    for number in numbers:
        header += [f"R{number} n valid / unable", f"R{number} % agree [95 % CI]",
                   f"R{number} median [Q1–Q3]"]
    if by_group:
        header.append("Last round % agree by group")
    rows: list[list[str]] = []
    for statement in data.statements:
        reached = reached_round(statement)
        row = [statement.code, statement.final_text, statement.domain,
               verdict_of[statement.code], "–" if reached is None else str(reached)]
        for number in numbers:
            result = next((r for r in reversed(statement.results) if r.round == number), None)
            if result is None:
                row += ["–", "–", "–"]
                continue
            version = f" (v{result.version})" if len(statement.versions) > 1 else ""
            row += [f"{result.n} / {result.n_unable}{version}", agreement_cell(
                result, data.spec.consensus.unable_in_denominator),
                    median_cell(result)]
        if by_group:
            row.append(group_agreement(data, statement, statement.results[-1])
                       if statement.results else "–")
        rows.append(row)
    return [
        Table(header, rows, caption="Table 2. Every statement with its final text, final "
              "verdict and the ratings of each round", anchor="table-2", numeric_from=4,
              text_column=1),
        Paragraph("n valid excludes 'unable to rate'. % agree = share of valid ratings in "
                  "the agree set, with its Wilson 95 % confidence interval. Median and "
                  "quartiles by the pre-registered quantile method. R1, R2, ... = round; "
                  "reached in round = from which round the final wording held its final "
                  "verdict; "
                  "'–' = not rated in that round; (v2) = the revised wording was rated. The "
                  "verdict applies the frozen protocol (consensus rule, stability, minimum "
                  "valid ratings) to the last round the statement was rated in."
                  + (" By group: % agree within each stakeholder group in the last round "
                     "the statement was rated; a group with fewer than 3 valid ratings is "
                     "not shown." if by_group else ""),
                  note=True)]
