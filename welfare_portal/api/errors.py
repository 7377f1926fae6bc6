"""One JSON error shape for the whole API: ``{"error": code, "message": text, "fields": {}}``.

``message`` is translated (Accept-Language); ``fields`` carries per-field messages for a 400.
A refusal of the domain (``welfare_portal.domain.DomainError``: a stale version, a step from
the wrong status, a missing reason, a step one may not take) needs no handling in the views:
it is answered here, with the status and code its class names, and one answered as "not
found" exactly as a missing object is.
"""

import math

from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from welfare_portal.domain import DomainError

CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_409_CONFLICT: "conflict",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        exc = _as_api_exception(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(_("Not found, or not yours."))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    fields = {}
    message = ""
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        fields = dict(_flatten(exc.detail))
        message = _("Some fields are not valid.")
    elif isinstance(exc, exceptions.APIException):
        message = str(exc.detail) if not isinstance(exc.detail, list | dict) else str(exc)
        message = _own_message(exc, message)
    body = {
        "error": getattr(exc, "error_code", None) or CODES.get(response.status_code, "error"),
        "message": message,
        "fields": fields,
    }
    return Response(body, status=response.status_code, headers=_auth_headers(response))


# DRF's own messages for these are not in its zh_Hant catalogue, so a Chinese caller read
# them in English (issue 14 item 13): the API says them in its own, translated words.
OWN_MESSAGES = {
    exceptions.NotAuthenticated: lambda: _(
        "Send a valid access token (Authorization: Bearer …), or sign in."
    ),
    exceptions.AuthenticationFailed: lambda: _("The credentials sent are not valid."),
    exceptions.NotAcceptable: lambda: _("This API answers in JSON: accept application/json."),
    exceptions.ParseError: lambda: _("The request body could not be read."),
}


def _own_message(exc: exceptions.APIException, message: str) -> str:
    """The API's message for an exception raised with DRF's default text; a message of
    its own (``AuthenticationFailed("...")``) is kept."""
    if type(exc) is exceptions.Throttled and exc.wait is not None:  # DRF adds the wait
        seconds = math.ceil(exc.wait)
        return ngettext(
            "Too many requests. Try again in %(seconds)s second.",
            "Too many requests. Try again in %(seconds)s seconds.",
            seconds,
        ) % {"seconds": seconds}
    own = OWN_MESSAGES.get(type(exc))
    if own is None or message != str(type(exc).default_detail):
        return message
    return own()


class Refused(exceptions.APIException):
    """A ``DomainError`` in DRF's terms: its status, its code, its message."""

    def __init__(self, error: DomainError):
        super().__init__(str(error.message))
        self.status_code = error.status_code
        self.error_code = error.code


def _as_api_exception(error: DomainError) -> exceptions.APIException | Http404:
    return Http404() if error.answered_as_not_found else Refused(error)


def _flatten(detail, path: str = ""):
    """Nested errors (a list's items, a nested object) as ``("needs.0", [messages])``."""
    if isinstance(detail, dict):
        for name, inner in detail.items():
            yield from _flatten(inner, f"{path}.{name}" if path else str(name))
    elif isinstance(detail, list) and detail and not all(isinstance(m, str) for m in detail):
        for index, inner in enumerate(detail):
            if inner:
                yield from _flatten(inner, f"{path}.{index}")
    else:
        yield path, [str(m) for m in (detail if isinstance(detail, list) else [detail])]


def _auth_headers(response) -> dict:
    return {
        name: response[name]
        for name in ("WWW-Authenticate", "Retry-After", "Allow")
        if response.has_header(name)
    }
