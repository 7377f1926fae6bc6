from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse_lazy

from accounts.forms import PasswordChangeForm
from accounts.selectors import office_districts_with_unit_counts, role_overview
from services.selectors import directory_totals


@login_required
def home(request):
    overview = role_overview(user=request.user)
    context = {"overview": overview}
    if overview.offices:
        context["office_districts"] = office_districts_with_unit_counts(offices=overview.offices)
    if overview.is_administrator:
        context["totals"] = directory_totals()
    return render(request, "accounts/home.html", context)


# A signed-in person changes their own password: Django's views (login required, the old
# password checked, AUTH_PASSWORD_VALIDATORS applied, the session kept valid with
# update_session_auth_hash, so the second factor verified in it stays verified; the
# person's other sessions end), with the portal's pages. Behind the two-factor gate like
# every page (accounts.middleware.TwoFactorRequiredMiddleware).
password_change = auth_views.PasswordChangeView.as_view(
    form_class=PasswordChangeForm,
    template_name="accounts/password_change.html",
    success_url=reverse_lazy("password_change_done"),
)
password_change_done = auth_views.PasswordChangeDoneView.as_view(
    template_name="accounts/password_change_done.html",
)
