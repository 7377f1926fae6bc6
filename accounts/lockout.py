"""The page django-axes answers with once an account or an address is locked out."""

import math

from axes.helpers import get_cool_off
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOCKOUT_STATUS = 429  # Too Many Requests: the person may try again after the cool-off


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the translated lockout page, saying how long to wait."""
    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    return render(
        request, "accounts/lockout.html", {"cooloff_minutes": minutes}, status=LOCKOUT_STATUS
    )
