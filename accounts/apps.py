from django.apps import AppConfig
from django.db.models.signals import post_save, pre_save
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and roles")

    def ready(self):
        from accounts import oauth

        partner_client = self.get_model("PartnerClient")
        # Narrowing a client's scopes (admin or any save) revokes its tokens that carry the
        # scopes taken away, in the same transaction.
        pre_save.connect(
            oauth.remember_scopes_before_save,
            sender=partner_client,
            dispatch_uid="accounts.partner_scopes_before",
        )
        post_save.connect(
            oauth.revoke_tokens_of_removed_scopes,
            sender=partner_client,
            dispatch_uid="accounts.partner_scopes_revoke",
        )
