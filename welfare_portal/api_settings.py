"""The partner API's settings: OAuth2 client credentials and scopes, the OpenAPI schema.

Read by ``welfare_portal/settings.py``; kept here so the settings module stays a page of
choices, as ``observability.py`` keeps logging's.
"""

# The scopes a partner client may be given (``accounts.PartnerClient.Scope`` names the same
# codes, with their translated labels, for the admin).
SCOPES = {
    "referrals:read": "Read the organisation's referrals",
    "referrals:write": "Update the organisation's referrals",
    "directory:read": "Read the service directory",
    "referrals:identity": "See identity numbers in full",
    "notices:write": "Send urgent notices (a carer admitted to hospital)",
    "outreach:write": "Load households into visit lists",
}


def oauth2_provider_settings(*, token_seconds: int) -> dict:
    """django-oauth-toolkit's ``OAUTH2_PROVIDER``."""
    return {
        "SCOPES": SCOPES,
        "SCOPES_BACKEND_CLASS": "accounts.oauth.PartnerScopes",
        "ACCESS_TOKEN_EXPIRE_SECONDS": token_seconds,
        "CLIENT_SECRET_HASHER": "hmac_sha256",
        "PKCE_REQUIRED": True,
        "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
        "ROTATE_REFRESH_TOKEN": True,
        "REFRESH_TOKEN_REUSE_PROTECTION": True,
        # The OAuth 2.0 Security BCP (RFC 9700) behaviours, ahead of their becoming the default.
        **{
            f"COMPLIANT_BCP_RFC9700_{rule}": True
            for rule in (
                "ACCESS_TOKEN_TRANSPORT",
                "AUTHZ_RESPONSE_ISS",
                "IMPLICIT_GRANT",
                "PASSWORD_GRANT",
                "PKCE_METHOD",
                "REDIRECT_URI_SCHEME",
                "REFRESH_TOKEN",
                "TOKEN_STORAGE",
            )
        },
    }


SPECTACULAR_SETTINGS = {
    "TITLE": "Welfare Portal partner API",
    "DESCRIPTION": "Referrals assigned to a partner organisation's units, for its case system.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"ReferralStatusEnum": "referrals.models.Status"},
}
