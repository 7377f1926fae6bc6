"""OAuth2 for partner clients: a token may carry only the scopes its client was given (and
loses them when the client does); failed token requests are counted and, past a limit,
refused before any secret is checked."""

import base64
import binascii
import hashlib
import math
import time
from urllib.parse import unquote_plus

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken
from oauth2_provider.scopes import SettingsScopes

from welfare_portal.cache import counting_cache


class PartnerScopes(SettingsScopes):
    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        everything = super().get_available_scopes(application, request, *args, **kwargs)
        partner = getattr(application, "partner", None) if application else None
        if partner is None:
            return []
        return [scope for scope in everything if scope in partner.scopes]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return self.get_available_scopes(application, request, *args, **kwargs)


# --- Failed token requests: counted per client id and per address, refused past a limit ------


def _client_id_of(request) -> str:
    """The client id a token request names (HTTP Basic, else the body), unverified."""
    kind, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return unquote_plus(decoded.partition(":")[0])
    return request.POST.get("client_id", "")


def _failure_keys(request) -> list[str]:
    """Cache keys of this minute's failure counts for the request's client id and address."""
    window = int(time.time() // settings.API_TOKEN_FAILURE_WINDOW_SECONDS)
    keys = [f"oauth-token-failures:addr:{request.META.get('REMOTE_ADDR', '')}:{window}"]
    client_id = _client_id_of(request)
    if client_id:
        digest = hashlib.sha256(client_id.encode()).hexdigest()[:32]
        keys.append(f"oauth-token-failures:client:{digest}:{window}")
    return keys


def token_request_refused_for(request) -> int | None:
    """Seconds to wait, if the request's client id or address has had
    ``API_TOKEN_FAILURE_LIMIT`` failed token requests this minute; else None. Asked before
    any secret is checked, so a flood of wrong secrets costs no hashing."""
    counts = counting_cache().get_many(_failure_keys(request))
    if max(counts.values(), default=0) < settings.API_TOKEN_FAILURE_LIMIT:
        return None
    window = settings.API_TOKEN_FAILURE_WINDOW_SECONDS
    return max(1, math.ceil(window - time.time() % window))


def note_failed_token_request(request) -> None:
    """Count a refused token request (wrong secret, unknown client, bad grant or scope)."""
    cache = counting_cache()
    for key in _failure_keys(request):
        if not cache.add(key, 1, timeout=2 * settings.API_TOKEN_FAILURE_WINDOW_SECONDS):
            try:
                cache.incr(key)
            except ValueError:  # expired between the two calls, or the cache is unreachable
                cache.set(key, 1, timeout=2 * settings.API_TOKEN_FAILURE_WINDOW_SECONDS)


# --- Scopes taken from a client: its tokens carrying them stop working -----------------------


def remember_scopes_before_save(sender, instance, **kwargs) -> None:
    """``pre_save`` of PartnerClient: note the scopes the client has in the database."""
    before = sender.objects.filter(pk=instance.pk).values_list("scopes", "application_id")
    instance._granted_before = before.first() if instance.pk else None


def revoke_tokens_of_removed_scopes(sender, instance, **kwargs) -> None:
    """``post_save`` of PartnerClient: the client's tokens (access and refresh) that carry a
    scope it no longer has are revoked, in the transaction of the save."""
    granted = getattr(instance, "_granted_before", None)
    if granted is None:
        return
    scopes_before, application_id = granted
    removed = set(scopes_before or []) - set(instance.scopes or [])
    if removed:
        revoke_tokens_with_scopes(application_id, removed)


@transaction.atomic
def revoke_tokens_with_scopes(application_id: int, scopes: set[str]) -> int:
    """Revoke the application's access tokens carrying any of ``scopes``, with their refresh
    tokens; returns how many access tokens went."""
    tokens = AccessToken.objects.select_for_update().filter(application_id=application_id)
    doomed = [token for token in tokens if scopes & set(token.scope.split())]
    for token in doomed:
        RefreshToken.objects.filter(access_token=token, revoked__isnull=True).update(
            access_token=None, revoked=timezone.now()
        )
    AccessToken.objects.filter(pk__in=[token.pk for token in doomed]).delete()
    return len(doomed)
