"""Typed refusals from the engine.

Each error carries a one-line, user-facing sentence so that the conductor can answer an
expert or a coordinator without knowing the details; ``code`` is a stable machine name
for tests, logs and adapters. A sentence that tells the person what to send next names
that command as a :class:`Step` among its ``parts`` instead of spelling it: the engine
knows no messenger, and each one spells a command its own way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """The command a person should send next, by name ("ballot"), not by spelling."""

    command: str

    def __str__(self) -> str:
        return f"/{self.command}"


class DelphiError(Exception):
    """Base class: a refusal that writes nothing and deserves a clear sentence.

    ``str(error)`` is the sentence with each Step written as ``/name`` (for logs and the
    command line); ``parts`` keeps the Steps for whoever answers in a chat.
    """

    code = "refused"

    def __init__(self, *parts: str | Step) -> None:
        super().__init__("".join(map(str, parts)))
        self.parts: tuple[str | Step, ...] = parts


class NotFound(DelphiError):
    code = "not_found"


class InviteInvalid(DelphiError):
    code = "invite_invalid"


class InviteUsed(DelphiError):
    code = "invite_used"


class AlreadyEnrolled(DelphiError):
    code = "already_enrolled"


class NotEnrolled(DelphiError):
    code = "not_enrolled"


class ParticipantInactive(DelphiError):
    """Withdrawn, ineligible, declined or not yet consented."""

    code = "participant_inactive"


class RoundNotOpen(DelphiError):
    code = "round_not_open"


class RoundAlreadyOpen(DelphiError):
    code = "round_already_open"


class RoundClosed(DelphiError):
    code = "round_closed"


class NoMoreRounds(DelphiError):
    code = "no_more_rounds"


class DeadlinePassed(DelphiError):
    code = "deadline_passed"


class BallotSubmitted(DelphiError):
    code = "ballot_submitted"


class NotOnBallot(DelphiError):
    """The statement (version) is not rated in this round: stale button, dropped statement."""

    code = "not_on_ballot"


class InvalidValue(DelphiError):
    code = "invalid_value"


class RevisionNotAllowed(DelphiError):
    code = "revision_not_allowed"


class StudyMismatch(DelphiError):
    code = "study_mismatch"


class StudyNotLoaded(DelphiError):
    code = "study_not_loaded"


class ProtocolFrozen(DelphiError):
    code = "protocol_frozen"


class ConcurrentChange(DelphiError):
    """Someone else changed the same thing at the same moment and won; nothing was written."""

    code = "concurrent_change"
