"""How a page answers a refused step, the same on every page that calls a service.

A service refuses with a ``ReferralError`` (``referrals/errors.py``) and has changed nothing
(its transaction rolled back). The page answers:

- a refusal answered as "not found" (``NotPermitted``): the 404 page, exactly as for a
  referral one may not see, so a step one may not take tells nothing about the referral;
- any other (``Conflict``, ``IllegalTransition``, ``ReasonRequired``, a plain
  ``ReferralError``): a redirect (302) back where the form came from, with the translated
  message as an error message; the page drawn again shows the referral as it is now.

Views let the errors through and are decorated with ``answers_refusals``. A batch (the
queue's bulk actions) answers row by row with ``refusal_line``, in the same terms.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from referrals.errors import ReferralError
from welfare_portal.domain import DomainError

# A batch row refused as "not found" reads like a row that is out of reach.
NOT_FOUND_LINE = _("A selected referral is not in your districts.")


def answer_refusal(request: HttpRequest, error: DomainError, *, back: str) -> HttpResponse:
    """The page's answer to ``error``: the 404 page, or back to ``back`` with its message."""
    if error.answered_as_not_found:
        raise Http404 from error
    messages.error(request, error.message)
    return redirect(back)


def answers_refusals(back: Callable[..., str]):
    """Decorate a page view that calls a service: a refusal (``DomainError``: a referral's,
    or another app's such as outreach's) it lets through is answered by ``answer_refusal``.
    ``back(request, **url_kwargs)`` names where to go."""

    def decorate(view):
        @wraps(view)
        def answered(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except DomainError as error:
                return answer_refusal(request, error, back=back(request, **kwargs))

        return answered

    return decorate


def same_page(request: HttpRequest, **_url_kwargs) -> str:
    """Back to the page itself (a form that is also its own GET page)."""
    return request.get_full_path()


def refusal_line(reference: str, error: ReferralError) -> str:
    """One row's result line in a batch: the refusal's message after its reference, or the
    out-of-reach line for one answered as "not found" (naming no referral)."""
    if error.answered_as_not_found:
        return str(NOT_FOUND_LINE)
    return _("%(reference)s: %(error)s") % {"reference": reference, "error": error.message}
