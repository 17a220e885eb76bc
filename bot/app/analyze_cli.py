"""``delphi analyze``: consensus statistics of a ratings CSV, without a running bot.

Usage::

    delphi analyze RATINGS.csv --out RESULTS.csv --study STUDY.toml
    delphi analyze RATINGS.csv --out RESULTS.csv --scale 9 --agree 7-9 --disagree 1-3 \\
        --rule percent_agreement --threshold 0.75 --quantile type7

The consensus rule, scale and stopping rule come either from a study file or from
flags (not both: a study file is the pre-registered definition). Flags left out take
the study-file defaults (9-point scale, percent agreement 75 %, type 7 quantiles).
Combinations (all_of / any_of) need a study file.

Exit status: 0 on success; 2 on bad input (unreadable or malformed ratings file, bad
study file, bad flags), with one ``FILE:line: problem`` line per problem on stderr and
no output file written; 1 when the output cannot be written.

The main CLI (bot/app/cli.py) calls :func:`register` on its sub-parsers and dispatches to
``args.func(args)``; :func:`main` runs the sub-command on its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

RULE_FLAGS = ("scale", "agree", "disagree", "rule", "threshold", "quantile", "median_agree",
              "median_disagree", "max_iqr", "grade_in", "grade_against", "disagreement",
              "every_group", "stability", "percent_change_limit", "alpha",
              "require_stability", "max_rounds", "min_valid", "unable_in_denominator",
              "median_boundary")


class _InputError(Exception):
    """A problem with the command's input; the message lines go to stderr, exit 2."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``analyze`` sub-command (``func`` default: :func:`run`)."""
    parser = subparsers.add_parser(
        "analyze",
        help="consensus statistics of a ratings CSV",
        description="Descriptive statistics, consensus class, stability and stopping status "
                    "per round and statement of a long-format ratings CSV "
                    "(round,statement,participant,rating[,group]).",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ratings", metavar="RATINGS.csv",
                        help="long-format ratings; empty rating or NA = unable to rate")
    parser.add_argument("--out", "-o", metavar="RESULTS.csv", default="-",
                        help="where to write the results (default: standard output)")
    parser.add_argument("--sensitivity", metavar="SENSITIVITY.csv",
                        help="also write every statement under the common alternative "
                             "consensus definitions")
    parser.add_argument("--methods", action="store_true",
                        help="append the verdict under the protocol and the methods columns "
                             "(Wilson 95%% CI of %% agreement ...), as in the export's "
                             "results.csv")
    parser.add_argument("--experts", metavar="EXPERTS.csv",
                        help="also write, per expert and round, the valid ratings, "
                             "straight-lining (one point everywhere) and the quadratic-"
                             "weighted kappa against the previous round")
    parser.add_argument("--attrition", metavar="ATTRITION.csv",
                        help="also write, per later round and round-1 statement, whether "
                             "the experts who dropped out rated differently in round 1 "
                             "(Mann-Whitney U); retention goes to standard error")
    parser.add_argument("--study", metavar="STUDY.toml",
                        help="take scale, consensus and stopping rule from a study file")
    rule = parser.add_argument_group("consensus rule (instead of --study)")
    rule.add_argument("--scale", type=int, choices=(5, 7, 9), help="scale points (default 9)")
    rule.add_argument("--agree", metavar="SET", help="agree set, e.g. 7-9 or 4,5")
    rule.add_argument("--disagree", metavar="SET", help="disagree set, e.g. 1-3")
    rule.add_argument("--rule", choices=("percent_agreement", "median_iqr", "grade_70_15",
                                         "rand_ucla"), help="default percent_agreement")
    rule.add_argument("--threshold", type=_share_text,
                      help="percent_agreement share, a decimal or a fraction such as 5/7, "
                           "compared exactly as written (default 0.75)")
    rule.add_argument("--quantile", choices=("type7", "type6"),
                      help="quartile definition (default type7)")
    rule.add_argument("--median-agree", type=float, help="median_iqr: in at or above")
    rule.add_argument("--median-disagree", type=float, help="median_iqr: out at or below")
    rule.add_argument("--max-iqr", type=float, help="median_iqr: largest IQR (default 1)")
    rule.add_argument("--grade-in", type=_share_text,
                      help="grade_70_15: share needed (0.70)")
    rule.add_argument("--grade-against", type=_share_text,
                      help="grade_70_15: opposite share must stay below (0.15)")
    rule.add_argument("--disagreement", choices=("ipr", "count"),
                      help="rand_ucla disagreement test (default ipr)")
    rule.add_argument("--every-group", action="store_true", default=None,
                      help="the rule must hold in every stakeholder group (group column)")
    rule.add_argument("--median-boundary", choices=("uncertain", "outer"),
                      help="rand_ucla: medians 6.5 / 3.5 uncertain (default) or in the "
                           "outer regions")
    rule.add_argument("--min-valid", type=int, metavar="N",
                      help="fewer valid ratings than N is never consensus (default 1)")
    rule.add_argument("--unable-in-denominator", action="store_true", default=None,
                      help="count 'unable to rate' in the denominator of the shares")
    stop = parser.add_argument_group("stability and stopping (instead of --study)")
    stop.add_argument("--stability", choices=("percent_change", "wilcoxon", "mcnemar"),
                      help="test that calls a statement stable (default percent_change)")
    stop.add_argument("--percent-change-limit", type=float, help="default 0.15")
    stop.add_argument("--alpha", type=float, help="significance level (default 0.05)")
    stop.add_argument("--require-stability", action="store_true", default=None,
                      help="consensus counts only once stable")
    stop.add_argument("--max-rounds", type=int, help="report the study-level stopping decision")


