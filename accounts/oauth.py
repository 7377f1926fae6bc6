"""OAuth2 scopes per partner client: a token may carry only the scopes its client was given."""

from oauth2_provider.scopes import SettingsScopes


class PartnerScopes(SettingsScopes):
    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        everything = super().get_available_scopes(application, request, *args, **kwargs)
        partner = getattr(application, "partner", None) if application else None
        if partner is None:
            return []
        return [scope for scope in everything if scope in partner.scopes]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return self.get_available_scopes(application, request, *args, **kwargs)
