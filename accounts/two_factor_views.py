"""The two-factor pages: the code step after the password, setting up an authenticator, and
the account's security page where it is turned on or (when optional) off."""

from axes.helpers import get_lockout_response
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import TokenForm
from accounts.two_factor import (
    confirmed_device,
    is_locked_out,
    pending_device,
    qr_code_svg,
    secret_for_display,
    totp_disable,
    totp_verify,
    two_factor_state,
)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _check_code(request: HttpRequest, form: TokenForm, device) -> HttpResponse | None:
    """Verify the submitted code; a lockout response, or None with the form's error set."""
    if is_locked_out(request=request, user=request.user):
        return _locked_out(request)
    allowed, _details = device.verify_is_allowed()
    if not allowed:
        form.add_error("token", _("Too many wrong codes. Wait a few seconds and try again."))
        return None
    if not totp_verify(request=request, device=device, token=form.cleaned_data["token"]):
        if getattr(request, "axes_locked_out", False):
            return _locked_out(request)
        form.add_error(
            "token",
            _("That code is not right. Check the time on your phone and enter the newest code."),
        )
    return None


def _locked_out(request: HttpRequest) -> HttpResponse:
    credentials = {"username": request.user.get_username()}
    logout(request)
    request.axes_locked_out = False  # answered here; AxesMiddleware need not do it again
    return get_lockout_response(request, None, credentials)


@never_cache
@sensitive_post_parameters("token")
@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """The step after the password for a user with an authenticator."""
    next_url = _next_url(request)
    if request.user.is_verified():
        return redirect(next_url or "home")
    device = confirmed_device(user=request.user)
    if device is None:
        return redirect(_with_next("two_factor:setup", next_url))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        response = _check_code(request, form, device)
        if response is not None:
            return response
        if request.user.is_verified():
            return redirect(next_url or "home")
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": next_url})


@never_cache
@sensitive_post_parameters("token")
@login_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """Register an authenticator app: show its secret and QR code, confirm with a code."""
    next_url = _next_url(request)
    state = two_factor_state(user=request.user)
    if state.has_device and not request.user.is_verified():
        # Replacing an authenticator takes the current one first.
        return redirect(_with_next("two_factor:verify", next_url))
    if state.has_device:
        return redirect("two_factor:security")
    device = pending_device(user=request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        response = _check_code(request, form, device)
        if response is not None:
            return response
        if request.user.is_verified():
            messages.success(request, _("Two-factor authentication is on."))
            return redirect(next_url or "two_factor:security")
    context = {
        "form": form,
        "next": next_url,
        "required": state.required,
        "secret": secret_for_display(device),
        "qr_code": qr_code_svg(device),
    }
    return render(request, "accounts/two_factor_setup.html", context)


@never_cache
@login_required
def security(request: HttpRequest) -> HttpResponse:
    """The account's security page: whether two-factor authentication is on, and a way to
    turn it on, or off where the user's role allows."""
    state = two_factor_state(user=request.user)
    return render(request, "accounts/security.html", {"state": state})


@require_POST
@login_required
def disable(request: HttpRequest) -> HttpResponse:
    state = two_factor_state(user=request.user)
    if state.required:
        messages.error(request, _("Your role requires two-factor authentication."))
    elif state.has_device:
        totp_disable(user=request.user)
        messages.success(request, _("Two-factor authentication is off."))
    return redirect("two_factor:security")


def _with_next(url_name: str, next_url: str) -> str:
    url = reverse(url_name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url