def _share_text(text: str) -> float | str:
    """A share flag as written: a plain decimal stays a number (as before), a fraction
    such as ``5/7`` stays text and is compared exactly."""
    try:
        return float(text) if "/" not in text else text
    except ValueError:
        return text  # the study-file validation reports it


def parse_points(text: str, flag: str) -> list[int]:
    """``7-9`` / ``4,5`` / ``1-2,5`` -> sorted scale points."""
    points: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, sep, high = part.partition("-")
        try:
            if sep:
                first, last = int(low), int(high)
                if first > last:
                    raise ValueError
                points.extend(range(first, last + 1))
            else:
                points.append(int(part))
        except ValueError:
            raise _InputError([f"delphi analyze: {flag}: {text!r} is not a set of scale "
                               "points (e.g. 7-9 or 4,5)"]) from None
    return sorted(set(points))


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def _from_flags(args: argparse.Namespace) -> tuple[Any, Any, int, int | None]:
    from engine.stats.compat import agree_set_problems, rule_scale_problems
    from engine.studyfile import ConsensusSection, RuleSpec, StoppingSection

    points = args.scale or 9
    rule_fields = {
        "rule": args.rule, "threshold": args.threshold, "quantile": args.quantile,
        "median_agree": args.median_agree, "median_disagree": args.median_disagree,
        "max_iqr": args.max_iqr, "grade_in": args.grade_in,
        "grade_against": args.grade_against, "disagreement": args.disagreement,
        "every_group": args.every_group, "median_boundary": args.median_boundary,
        "min_valid": args.min_valid, "unable_in_denominator": args.unable_in_denominator,
        "agree": parse_points(args.agree, "--agree") if args.agree else None,
        "disagree": parse_points(args.disagree, "--disagree") if args.disagree else None,
    }
    if rule_fields["rule"] is None:
        rule_fields["rule"] = "percent_agreement"
    stop_fields = {
        "stability": args.stability, "percent_change_limit": args.percent_change_limit,
        "alpha": args.alpha, "require_stability": args.require_stability,
    }
    lines: list[str] = []
    consensus = stopping = None
    try:
        consensus = ConsensusSection(**{k: v for k, v in rule_fields.items() if v is not None})
    except ValidationError as exc:
        lines += [f"delphi analyze: {_flag(str(e['loc'][0]))}: {e['msg']}" for e in exc.errors()]
    try:
        stopping = StoppingSection(**{k: v for k, v in stop_fields.items() if v is not None})
    except ValidationError as exc:
        lines += [f"delphi analyze: {_flag(str(e['loc'][0]))}: {e['msg']}" for e in exc.errors()]
    if consensus is not None:
        problems = agree_set_problems(consensus, points) + rule_scale_problems(consensus, points)
    else:  # still report bad sets alongside the other flag problems
        sets = RuleSpec.model_construct(rule="percent_agreement", agree=rule_fields["agree"],
                                        disagree=rule_fields["disagree"])
        problems = agree_set_problems(sets, points)
    lines += [f"delphi analyze: {_flag(field)}: {message}" for field, message in problems]
    if args.max_rounds is not None and args.max_rounds < 1:
        lines.append("delphi analyze: --max-rounds: must be at least 1")
    if lines:
        raise _InputError(lines)
    return consensus, stopping, points, args.max_rounds


def _from_study(args: argparse.Namespace) -> tuple[Any, Any, int, int | None]:
    from engine.studyfile import StudyFileError, load_study_file

    given = [_flag(name) for name in RULE_FLAGS if getattr(args, name) is not None]
    if given:
        raise _InputError([f"delphi analyze: {', '.join(given)} cannot be combined with "
                           "--study (the study file defines the rule)"])
    try:
        study = load_study_file(args.study)
    except StudyFileError as exc:
        raise _InputError(str(exc).splitlines()) from None
    return study.consensus, study.stopping, study.scale.points, study.study.max_rounds


