"""What every layer shares about a refused change, so that the faces can answer it without
knowing the app that raised it (``welfare_portal/api/errors.py`` must not import ``referrals``).

An app's refusals subclass ``DomainError`` and say, as class attributes, how they are
answered: the HTTP status and the stable ``code`` of the API's error shape, and whether the
refusal is answered as "not found" (so that a step one may not take on a record looks the
same as a record one may not see).
"""

from django.utils.functional import Promise


class DomainError(Exception):
    """A refused change; ``message`` is translated (lazily) and safe to show the caller."""

    status_code: int = 400
    code: str = "refused"
    # Answered exactly like a missing object (404, the generic "not found" wording): the
    # caller learns nothing of the record or of the rule that refused them.
    answered_as_not_found: bool = False

    def __init__(self, message: Promise | str):
        super().__init__(str(message))
        self.message = message
