"""Request and answer rules every page and endpoint shares.

- A NUL in a query string is refused before any view, and a number too large for the
  database to compare is a 400 wherever it reaches a query (issue 14 item 4).
- Answers to a signed-in person or a partner system are never stored by a browser or a
  proxy: they may hold personal data (a referral page with the full identity number, a
  queue, an inbox, an API detail), issue 14 item 6.
"""

import logging

from django.core.exceptions import SuspiciousOperation

from welfare_portal.errors import bad_request

logger = logging.getLogger("django.security.OverflowingInput")

NO_STORE = "no-store"


class RefuseNulInQueryMiddleware:
    """No page or endpoint has a use for a NUL in a query parameter, and PostgreSQL refuses
    NUL in text: a filter carrying one (``?role__exact=%00`` on any admin changelist, the
    packages' own included) was a 500. It is the 400 answer instead, the translated page or,
    under ``/api/``, the API's JSON error (``welfare_portal.errors.bad_request``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            raise SuspiciousOperation("NUL in the query string")
        return self.get_response(request)

    def process_exception(self, request, exception):
        """SQLite cannot bind an integer past 64 bits (``?id__exact=2**70`` on any admin
        changelist, the packages' own included): OverflowError, a 500 in the embedded demo.
        Input, not a fault: the 400 answer."""
        if isinstance(exception, OverflowError):
            logger.warning("Number out of range in %s: %s", request.path, exception)
            return bad_request(request, exception)
        return None


def is_authenticated_request(request) -> bool:
    """A session user, or credentials sent with the request (an API token): DRF sets
    ``request.auth`` once it has read them, and a request that sent them but failed before
    (a 404 under ``/api/``) is treated the same."""
    if getattr(request, "auth", None) is not None or "Authorization" in request.headers:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


class NoStoreWhenAuthenticatedMiddleware:
    """``Cache-Control: no-store`` (and ``Pragma: no-cache`` for HTTP/1.0 caches) on every
    answer to an authenticated request, unless the view chose its own ``Cache-Control``.
    Static files (WhiteNoise, outside this) and anonymous public pages keep theirs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control") and is_authenticated_request(request):
            response["Cache-Control"] = NO_STORE
            response["Pragma"] = "no-cache"
        return response
