"""The two-factor pages: the code step after the password (an authenticator code or a backup
code), setting up an authenticator (behind an administrator's enrolment code where that is
needed), and the account's security page where it is turned on or (when optional) off and
backup codes are renewed."""

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

from accounts.forms import BackupCodeForm, EnrolmentCodeForm, TokenForm
from accounts.two_factor import (
    BACKUP_CODE_COUNT,
    ENROLMENT_SESSION_KEY,
    backup_code_verify,
    backup_codes_left,
    backup_device,
    confirmed_device,
    enrolment_code_accept,
    is_locked_out,
    issue_backup_codes,
    pending_device,
    qr_code_svg,
    secret_for_display,
    totp_disable,
    totp_verify,
    two_factor_state,
    usable_enrolment_code,
)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _check_code(request: HttpRequest, form, device) -> HttpResponse | None:
    """Verify the submitted code (the authenticator's, or a backup code: whichever field
    ``form`` has); a lockout response, or None with the form's error set."""
    field = "backup_code" if isinstance(form, BackupCodeForm) else "token"
    if is_locked_out(request=request, user=request.user):
        return _locked_out(request)
    allowed, _details = device.verify_is_allowed()
    if not allowed:
        form.add_error(field, _("Too many wrong codes. Wait a few seconds and try again."))
        return None
    code = form.cleaned_data[field]
    if field == "backup_code":
        verified = backup_code_verify(request=request, device=device, code=code)
        wrong = _("That backup code is not right, or it was used already.")
    else:
        verified = totp_verify(request=request, device=device, token=code)
        wrong = _("That code is not right. Check the time on your phone and enter the newest code.")
    if not verified:
        if getattr(request, "axes_locked_out", False):
            return _locked_out(request)
        form.add_error(field, wrong)
    return None


def _locked_out(request: HttpRequest) -> HttpResponse:
    credentials = {"username": request.user.get_username()}
    logout(request)
    request.axes_locked_out = False  # answered here; AxesMiddleware need not do it again
    return get_lockout_response(request, None, credentials)


@never_cache
@sensitive_post_parameters("token", "backup_code")
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
    form = TokenForm(request.POST if "token" in request.POST else None)
    backup_form = BackupCodeForm(request.POST if "backup_code" in request.POST else None)
    for bound, code_device in ((form, device), (backup_form, backup_device(user=request.user))):
        if not (bound.is_bound and bound.is_valid()):
            continue
        if code_device is None:
            bound.add_error(None, _("You have no backup codes. Ask your administrator."))
            continue
        response = _check_code(request, bound, code_device)
        if response is not None:
            return response
        if request.user.is_verified():
            return redirect(next_url or "home")
    context = {"form": form, "backup_form": backup_form, "next": next_url}
    return render(request, "accounts/two_factor_verify.html", context)


@never_cache
@sensitive_post_parameters("token", "enrolment_code")
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
    if state.enrolment_needs_code and not usable_enrolment_code(
        user=request.user, code_id=request.session.get(ENROLMENT_SESSION_KEY)
    ):
        return _enrolment_gate(request, next_url)
    device = pending_device(user=request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        response = _check_code(request, form, device)
        if response is not None:
            return response
        if request.user.is_verified():
            messages.success(request, _("Two-factor authentication is on."))
            return _show_backup_codes(request, next_url or reverse("two_factor:security"))
    context = {
        "form": form,
        "next": next_url,
        "required": state.required,
        "secret": secret_for_display(device),
        "qr_code": qr_code_svg(device),
    }
    return render(request, "accounts/two_factor_setup.html", context)


def _enrolment_gate(request: HttpRequest, next_url: str) -> HttpResponse:
    """Before any key is shown: the enrolment code an administrator issued."""
    form = EnrolmentCodeForm(request.POST if "enrolment_code" in request.POST else None)
    if form.is_bound and form.is_valid():
        if is_locked_out(request=request, user=request.user):
            return _locked_out(request)
        if enrolment_code_accept(request=request, code=form.cleaned_data["enrolment_code"]):
            return redirect(_with_next("two_factor:setup", next_url))
        if getattr(request, "axes_locked_out", False):
            return _locked_out(request)
        form.add_error(
            "enrolment_code",
            _(
                "That enrolment code is not right, has expired or was used already. "
                "Ask your administrator for a new one."
            ),
        )
    context = {"form": form, "next": next_url}
    return render(request, "accounts/two_factor_enrolment.html", context)


def _show_backup_codes(request: HttpRequest, continue_url: str) -> HttpResponse:
    """A new set of backup codes, on this response only (never stored in the session)."""
    codes = issue_backup_codes(user=request.user)
    context = {"codes": codes, "continue_url": continue_url}
    return render(request, "accounts/backup_codes.html", context)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def security(request: HttpRequest) -> HttpResponse:
    """The account's security page: whether two-factor authentication is on, and a way to
    turn it on, or off where the user's role allows; with it on, a new set of backup codes
    (POST), which replaces the old set."""
    state = two_factor_state(user=request.user)
    if request.method == "POST" and state.has_device and request.user.is_verified():
        return _show_backup_codes(request, reverse("two_factor:security"))
    context = {
        "state": state,
        "backup_codes_left": backup_codes_left(user=request.user),
        "backup_code_count": BACKUP_CODE_COUNT,
    }
    return render(request, "accounts/security.html", context)


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
