from functools import cache

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from oauth2_provider import views as oauth2_views

from accounts.views import home, password_change, password_change_done
from referrals.web import urls as web
from welfare_portal.health import healthz


@cache
def _favicon_svg() -> bytes:
    found = finders.find("favicon.svg")  # the source; else the collected copy
    with open(found, "rb") if found else staticfiles_storage.open("favicon.svg") as file:
        return file.read()


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request):
    """``/favicon.ico``, which browsers ask for by themselves: the portal's icon (the SVG
    the pages link to, static/favicon.svg), never a 404 in the logs."""
    return HttpResponse(_favicon_svg(), content_type="image/svg+xml")


urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("accounts.urls")),
    path("account/password/", password_change, name="password_change"),
    path("account/password/done/", password_change_done, name="password_change_done"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("directory/", include("services.urls")),
    path("referrals/", include((web.referral_patterns, "referrals"))),
    path("notifications/", include((web.notification_patterns, "notifications"))),
    path("dashboard/", include((web.dashboard_patterns, "dashboard"))),
    path("queue/", include((web.queue_patterns, "queue"))),
    path("inbox/", include((web.inbox_patterns, "inbox"))),
    path("privacy/", include((web.privacy_patterns, "privacy"))),
    path("outreach/", include("outreach.web.urls")),
    path("admin/", admin.site.urls),
    # OAuth2 for partner systems: client credentials only, so only the token endpoints. The
    # token endpoint (o/token/, accounts.oauth_views) refuses a client id or an address after
    # repeated failures, before checking any secret.
    path("o/", include("accounts.oauth_views")),
    path("o/revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="oauth2_revoke"),
    path("api/v1/", include("referrals.api.urls")),
    path("api/v1/", include("services.api.urls")),
    path("api/v1/", include("outreach.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api_docs/swagger_ui.html"
        ),
        name="api-docs",
    ),
]

handler400 = "welfare_portal.errors.bad_request"
handler403 = "welfare_portal.errors.permission_denied"
handler404 = "welfare_portal.errors.page_not_found"
handler500 = "welfare_portal.errors.server_error"
