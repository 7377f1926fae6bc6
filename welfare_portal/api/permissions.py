"""Who the API caller is: a partner client (OAuth2 client credentials, acting for one
organisation) or a signed-in person using the browsable API."""

from oauth2_provider.models import AccessToken
from rest_framework.permissions import BasePermission


def partner_of(request):
    """The ``PartnerClient`` behind the request's OAuth2 token, or None."""
    token = request.auth
    if isinstance(token, AccessToken) and token.application_id:
        return getattr(token.application, "partner", None)
    return None


class PartnerScope(BasePermission):
    """A partner token carrying the view's ``required_scopes``, or a signed-in person (whose
    visibility the view applies). Anonymous callers get 401, a token without the scope 403.
    A view may ask other scopes for some methods (``scopes_by_method``)."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, AccessToken):
            if partner_of(request) is None:
                return False
            scopes = getattr(view, "scopes_by_method", {}).get(request.method)
            return request.auth.is_valid(scopes or view.required_scopes)
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)
