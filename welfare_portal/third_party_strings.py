"""Strings the third-party apps show on the portal's pages (mostly the admin) and pass
through gettext, but for which they ship no Traditional Chinese catalogue.

Nothing imports this module: it exists so that ``makemessages`` puts these exact msgids
into ``locale/zh_Hant/LC_MESSAGES/django.po``, where the portal translates them (the
project's catalogue, LOCALE_PATHS, wins over the apps' own). Each msgid must be copied
exactly as the app writes it. Strings Django itself translates are not repeated here.
The apps' names, and models whose names the apps give as plain strings, are named in
``welfare_portal.third_party_apps``.
"""

from django.utils.translation import gettext_noop

# django-axes (the sign-in attempts and their log): axes/models.py, axes/admin.py
AXES = [
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("User Agent"),
    gettext_noop("IP Address"),
    gettext_noop("HTTP Accept"),
    gettext_noop("Path"),
    gettext_noop("Attempt Time"),
    gettext_noop("Access lock out"),
    gettext_noop("GET Data"),
    gettext_noop("POST Data"),
    gettext_noop("Failed Logins"),
    gettext_noop("Logout Time"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("Locked Out"),
    gettext_noop("Form Data"),
    gettext_noop("Meta Data"),
    gettext_noop("Not set"),
    gettext_noop("Attempt Remaining"),
    gettext_noop("Clean up expired attempts"),
]

# django-oauth-toolkit (partner systems' applications and tokens): oauth2_provider/models.py
OAUTH_TOOLKIT = [
    gettext_noop("client ID"),
    gettext_noop("redirect URIs"),
    gettext_noop("Allowed URIs list, space separated"),
    gettext_noop("post logout redirect URIs"),
    gettext_noop("Allowed Post Logout URIs list, space separated"),
    gettext_noop("client type"),
    gettext_noop("Confidential"),
    gettext_noop("Public"),
    gettext_noop("authorization grant type"),
    gettext_noop("Authorization code"),
    gettext_noop("Device Code"),
    gettext_noop("Implicit"),
    gettext_noop("Resource owner password-based"),
    gettext_noop("Client credentials"),
    gettext_noop("OpenID connect hybrid"),
    gettext_noop("client secret"),
    gettext_noop("Client secret for authentication"),
    gettext_noop("hash client secret"),
    gettext_noop("skip authorization"),
    gettext_noop("No OIDC support"),
    gettext_noop("allowed origins"),
    gettext_noop("Allowed origins list to enable CORS, space separated"),
    gettext_noop("registration source"),
    gettext_noop("How this application was registered (manual, DCR per RFC 7591, or CIMD)"),
    gettext_noop("Manual"),
    gettext_noop("application"),
    gettext_noop("access token"),
    gettext_noop("ID token"),
    gettext_noop("source refresh token"),
    gettext_noop("token"),
    gettext_noop("scope"),
    gettext_noop("revoked"),
    gettext_noop("redirect URI"),
]

# django-import-export (the directory's import and export buttons and pages)
IMPORT_EXPORT = [
    gettext_noop("Import"),
    gettext_noop("Export"),
]
