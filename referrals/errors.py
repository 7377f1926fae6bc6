"""The refusals a referral's services raise. Each carries a translated ``message`` that is
safe to show; pages and the API turn them into responses in one place each
(``referrals/web/errors.py``, ``welfare_portal/api/errors.py``)."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class ReferralError(Exception):
    """A refused change; ``message`` is translated and safe to show to the user."""

    def __init__(self, message: Promise | str):
        super().__init__(str(message))
        self.message = message


class IllegalTransition(ReferralError):
    """The step does not start from the referral's current status."""


class NotPermitted(ReferralError):
    """The actor may not take this step on this referral (answered as "not found")."""


class ReasonRequired(ReferralError):
    """The step needs a reason (or an outcome) and none was given."""


class Conflict(ReferralError):
    """The referral changed since the caller read it (the ``version`` they sent is stale)."""


def stale_version(status_label: str) -> Conflict:
    """The one wording for an edit made on an out-of-date copy of a referral."""
    return Conflict(
        _(
            "Someone else changed this referral while you were looking at it; it is "
            "now “%(status)s”. Nothing was changed: check the page and try again."
        )
        % {"status": status_label}
    )
