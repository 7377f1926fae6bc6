"""The OAuth2 token endpoint: django-oauth-toolkit's, refusing a client id or an address
that keeps failing (``accounts.oauth``) before any secret is checked. Mounted under ``o/``
by ``portal/urls.py`` (``urlpatterns`` below)."""

from django.http import JsonResponse
from django.urls import path
from django.utils.translation import gettext as _
from oauth2_provider.views import TokenView

from accounts.oauth import note_failed_token_request, token_request_refused_for


class ThrottledTokenView(TokenView):
    def post(self, request, *args, **kwargs):
        retry_after = token_request_refused_for(request)
        if retry_after is not None:
            response = JsonResponse(
                {
                    "error": "slow_down",
                    "error_description": _(
                        "Too many failed token requests. Try again in %(seconds)s seconds."
                    )
                    % {"seconds": retry_after},
                },
                status=429,
            )
            response["Retry-After"] = str(retry_after)
            response["Cache-Control"] = "no-store"
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code >= 400:
            note_failed_token_request(request)
        return response


urlpatterns = [path("token/", ThrottledTokenView.as_view(), name="oauth2_token")]
