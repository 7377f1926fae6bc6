"""The refusals outreach's services raise; pages and the API answer them like every other
``DomainError`` (``referrals.web.errors.answers_refusals``, ``welfare_portal/api/errors.py``)."""

from django.utils.translation import gettext_lazy as _

from welfare_portal.domain import DomainError


class OutreachError(DomainError):
    """A refused change; ``message`` is translated and safe to show."""

    status_code = 400
    code = "refused"


class NotPermitted(OutreachError):
    """Out of the caller's reach: answered exactly as a household that does not exist."""

    status_code = 404
    code = "not_found"
    answered_as_not_found = True


class Conflict(OutreachError):
    """The household changed since the caller read it."""

    status_code = 409
    code = "conflict"


def stale_household() -> Conflict:
    return Conflict(
        _("This household was changed by someone else meanwhile. Check it and try again.")
    )
