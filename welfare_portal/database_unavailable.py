"""PostgreSQL unreachable (restarting, failing over, out of connections): a 503 with
``Retry-After`` instead of a 500, for people a page in their language, under ``/api/`` the
API's JSON error shape.

The page is rendered without the request's context processors, which would query the
database again (the notification bell, the signed-in user). Django reconnects on the next
request by itself (``CONN_HEALTH_CHECKS`` drops a connection that no longer answers), so
nothing has to be restarted when the database is back.
"""

import logging

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


def is_database_error(exception: BaseException | None) -> bool:
    """Django's connection errors, and the driver's own: psycopg's ``OperationalError``
    reaches the view unwrapped when closing a server-side cursor fails (a form's choices,
    iterated by the template, when the server goes away)."""
    driver = connection.Database
    errors = (OperationalError, InterfaceError, driver.OperationalError, driver.InterfaceError)
    return isinstance(exception, errors)


RETRY_AFTER_SECONDS = 30


def unavailable_response(request) -> HttpResponse:
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "error": "unavailable",
                "message": _("The service is briefly unavailable. Try again in a minute."),
                "fields": {},
            },
            status=503,
        )
    else:
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database connection error raised by a view into the 503 answer. Errors raised
    in other middleware (sessions, authentication) reach ``handler500``, which gives the same
    answer (``welfare_portal.errors.server_error``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_database_error(exception):
            return None
        logger.warning(
            "Database unavailable for %s %s: %s", request.method, request.path, exception
        )
        return unavailable_response(request)
