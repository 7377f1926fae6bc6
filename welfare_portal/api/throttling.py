"""Rate limits per partner client (or per signed-in person), counted in the cache (Redis);
while Redis is unreachable, in a cache local to each process (``counting_cache``)."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from welfare_portal.api.permissions import partner_of
from welfare_portal.cache import counting_cache


class PartnerRateThrottle(SimpleRateThrottle):
    scope = "partner"

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT

    def allow_request(self, request, view) -> bool:
        self.cache = counting_cache()
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str | None:
        partner = partner_of(request)
        if partner is not None:
            return f"throttle:partner:{partner.pk}"
        if request.user is not None and request.user.is_authenticated:
            return f"throttle:user:{request.user.pk}"
        return f"throttle:anon:{self.get_ident(request)}"
