"""The study file: the TOML a coordinator writes, parsed and validated.

Every problem is reported as ``FILE: field: problem`` so that a coordinator can fix
the file without reading a traceback. Validation collects *all* problems at once
(pydantic does the structural part; cross-field rules are added as extra problems).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticKnownError

from engine.clock import known_time_zone
from engine.problems import FileProblems, Problem, pydantic_problems, toml_syntax_problem

SCALE_POINTS = (5, 7, 9)
RULES = ("percent_agreement", "median_iqr", "grade_70_15", "rand_ucla", "all_of", "any_of")
STATEMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
QUIET_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in a study file must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StudySection(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(min_length=1, max_length=3000)]
    max_rounds: Annotated[int, Field(ge=1, le=10)] = 3
    groups: list[str] = []
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not known_time_zone(value):
            raise ValueError(f"unknown time zone {value[:40]!r} (use an IANA name)")
        return value


CONFIDENCE = ("off", "per_statement", "per_domain")
ASK_REASON = ("off", "outside_iqr", "changed")


def _off(value: object) -> bool:
    return value == "off"


class ScaleSection(_Strict):
    points: Literal[5, 7, 9] = 9
    labels: list[Annotated[str, Field(min_length=1, max_length=60)]]
    unable_to_rate: bool = True
    # How sure each expert is (low / medium / high): asked once per statement or once per
    # domain per round, stored with the rating, used only in the sensitivity analysis.
    # Left out of the canonical form while off, so existing protocol hashes stay the same.
    confidence: Annotated[Literal["off", "per_statement", "per_domain"],
                          Field(exclude_if=_off)] = "off"


SHARE_TEXT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$|^\s*\d*\.?\d+\s*$")


def share_fraction(value: float | str) -> Fraction:
    """A threshold as the exact fraction written: ``0.75`` is 3/4, ``"5/7"`` is 5/7, and a
    decimal number is read as its shortest decimal form (``0.7142857142857143`` is that
    decimal, a little above 5/7), never as the binary double nearest to it."""
    if isinstance(value, str):
        return Fraction(value.replace(" ", ""))
    return Fraction(repr(float(value)))


def _share(low: Fraction, high: Fraction, low_open: bool = False,
           high_open: bool = False) -> Any:
    """A threshold given as a number or as text ``"5/7"`` / ``"0.7142857142857143"``.

    Numbers stay numbers (the canonical form, and so the hash, of existing studies does
    not change); text is kept as written, so the frozen protocol shows it exactly."""
    def check(value: Any) -> float | str:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("must be a number or a fraction such as \"5/7\"")
        if isinstance(value, str):
            if not SHARE_TEXT.match(value):
                raise ValueError(f"{value!r} is not a number or a fraction such as \"5/7\"")
            if "/" in value and int(value.split("/")[1]) == 0:
                raise ValueError("division by zero")
            kept: float | str = " ".join(value.split())
        else:
            kept = float(value)
        exact = share_fraction(kept)
        if low_open and exact <= low:
            raise PydanticKnownError("greater_than", {"gt": int(low)})
        if exact < low:
            raise PydanticKnownError("greater_than_equal", {"ge": int(low)})
        if high_open and exact >= high:
            raise PydanticKnownError("less_than", {"lt": int(high)})
        if exact > high:
            raise PydanticKnownError("less_than_equal", {"le": int(high)})
        return kept
    return BeforeValidator(check)


class RuleSpec(_Strict):
    """One consensus rule with its parameters. Parameters a rule does not use are ignored.

    ``agree`` / ``disagree`` default from the scale (see :func:`default_agree_sets`).
    ``all_of`` / ``any_of`` combine the sub-rules in ``rules``.
    """

    rule: Literal[
        "percent_agreement", "median_iqr", "grade_70_15", "rand_ucla", "all_of", "any_of"
    ]
    agree: list[int] | None = None
    disagree: list[int] | None = None
    # percent_agreement: share of valid ratings in the agree (disagree) set needed; a
    # number or an exact fraction as text ("5/7"), compared exactly (share_fraction)
    threshold: Annotated[float | str, _share(Fraction(0), Fraction(1))] = 0.75
    # median_iqr: median at or above median_agree -> in; at or below median_disagree -> out
    median_agree: float | None = None
    median_disagree: float | None = None
    max_iqr: Annotated[float, Field(ge=0)] = 1.0
    # grade_70_15: share needed in the endorsing band, and the most allowed in the opposite one
    grade_in: Annotated[float | str, _share(Fraction(0), Fraction(1), low_open=True)] = 0.70
    grade_against: Annotated[float | str,
                             _share(Fraction(0), Fraction(1), high_open=True)] = 0.15
    # rand_ucla: how disagreement is detected
    disagreement: Literal["ipr", "count"] = "ipr"
    # rand_ucla: medians 6.5 and 3.5 are "uncertain" (RAND/UCLA manual: appropriate needs
    # a median of 7-9) or count with the "outer" region (appropriate from 6.5, inappropriate
    # up to 3.5), as some panels do. Left out of the canonical form at its default.
    median_boundary: Annotated[Literal["uncertain", "outer"],
                               Field(exclude_if=lambda v: v == "uncertain")] = "uncertain"
    rules: list[RuleSpec] = []
    every_group: bool = False


class ConsensusSection(RuleSpec):
    """The pre-registered consensus definition: a rule plus the quantile method.

    Settings added after studies were first loaded are left out of the canonical form
    while they have their default, so the content and protocol hashes of those studies
    do not change.
    """

    quantile: Literal["type7", "type6"] = "type7"
    # Fewer valid ratings than this: "too few valid ratings", never consensus.
    min_valid: Annotated[int, Field(ge=1, le=10000, exclude_if=lambda v: v == 1)] = 1
    # Whether "unable to rate" answers count in the denominator of the shares (% agree,
    # % disagree and the share-based rules), as some published panels count "don't know".
    unable_in_denominator: Annotated[bool, Field(exclude_if=lambda v: v is False)] = False
    # Which ratings the statistics use: every statement an expert answered ("answered"),
    # or only ballots the expert submitted ("submitted"). The response rate counts the
    # same experts, so the two always describe the same panel.
    ballots: Annotated[Literal["answered", "submitted"],
                       Field(exclude_if=lambda v: v == "answered")] = "answered"


class StoppingSection(_Strict):
    """When a statement is resolved and when the study ends."""

    require_stability: bool = False
    stability: Literal["percent_change", "wilcoxon", "mcnemar"] = "percent_change"
    percent_change_limit: Annotated[float, Field(gt=0, le=1)] = 0.15
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    carry_consensus: bool = False  # re-rate statements that already reached consensus


class ScheduleSection(_Strict):
    round_days: Annotated[int, Field(ge=1, le=90)] = 14
    deadline_action: Literal["close", "ask"] = "ask"
    nudge_hours_before: list[Annotated[int, Field(ge=1, le=24 * 30)]] = [72, 24, 2]
    quiet_hours: str = "21:00-08:00"
    # Local hour (study time zone) of a daily response digest to the coordinators while a
    # round is open; None (the default) sends none. Left out of the canonical form while
    # unset, so adding the field does not change the content hash of existing studies.
    digest_hour: Annotated[int | None, Field(ge=0, le=23, exclude_if=lambda v: v is None)] = None

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours_shape(cls, value: str) -> str:
        if not QUIET_HOURS.match(value):
            raise ValueError("must look like 21:00-08:00")
        return value


class FeedbackSection(_Strict):
    """How the round summary reaches the experts. Text is always sent; ``chart = true``
    adds one image of the round (small multiples of the distributions, the expert's own
    rating marked): a photo in Telegram, an uploaded file in Slack."""

    chart: bool = False
    # From round 2, ask for a one-line, skippable reason when a rating lies outside the
    # previous round's IQR ("outside_iqr") or moves 2 or more points from the expert's own
    # previous rating ("changed"). Part of the frozen protocol (see StudyFile.protocol).
    ask_reason: Annotated[Literal["off", "outside_iqr", "changed"],
                          Field(exclude_if=_off)] = "off"
    # Show each stakeholder group's distribution and median beside the whole panel's
    # (a group with fewer than 3 valid ratings is shown as too few to show).
    by_group: Annotated[bool, Field(exclude_if=lambda v: not v)] = False
    # Each comment shown in the feedback can be answered once, anonymously; the replies
    # come back next round under the comment as a short thread.
    replies: Annotated[bool, Field(exclude_if=lambda v: not v)] = False

    def protocol(self) -> dict[str, Any]:
        """The settings that change what experts are asked or shown: frozen with the
        protocol. Empty while all are off, so older protocol hashes do not change."""
        return self.model_dump(mode="json", include={"ask_reason", "by_group", "replies"},
                               exclude_defaults=True)


class PrivacySection(_Strict):
    """``erase_on_withdrawal = true``: confirming /withdraw also deletes the expert's
    platform identity (ids and names); their pseudonymous ratings and comments stay."""

    erase_on_withdrawal: bool = False


class ScreeningQuestion(_Strict):
    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    question: Annotated[str, Field(min_length=1, max_length=500)]
    options: Annotated[list[Annotated[str, Field(min_length=1, max_length=60)]],
                       Field(min_length=2, max_length=8)]
    eligible: list[str] = []
    assigns_group: bool = False


class StatementSpec(_Strict):
    id: str
    domain: Annotated[str, Field(min_length=1, max_length=80)]
    text: Annotated[str, Field(min_length=1, max_length=1500)]


class StudyFile(_Strict):
    study: StudySection
    scale: ScaleSection
    consensus: ConsensusSection
    stopping: StoppingSection = StoppingSection()
    schedule: ScheduleSection = ScheduleSection()
    # Left out of the canonical form while it has its default, so adding the section does
    # not change the content hash of studies loaded before it existed.
    feedback: Annotated[FeedbackSection,
                        Field(exclude_if=lambda v: v == FeedbackSection())] = FeedbackSection()
    privacy: Annotated[PrivacySection,
                       Field(exclude_if=lambda v: v == PrivacySection())] = PrivacySection()
    screening: list[ScreeningQuestion] = []
    statements: Annotated[list[StatementSpec], Field(min_length=1)]

    def canonical_json(self) -> str:
        """A stable text of the whole definition: same content, same hash, whatever the layout."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def content_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def protocol(self) -> dict[str, Any]:
        """What pre-registration freezes: scale, consensus definition, stopping rule, rounds."""
        return {
            "scale": self.scale.model_dump(mode="json"),
            "consensus": self.consensus.model_dump(mode="json"),
            "stopping": self.stopping.model_dump(mode="json"),
            "max_rounds": self.study.max_rounds,
        } | ({"feedback": self.feedback.protocol()} if self.feedback.protocol() else {})


