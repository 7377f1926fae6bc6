"""Session rules that apply to every page: the two-factor gate and the inactivity time-out."""

import time
from collections.abc import Callable
from functools import cached_property

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from accounts.two_factor import two_factor_state

SESSION_STARTED_KEY = "_session_started_at"
SESSION_SEEN_KEY = "_session_seen_at"
# The last-activity stamp is rewritten at most this often, so a page with many requests
# (htmx swaps, polling) does not write the session on each one.
SEEN_RESOLUTION_SECONDS = 60


class SessionActivityMiddleware:
    """Signs a person out after ``SESSION_IDLE_SECONDS`` without a request, and in any case
    ``SESSION_COOKIE_AGE`` after sign-in (saving the stamp would otherwise slide the
    session's own expiry forward forever). Goes after the message middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> None:
        now = int(time.time())
        session = request.session
        seen = session.get(SESSION_SEEN_KEY)
        started = session.get(SESSION_STARTED_KEY)
        idle = seen is not None and now - seen > settings.SESSION_IDLE_SECONDS
        too_old = started is not None and now - started > settings.SESSION_COOKIE_AGE
        if idle or too_old:
            logout(request)
            messages.info(request, _("You were logged out after a period of inactivity."))
            return
        if started is None:
            session[SESSION_STARTED_KEY] = now
        if seen is None or now - seen >= SEEN_RESOLUTION_SECONDS:
            session[SESSION_SEEN_KEY] = now


class TwoFactorRequiredMiddleware:
    """Holds a signed-in person who must use a second factor (their role requires it, or they
    turned it on) at the two-factor pages until a code has been checked in this session.

    Goes after django-otp's ``OTPMiddleware``. Logging out, switching language and static
    files stay reachable."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    @cached_property
    def open_paths(self) -> frozenset[str]:
        names = (
            "two_factor:verify",
            "two_factor:setup",
            "logout",
            "set_language",
            "healthz",
            "favicon",
        )
        return frozenset(reverse(name) for name in names)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path in self.open_paths or path.startswith(settings.STATIC_URL):
            return self.get_response(request)
        user = request.user
        if user.is_authenticated and not user.is_verified():
            state = two_factor_state(user=user)
            if state.must_verify:
                step = "two_factor:verify" if state.has_device else "two_factor:setup"
                return self._redirect(request, step)
        return self.get_response(request)

    @staticmethod
    def _redirect(request: HttpRequest, url_name: str) -> HttpResponse:
        url = reverse(url_name)
        if request.headers.get("HX-Request") == "true":
            # An htmx swap would put the code page inside the page: send the browser there.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        if request.method == "GET":
            url = f"{url}?{urlencode({'next': request.get_full_path()})}"
        return HttpResponseRedirect(url)
