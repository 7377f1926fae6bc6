"""The refusals a referral's services raise. Each carries a translated ``message`` that is
safe to show; pages and the API turn them into responses in one place each
(``referrals/web/errors.py``, ``welfare_portal/api/errors.py``), from the class attributes
of ``welfare_portal.domain.DomainError``: the API's status and error code, and whether the
refusal is answered as "not found"."""

from django.utils.translation import gettext_lazy as _

from welfare_portal.domain import DomainError


class ReferralError(DomainError):
    """A refused change; ``message`` is translated and safe to show to the user. Raised as
    such for a refusal of no more specific kind (an inactive unit, a bad withdrawal)."""

    status_code = 400
    code = "refused"


class IllegalTransition(ReferralError):
    """The step does not start from the referral's current status."""

    # 400, as the API has always answered (and documented) a step from the wrong status.
    status_code = 400
    code = "illegal_transition"


class NotPermitted(ReferralError):
    """The actor may not take this step on this referral (answered as "not found")."""

    status_code = 404
    code = "not_found"
    answered_as_not_found = True


class ReasonRequired(ReferralError):
    """The step needs a reason (or an outcome) and none was given."""

    status_code = 400
    code = "reason_required"


class OutcomeNotAllowed(ReferralError):
    """An outcome summary sent with a step other than completion: the referrer reads the
    summary as the unit's final word, so no other step may write it."""

    status_code = 400
    code = "outcome_not_allowed"


class Conflict(ReferralError):
    """The referral changed since the caller read it (the ``version`` they sent is stale)."""

    status_code = 409
    code = "conflict"


def stale_version(status_label: str) -> Conflict:
    """The one wording for an edit made on an out-of-date copy of a referral."""
    return Conflict(
        _(
            "Someone else changed this referral while you were looking at it; it is "
            "now “%(status)s”. Nothing was changed: check the page and try again."
        )
        % {"status": status_label}
    )
