"""Simulated experts for `delphi demo`: plausible, differing opinions that move towards the
group after feedback, as real Delphi panels do (some more than others).

Where the panel stands on each statement, what experts write about it and how the
steering committee would reword it come from a panel file beside the example study
(``engine/examples/<study>.panel.toml``, :func:`load_panel_file`); a statement without
an entry gets a random opinion and no comments. Everything an expert "knows" about the
group comes from the cards the bot showed them (the median printed in the feedback),
never from the database: the simulation is a user of the product, not a shortcut around
it. All randomness comes from one seed.
"""

from __future__ import annotations

import random
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

_MEDIAN = re.compile(r"results \(n = \d+\): median (\d+(?:\.\d+)?)")
# A statement this contested draws comments from most talkative experts.
CONTESTED_SPREAD = 1.4
UNABLE_DEFAULT = "Outside my own practice; I would rather not rate this."
# For a statement the panel file does not cover (the pilot of any study): remarks that fit
# any clinical statement, so none is put under the wrong topic.
GENERIC_COMMENTS = (
    "Agree in principle, but the wording is too absolute for every patient.",
    "The evidence here is mostly from case series; I would like controlled data.",
    "In my practice this depends on the individual patient.",
    "I would like the statement to say who decides and when.",
)


@dataclass(frozen=True)
class Opinion:
    """Where a panel stands on one statement, and what it says about it."""

    centre: float                     # the typical rating on a 1-9 scale
    spread: float                     # how much experts differ (SD on 1-9)
    comments: tuple[str, ...] = ()    # written for this statement's topic
    revision: str | None = None       # the steering committee's rewording, if contested


@dataclass(frozen=True)
class PanelFile:
    opinions: Mapping[str, Opinion]
    unable: Mapping[str, str]         # domain -> what an expert unable to rate says

    def unable_comment(self, domain: str) -> str:
        return self.unable.get(domain, self.unable.get("default", UNABLE_DEFAULT))


def load_panel_file(text: str) -> PanelFile:
    """Parse a panel file (see ``engine/examples/isotretinoin-rejuvenation.panel.toml``)."""
    raw = tomllib.loads(text)
    unable = {str(k): str(v) for k, v in raw.pop("unable", {}).items()}
    opinions = {code: Opinion(float(entry["centre"]), float(entry["spread"]),
                              tuple(str(c) for c in entry.get("comments", ())),
                              entry.get("revision"))
                for code, entry in raw.items()}
    return PanelFile(opinions, unable)


REASONS = (
    "In my patients the benefit on oiliness outweighs the dryness at these doses.",
    "I have seen relapse after stopping, so I would not call it established.",
    "The evidence is too thin for me to agree, whatever the panel's experience.",
    "Monitoring is what makes this safe; without it I cannot endorse the statement.",
    "My practice is mostly darker skin types, where the risk-benefit balance differs.",
    "Guidelines in my country already say the opposite.",
)
REPLIES = (
    "Agreed, but that applies to conventional doses more than to micro-dosing.",
    "In my experience this is less of a problem than the comment suggests.",
    "A fair point; the wording should say who decides.",
    "The trials cited are small, but they are consistent.",
)


@dataclass
class Statement:
    code: str
    domain: str
    centre: float  # where the panel's opinion lies, 1-9
    spread: float  # how contested it is
    comments: tuple[str, ...] = ()
    revision: str | None = None
    said: set[str] = field(default_factory=set)  # comments already written


@dataclass
class Expert:
    index: int
    bias: float
    stubbornness: float  # 0 = follows the group, 1 = never moves
    unsure_domain: str | None
    talkative: bool
    withdraws_after: int | None = None
    given: dict[str, int | None] = field(default_factory=dict)  # last rating by code
    replied: set[tuple[int, str]] = field(default_factory=set)  # (round, code) answered

    @property
    def name(self) -> str:
        return f"Dr Simulated {self.index + 1:02d}"