def run(args: argparse.Namespace, stderr: Any = None) -> int:
    """Run ``delphi analyze`` for parsed arguments; return the exit status."""
    err = stderr or sys.stderr
    try:
        return _run(args, err)
    except _InputError as exc:
        for line in exc.lines:
            print(line, file=err)
        return 2


def _run(args: argparse.Namespace, err: Any) -> int:
    from engine.stats import (
        RatingsFileError,
        analyze,
        decide_after_round,
        encode_ratings,
        format_value,
        read_ratings_csv,
        sensitivity_table,
        with_confidence,
        write_results_csv,
    )

    if args.study:
        consensus, stopping, points, max_rounds = _from_study(args)
    else:
        consensus, stopping, points, max_rounds = _from_flags(args)
    try:
        ratings = read_ratings_csv(args.ratings, points)
    except RatingsFileError as exc:
        raise _InputError(exc.lines()) from None
    try:
        encoded = encode_ratings(ratings, points)
        results = analyze(encoded, consensus, points, stopping)
        if args.methods:
            from engine.stats.methods import add_methods

            results = add_methods(results, ratings, consensus, points, stopping)
        experts = _experts_table(ratings, points) if args.experts else None
        attrition = (_attrition_table(ratings, consensus, points) if args.attrition
                     else None)
        alternatives = (with_confidence(sensitivity_table(encoded, consensus, points),
                                        ratings, consensus, points)
                        if args.sensitivity else None)
    except ValueError as exc:  # data valid row by row but unusable for the rule
        raise _InputError([f"{args.ratings}:1: {exc}"]) from None
    writes: list[tuple[Callable[[], None], str]] = []
    if alternatives is not None:
        writes.append((lambda: write_results_csv(alternatives, args.sensitivity),
                       args.sensitivity))
    if experts is not None:
        writes.append((lambda: write_results_csv(experts, args.experts), args.experts))
    if attrition is not None:
        writes.append((lambda: write_results_csv(attrition, args.attrition), args.attrition))
    writes.append((lambda: write_results_csv(results, args.out), args.out))
    for write, target in writes:
        try:
            write()
        except OSError as exc:
            print(f"delphi analyze: cannot write {target}: {exc.strerror or exc}", file=err)
            return 1
    summary = (f"delphi analyze: {len(ratings)} ratings, {len(encoded.rounds)} round(s), "
               f"{len(encoded.statements)} statement(s)")
    if args.out != "-":
        summary += f" -> {args.out}"
    print(summary, file=err)
    if attrition is not None:
        from engine.stats.attrition import CAVEAT, retention

        kept = "; ".join(f"round {r.round} {format_value(r.retention)} %"
                         for r in retention(ratings).itertuples())
        print(f"delphi analyze: retention against round 1: {kept}. {CAVEAT}", file=err)
    if max_rounds is not None:
        decision = decide_after_round(results, stopping, max_rounds)
        state = "finished" if decision.finished else "not finished"
        print(f"delphi analyze: study {state}: {decision.reason}", file=err)
    return 0


def _experts_table(ratings: Any, points: int) -> Any:
    """Per expert and round: valid ratings, straight-lining, individual stability."""
    import pandas as pd

    from engine.stats.careless import straight_lining
    from engine.stats.individual import expert_stability
    from engine.stats.ordering import natural_key

    valid = ratings.dropna(subset=["rating"])
    counted = valid.groupby(["round", "participant"]).size()
    lines = {(int(f.round), f.participant): f.detail.rsplit(" ", 1)[1]
             for f in straight_lining(ratings)}
    kappa = {(int(r.round), r.participant): (r.n_statements, r.kappa_quadratic)
             for r in expert_stability(ratings, points).itertuples()}
    keys = sorted({(int(r), str(p)) for r, p in ratings[["round", "participant"]]
                   .itertuples(index=False)}, key=lambda k: (k[0], natural_key(k[1])))
    return pd.DataFrame(
        [(r, p, int(counted.get((r, p), 0)), lines.get((r, p)),
          kappa.get((r, p), (None, None))[0], kappa.get((r, p), (None, None))[1])
         for r, p in keys],
        columns=["round", "participant", "n_valid", "straight_lining", "n_carried",
                 "kappa_quadratic"])


def _attrition_table(ratings: Any, consensus: Any, points: int) -> Any:
    from engine.stats.attrition import attrition_table
    from engine.stats.rules import bands_for

    return attrition_table(ratings, bands_for(consensus, points).agree)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sub-command on its own: ``main(["RATINGS.csv", "--out", "R.csv", ...])``.

    A leading ``"analyze"`` is accepted too, so argv may be written as on the command line.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["analyze"]:
        args_list = args_list[1:]
    parser = argparse.ArgumentParser(prog="delphi analyze",
                                     description="consensus statistics of a ratings CSV")
    add_arguments(parser)
    parser.set_defaults(func=run)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse reports usage errors itself (status 2)
        return exc.code if isinstance(exc.code, int) else 2
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
