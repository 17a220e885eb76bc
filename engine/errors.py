"""Typed refusals from the engine.

Each error carries a one-line, user-facing sentence (``str(error)``) so that the conductor
can answer an expert or a coordinator without knowing the details; ``code`` is a stable
machine name for tests, logs and adapters.
"""

from __future__ import annotations


class DelphiError(Exception):
    """Base class: a refusal that writes nothing and deserves a clear sentence."""

    code = "refused"


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
