"""Error pages: under ``/api/`` the API's JSON error shape, elsewhere Django's pages (which
use ``templates/404.html`` and the like)."""

import sys

from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

from welfare_portal.database_unavailable import is_database_error, unavailable_response


def _api(request) -> bool:
    return request.path.startswith("/api/")


def _json(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": code, "message": message, "fields": {}}, status=status)


def bad_request(request, exception):
    if _api(request):
        return _json("invalid", _("The request could not be understood."), 400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception):
    if _api(request):
        return _json("permission_denied", _("You may not do this."), 403)
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception):
    if _api(request):
        return _json("not_found", _("Not found, or not yours."), 404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    # A database error raised outside a view (sessions, authentication middleware) lands
    # here; it is an outage, not a bug: the same 503 as DatabaseUnavailableMiddleware gives.
    if is_database_error(sys.exc_info()[1]):
        return unavailable_response(request)
    if _api(request):
        return _json("server_error", _("Something went wrong on our side. Try again later."), 500)
    return defaults.server_error(request)
