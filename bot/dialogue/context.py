"""What the dialogue and the scheduler know of the study they run, fixed once it is built.

One frozen value, made at start-up and passed to whoever needs it, instead of objects
reaching into the conductor or setting its attributes after construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.clock import Clock
from engine.db import Store
from engine.studyfile import StudyFile


@dataclass(frozen=True)
class Coordinators:
    """The platform user ids allowed to run the study, from the config."""

    ids: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, telegram: Sequence[int | str] = (), slack: Sequence[str] = ()) -> Coordinators:
        return cls(frozenset({("telegram", str(i)) for i in telegram}
                             | {("slack", str(i)) for i in slack}))

    def __contains__(self, who: object) -> bool:
        platform, user_id = getattr(who, "platform", None), getattr(who, "user_id", None)
        return (platform, user_id) in self.ids


def _token_alone(token: str) -> str:
    return token


def _nobody_to_wake() -> None:
    return None


@dataclass(frozen=True)
class StudyContext:
    store: Store
    clock: Clock
    spec: StudyFile
    coordinators: Coordinators
    # How /invite writes a token: one link or command per messenger served, joined.
    invite_link: Callable[[str], str] = _token_alone
    # Called after a commit that queued outbox messages, so they go out promptly.
    outbox_committed: Callable[[], None] = _nobody_to_wake

    @property
    def study_id(self) -> str:
        return self.spec.study.id

    def zone(self, own: str | None = None) -> str:
        """The time zone to show a person times in: their own, or the study's."""
        return own or self.spec.study.timezone