def default_agree_sets(points: int) -> tuple[list[int], list[int]]:
    """Agree / disagree sets when the file gives none: the top and bottom thirds (5: two points)."""
    width = {5: 2, 7: 3, 9: 3}[points]
    return list(range(points - width + 1, points + 1)), list(range(1, width + 1))


class StudyFileError(FileProblems):
    """The study file cannot be used; ``problems`` lists every reason."""


def _scale_points(raw: dict[str, Any]) -> int | None:
    scale = raw.get("scale")
    points = scale.get("points", 9) if isinstance(scale, dict) else None
    return points if points in SCALE_POINTS else None


def _rule_problems(spec: RuleSpec, field: str, points: int, groups: list[str]) -> list[Problem]:
    """Cross-field checks of one consensus rule against the scale it is applied to."""
    from engine.stats.compat import rule_scale_problems  # the statistics own rule semantics

    problems: list[Problem] = []
    for name in ("agree", "disagree"):
        values = getattr(spec, name)
        if values is None:
            continue
        if not values:
            problems.append(Problem(f"{field}.{name}", "must list at least one scale point"))
        outside = sorted({v for v in values if not 1 <= v <= points})
        if outside:
            problems.append(Problem(f"{field}.{name}",
                                    f"{outside} outside the {points}-point scale (1-{points})"))
        if len(set(values)) != len(values):
            problems.append(Problem(f"{field}.{name}", "lists a scale point twice"))
    agree, disagree = spec.agree or [], spec.disagree or []
    if set(agree) & set(disagree):
        problems.append(Problem(f"{field}.disagree",
                                f"overlaps agree at {sorted(set(agree) & set(disagree))}"))
    if spec.rule in ("all_of", "any_of"):
        if len(spec.rules) < 2:
            problems.append(Problem(f"{field}.rules", f"{spec.rule} needs at least two rules"))
        for i, sub in enumerate(spec.rules):
            problems += _rule_problems(sub, f"{field}.rules[{i + 1}]", points, groups)
    elif spec.rules:
        problems.append(Problem(f"{field}.rules", "only all_of / any_of take sub-rules"))
    if spec.every_group and len(groups) < 2:
        problems.append(Problem(f"{field}.every_group",
                                "needs at least two groups in study.groups"))
    problems += [Problem(f"{field}.{f}" if f else field, m)
                 for f, m in rule_scale_problems(spec, points)]
    return problems


