"""The third-party apps' configurations, with names the admin can show in both languages.

Some of these apps name themselves and their models with plain strings (django-otp's
"Otp_Totp", django-oauth-toolkit's "Django OAuth Toolkit" and its "application", "access
token" ...; django-axes gives its app no name at all), which no catalogue can translate.
Here each app gets a translatable name, and the models whose names are plain strings get
the same English names wrapped in gettext, so the Traditional Chinese catalogue
(``locale/``) translates them. The English singular names stay as the apps had them, so the
permission names Django derives from them do not change. INSTALLED_APPS names these classes.

Strings the apps already pass through gettext, but for which they ship no Traditional
Chinese catalogue, are listed in ``welfare_portal.third_party_strings``.
"""

from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from oauth2_provider.apps import DOTConfig


def _name_models(config: AppConfig, names: dict) -> None:
    """``names``: model name → (verbose_name, verbose_name_plural), both lazy."""
    for model_name, (singular, plural) in names.items():
        options = config.get_model(model_name)._meta
        options.verbose_name = singular
        options.verbose_name_plural = plural


class AxesConfig(AxesAppConfig):
    verbose_name = _("Sign-in attempts")


class OAuthToolkitConfig(DOTConfig):
    verbose_name = _("Partner API access (OAuth2)")

    def ready(self):
        super().ready()
        _name_models(
            self,
            {
                "Application": (_("application"), _("applications")),
                "AccessToken": (_("access token"), _("access tokens")),
                "RefreshToken": (_("refresh token"), _("refresh tokens")),
                "Grant": (_("grant"), _("grants")),
                "IDToken": (_("id token"), _("id tokens")),
            },
        )


class TOTPConfig(AppConfig):
    name = "django_otp.plugins.otp_totp"
    default_auto_field = "django.db.models.AutoField"
    verbose_name = _("Authenticator apps")

    def ready(self):
        _name_models(self, {"TOTPDevice": (_("TOTP device"), _("TOTP devices"))})


class StaticOTPConfig(AppConfig):
    name = "django_otp.plugins.otp_static"
    default_auto_field = "django.db.models.AutoField"
    verbose_name = _("Backup codes")

    def ready(self):
        _name_models(
            self,
            {
                "StaticDevice": (_("static device"), _("static devices")),
                "StaticToken": (_("static token"), _("static tokens")),
            },
        )
