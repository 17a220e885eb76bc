"""The methodologist's checks in the report's methods: individual stability, attrition
bias and careless-responding flags (numbers from :mod:`engine.stats.individual`,
:mod:`engine.stats.attrition` and :mod:`engine.stats.careless`)."""

from __future__ import annotations

from statistics import median

import pandas as pd

from engine.numbers import fmt
from engine.report.data import ReportData
from engine.report.render import Block, Bullets, Heading, Paragraph, Table
from engine.stats.attrition import CAVEAT, attrition_table, retention
from engine.stats.careless import MIN_ITEMS, SPEED_FACTOR
from engine.stats.individual import expert_stability, statement_stability
from engine.stats.rules import bands_for

LOW_KAPPA = 0.4  # below: "fair" or worse agreement with oneself (Landis & Koch 1977)


def _individual(data: ReportData) -> list[Block]:
    ratings = data.ratings
    blocks: list[Block] = [Heading(3, "Individual-level stability")]
    carried = ratings[["round", "statement"]].drop_duplicates()
    kept = statement_stability(ratings, carried.reset_index(drop=True))
    kept["round"] = carried["round"].astype(int).to_numpy()
    experts = expert_stability(ratings, data.spec.scale.points)
    rows = []
    for number in sorted(set(kept.dropna(subset=["kept_exact"])["round"])):
        cells = kept[(kept["round"] == number)].dropna(subset=["kept_exact"])
        ones = experts[experts["round"] == number]
        kappas = ones["kappa_quadratic"].dropna()
        low = ones[ones["kappa_quadratic"] < LOW_KAPPA]
        rows.append([str(number), str(len(cells)),
                     f"{fmt(median(cells['kept_exact']))} %",
                     f"{fmt(median(cells['kept_within_1']))} %",
                     str(len(kappas)), fmt(median(kappas), 2) if len(kappas) else "–",
                     ", ".join(f"{p} ({fmt(k, 2)})" for p, k in
                               zip(low["participant"], low["kappa_quadratic"], strict=True))
                     or "none"])
    if not rows:
        return [*blocks, Paragraph("No statement was rated unchanged in two consecutive "
                                   "rounds.", note=True)]
    blocks.append(Table(
        ["Round", "Statements carried unchanged", "Kept rating exactly (median)",
         "Within one point (median)", "Experts with κw", "Median κw",
         f"Experts with κw < {LOW_KAPPA:g}"], rows,
        caption="Did experts keep their own ratings between consecutive rounds?"))
    blocks.append(Paragraph(
        "Per statement carried unchanged: the share of experts rating it validly in both "
        "rounds who kept their rating exactly, and within one point (kept_exact, "
        "kept_within_1 in results.csv). Per expert: Cohen's quadratic-weighted kappa (κw) "
        "between their ratings of those statements in the two rounds (delphi analyze "
        "--experts). Group stability tests miss experts who swap ratings (3 ↔ 7); these "
        "measures do not.", note=True))
    return blocks


def _attrition(data: ReportData) -> list[Block]:
    ratings = data.ratings
    blocks: list[Block] = [Heading(3, "Attrition")]
    kept = retention(ratings)
    invited = {f.number: f.invited for f in data.rounds}
    blocks.append(Table(
        ["Round", "Experts answering", "Retention against round 1",
         "Participation against invited"],
        [[str(r.round), str(r.participants), f"{fmt(r.retention)} %",
          f"{fmt(100 * r.participants / invited[r.round])} %"
          if invited.get(r.round) else "–"] for r in kept.itertuples()],
        caption="Retention and participation per round"))
    table = attrition_table(ratings, bands_for(data.spec.consensus,
                                               data.spec.scale.points).agree)
    if table.empty:
        return [*blocks, Paragraph("One round only: no attrition to test.", note=True)]
    lines = []
    for number, rows in table.groupby("round"):
        dropped = int(rows["n_dropped"].max())
        flagged = rows[rows["flagged"]]
        if not dropped:
            lines.append(f"Round {number}: nobody from round 1 dropped out.")
            continue
        named = "; ".join(
            f"{r.statement} (agree {fmt(r.pct_agree_dropped)} % of dropouts vs "
            f"{fmt(r.pct_agree_stayed)} % of stayers, p = {fmt(r.mannwhitney_p, 3)})"
            for r in flagged.itertuples())
        lines.append(f"Round {number}: {dropped} of the round-1 raters did not answer; "
                     f"{len(flagged)} of {len(rows)} statements differ at p < 0.05"
                     + (f": {named}." if named else "."))
    blocks += [Bullets(lines), Paragraph(
        "Do the experts who dropped out differ in their round-1 ratings from those who "
        f"stayed? {CAVEAT}", note=True)]
    return blocks


def _careless(data: ReportData) -> list[Block]:
    blocks: list[Block] = [Heading(3, "Careless-responding flags")]
    text = (f"Flagged for the coordinator, never excluded automatically: straight-lining "
            f"(the same point on every statement of a round, at least {MIN_ITEMS} rated) "
            f"and implausible speed (median seconds per statement below "
            f"{SPEED_FACTOR:.2g} of the panel's median in that round). Every rating below "
            "is in every statistic.")
    lines = [f"Round {f.round}, {f.participant}: "
             + ("straight-lining, " if f.kind == "straight_lining" else "speed, ")
             + f.detail for f in data.careless]
    return [*blocks, Paragraph(text, note=True),
            Bullets(lines) if lines else Paragraph("No ballot was flagged.")]


def method_checks(data: ReportData) -> list[Block]:
    """Blocks for the methods section (empty when nothing was rated yet)."""
    if data.ratings.empty or not isinstance(data.ratings, pd.DataFrame):
        return []
    return [*_individual(data), *_attrition(data), *_careless(data)]