class Panel:
    """The opinions of a simulated panel on a set of statements."""

    def __init__(self, seed: int, statements: list[tuple[str, str]], size: int,
                 points: int = 9, panel_file: PanelFile | None = None) -> None:
        self.rng = random.Random(seed)
        # Reasons, confidence and replies draw from their own stream, so the ratings are
        # the same whichever of those a study asks for.
        self.talk = random.Random(seed + 1)
        self.points = points
        self.panel_file = panel_file or PanelFile({}, {})
        self.statements = {code: self._statement(code, domain) for code, domain in statements}
        domains = sorted({domain for _, domain in statements})
        self.experts = [
            Expert(index=i, bias=self.rng.gauss(0, 0.6),
                   stubbornness=0.95 if i in (3, 11) else self.rng.uniform(0.2, 0.7),
                   unsure_domain=self.rng.choice(domains) if i % 5 == 2 else None,
                   talkative=i % 4 == 1)
            for i in range(size)]
        self.experts[size // 2].withdraws_after = 1  # one expert leaves after round 1

    def _statement(self, code: str, domain: str) -> Statement:
        known = self.panel_file.opinions.get(code)
        if known is None:
            return Statement(code, domain, *self._opinion(), comments=GENERIC_COMMENTS)
        return Statement(code, domain, known.centre, known.spread, known.comments,
                         known.revision)

    def revision(self, code: str) -> str | None:
        """The steering committee's rewording of a statement, when the panel file has one."""
        statement = self.statements.get(code.split(".")[0])
        return statement.revision if statement else None

    def _opinion(self) -> tuple[float, float]:
        """Where a statement's panel stands: most proposals are endorsed, a few rejected,
        some genuinely uncertain (the open questions a Delphi exists to find)."""
        kind = self.rng.random()
        if kind < 0.6:
            centre = self.rng.uniform(7.0, 8.6)
        elif kind < 0.75:
            centre = self.rng.uniform(1.6, 3.0)
        else:
            centre = self.rng.uniform(4.0, 6.5)
        return centre, self.rng.choice((0.6, 0.9, 1.2, 1.8, 2.4))

    @staticmethod
    def group_median(card_text: str) -> float | None:
        """The previous round's median, read from the feedback on the card."""
        match = _MEDIAN.search(card_text)
        return float(match.group(1)) if match else None

    def rate(self, expert: Expert, code: str, card_text: str) -> int | None:
        """This expert's answer to the statement card they are looking at."""
        base_code = code.split(".")[0]
        statement = self.statements[base_code]
        if expert.unsure_domain == statement.domain and self.rng.random() < 0.5:
            expert.given[base_code] = None
            return None
        previous = expert.given.get(base_code)
        median = self.group_median(card_text)
        if previous is None or median is None:
            nine = statement.centre + expert.bias + self.rng.gauss(0, statement.spread)
            value = 1 + (nine - 1) * (self.points - 1) / 8  # opinions live on 1-9
        elif abs(median - previous) < 1.5 and self.rng.random() < 0.9:
            value = previous  # close to the group already: most experts keep their rating
        else:
            pull = (1 - expert.stubbornness) * 0.8
            value = previous + pull * (median - previous) + self.rng.gauss(0, 0.4)
        rating = max(1, min(self.points, round(value)))
        expert.given[base_code] = rating
        return rating

    def comment(self, expert: Expert, code: str, rating: int | None) -> str | None:
        """Talkative experts comment, mostly on contested statements, or say why they cannot
        rate; each comment is written for the statement's topic and said once."""
        statement = self.statements[code.split(".")[0]]
        if rating is None:
            return (self.panel_file.unable_comment(statement.domain)
                    if expert.talkative else None)
        chance = 0.6 if statement.spread >= CONTESTED_SPREAD else 0.15
        if not expert.talkative or self.rng.random() >= chance:
            return None
        fresh = [c for c in statement.comments if c not in statement.said]
        if not fresh:
            return None
        chosen = self.rng.choice(fresh)
        statement.said.add(chosen)
        return chosen

    def reason(self, expert: Expert) -> str | None:
        """The one-line reason for an outlying rating; some experts skip the question."""
        if expert.stubbornness >= 0.9 or self.talk.random() < 0.6:
            return self.talk.choice(REASONS)
        return None

    def confidence(self, expert: Expert, domain: str) -> int:
        """How sure the expert is (1 low - 3 high): low in the domain they know least,
        high for the stubborn, otherwise mostly medium."""
        if expert.unsure_domain == domain:
            return 1
        if expert.stubbornness >= 0.9:
            return 3
        return self.talk.choice((2, 2, 3, 1))

    def reply(self, expert: Expert, round_number: int, code: str) -> str | None:
        """The odd anonymous reply: talkative experts, now and then, once per statement."""
        if not expert.talkative or (round_number, code) in expert.replied:
            return None
        expert.replied.add((round_number, code))
        return self.talk.choice(REPLIES) if self.talk.random() < 0.1 else None