def _semantic_problems(study: StudyFile) -> list[Problem]:
    problems: list[Problem] = []
    points = study.scale.points
    if len(study.scale.labels) != points:
        problems.append(Problem("scale.labels",
                                f"has {len(study.scale.labels)} labels for a {points}-point "
                                "scale (one per point)"))
    seen: dict[str, int] = {}
    for index, statement in enumerate(study.statements, start=1):
        where = f"statements[{index}]"
        if not STATEMENT_ID.match(statement.id):
            problems.append(Problem(f"{where}.id",
                                    f"{statement.id!r} must be 1-32 letters, digits, _ . -"))
        if statement.id in seen:
            problems.append(Problem(f"{where}.id",
                                    f"duplicate id {statement.id!r} (first at "
                                    f"statements[{seen[statement.id]}])"))
        seen.setdefault(statement.id, index)
    problems += _rule_problems(study.consensus, "consensus", points, study.study.groups)
    if study.feedback.by_group and len(study.study.groups) < 2:
        problems.append(Problem("feedback.by_group", "needs at least two groups in "
                                "study.groups"))
    if len(set(study.study.groups)) != len(study.study.groups):
        problems.append(Problem("study.groups", "lists a group twice"))
    question_ids: set[str] = set()
    for index, question in enumerate(study.screening, start=1):
        where = f"screening[{index}] ({question.id})"
        if question.id in question_ids:
            problems.append(Problem(f"{where}.id", f"duplicate id {question.id!r}"))
        question_ids.add(question.id)
        unknown = [o for o in question.eligible if o not in question.options]
        if unknown:
            problems.append(Problem(f"{where}.eligible", f"{unknown} not among the options"))
        if question.assigns_group:
            missing = [o for o in question.options if o not in study.study.groups]
            if missing:
                problems.append(Problem(f"{where}.options",
                                        f"{missing} are not groups listed in study.groups"))
        elif not question.eligible:
            problems.append(Problem(f"{where}.eligible",
                                    "list the answers that make an expert eligible"))
    return problems


