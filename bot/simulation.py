"""Simulated experts for `delphi demo`: plausible, differing opinions that move towards the
group after feedback, as real Delphi panels do (some more than others).

Everything an expert "knows" about the group comes from the cards the bot showed them
(the median printed in the feedback), never from the database: the simulation is a
user of the product, not a shortcut around it. All randomness comes from one seed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

_MEDIAN = re.compile(r"results \(n = \d+\): median (\d+(?:\.\d+)?)")

COMMENTS = (
    "In my practice this depends on baseline sebum production and skin type.",
    "Evidence here is mostly from case series; I would like to see controlled data.",
    "Agree in principle, but the wording is too absolute for patients with comorbidities.",
    "Laboratory monitoring can be lighter at these doses, but not skipped entirely.",
    "Pregnancy prevention must be identical to conventional dosing, without exception.",
    "I have seen good results on texture, less so on fine lines.",
    "Timing of procedures is individual; a fixed waiting period is not evidence based.",
    "Dryness is usually manageable with emollients; it rarely limits treatment.",
)


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
                 points: int = 9) -> None:
        self.rng = random.Random(seed)
        # Reasons, confidence and replies draw from their own stream, so the ratings are
        # the same whichever of those a study asks for.
        self.talk = random.Random(seed + 1)
        self.points = points
        self.statements = {code: Statement(code, domain, *self._opinion())
                           for code, domain in statements}
        domains = sorted({domain for _, domain in statements})
        self.experts = [
            Expert(index=i, bias=self.rng.gauss(0, 0.6),
                   stubbornness=0.95 if i in (3, 11) else self.rng.uniform(0.2, 0.7),
                   unsure_domain=self.rng.choice(domains) if i % 5 == 2 else None,
                   talkative=i % 4 == 1)
            for i in range(size)]
        self.experts[size // 2].withdraws_after = 1  # one expert leaves after round 1

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
        else:
            pull = (1 - expert.stubbornness) * 0.8
            value = previous + pull * (median - previous) + self.rng.gauss(0, 0.4)
        rating = max(1, min(self.points, round(value)))
        expert.given[base_code] = rating
        return rating

    def comment(self, expert: Expert, code: str, rating: int | None) -> str | None:
        """Talkative experts comment on contested statements, or when unable to rate."""
        statement = self.statements[code.split(".")[0]]
        if rating is None:
            return "Outside my experience; I rarely combine it with this." \
                if expert.talkative else None
        if expert.talkative and statement.spread >= 1.8 and self.rng.random() < 0.6:
            return self.rng.choice(COMMENTS)
        return None

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