def parse_study(text: str, path: Path | str = "<study>") -> StudyFile:
    """Parse and validate study-file text; raise :class:`StudyFileError` with every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyFileError(path, [toml_syntax_problem(exc)]) from None
    try:
        study = StudyFile.model_validate(raw)
    except ValidationError as exc:
        problems = pydantic_problems(exc, raw)
        points = _scale_points(raw)
        labels = raw.get("scale", {}).get("labels") if isinstance(raw.get("scale"), dict) else None
        if points and isinstance(labels, list) and len(labels) != points:
            problems.append(Problem("scale.labels", f"has {len(labels)} labels for a "
                                    f"{points}-point scale (one per point)"))
        raise StudyFileError(path, problems) from None
    problems = _semantic_problems(study)
    if problems:
        raise StudyFileError(path, problems)
    return study


def load_study_file(path: Path | str) -> StudyFile:
    """Read and validate a study file from disk."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyFileError(path, [Problem("(file)", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyFileError(path, [Problem("(file)", f"cannot be read: {exc}")]) from None
    return parse_study(text, path)


def describe(study: StudyFile) -> str:
    """The one-paragraph summary `delphi study check` prints for a valid file."""
    domains: dict[str, int] = {}
    for statement in study.statements:
        domains[statement.domain] = domains.get(statement.domain, 0) + 1
    rule = study.consensus
    sub = f" of {', '.join(r.rule for r in rule.rules)}" if rule.rules else ""
    screening = (f"{len(study.screening)} screening question(s)" if study.screening
                 else "no screening")
    groups = f"groups {', '.join(study.study.groups)}" if study.study.groups else "one group"
    return (
        f"{study.study.title} ({study.study.id}): {len(study.statements)} statements in "
        f"{len(domains)} domains ({', '.join(f'{d} {n}' for d, n in domains.items())}); "
        f"{study.scale.points}-point scale"
        f"{' with unable to rate' if study.scale.unable_to_rate else ''}; "
        f"consensus rule {rule.rule}{sub}, {rule.quantile} quantiles; "
        f"at most {study.study.max_rounds} rounds of {study.schedule.round_days} days, "
        f"nudges {study.schedule.nudge_hours_before} h before the deadline; "
        f"{screening}; {groups}."
    )
