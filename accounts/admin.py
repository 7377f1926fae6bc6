from django import forms
from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import add_never_cache_headers
from django_otp.plugins.otp_static.models import StaticDevice

from accounts.models import Membership, PartnerClient, User
from accounts.two_factor import ENROLMENT_CODE_HOURS, reset_two_factor
from welfare_portal.admin_changelists import BoundedDateHierarchyMixin

# The admin's own titles (Django's defaults read "Django administration"), translated.
admin.site.site_header = _("Welfare Portal administration")
admin.site.site_title = _("Welfare Portal administration")

# Backup codes are the person's own: nobody lists or edits them in the admin (a reset of
# two-factor authentication removes them with the authenticator).
if admin.site.is_registered(StaticDevice):
    admin.site.unregister(StaticDevice)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["service_unit", "welfare_office"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [MembershipInline]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        (_("Preferences"), {"fields": ["preferred_language"]}),
    ]
    actions = ["reset_two_factor_and_issue_enrolment_code"]

    @admin.action(
        description=_("Reset two-factor authentication and issue an enrolment code"),
        permissions=["change"],
    )
    def reset_two_factor_and_issue_enrolment_code(self, request, queryset):
        """Lost phone: the person's authenticator and backup codes go, and they set up a new
        one with the code shown here, once."""
        issued = []
        for user in queryset.order_by("username"):
            issued.append(reset_two_factor(user=user, issued_by=request.user))
            self.log_change(request, user, str(_("Two-factor authentication reset.")))
        return self._enrolment_codes_page(request, issued, continue_url=request.get_full_path())

    def response_add(self, request, obj, post_url_continue=None):
        """A new account gets its enrolment code at once (used if the person's role needs
        two-factor authentication, or they turn it on); then the usual next step."""
        if IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        issued = [reset_two_factor(user=obj, issued_by=request.user)]
        following = super().response_add(request, obj, post_url_continue)
        continue_url = following.get("Location") or reverse(
            "admin:accounts_user_change", args=[obj.pk]
        )
        return self._enrolment_codes_page(request, issued, continue_url=continue_url)

    def _enrolment_codes_page(self, request, issued, *, continue_url: str):
        context = {
            **self.admin_site.each_context(request),
            "title": _("Enrolment codes"),
            "opts": self.model._meta,
            "issued": issued,
            "hours": ENROLMENT_CODE_HOURS,
            "continue_url": continue_url,
        }
        response = TemplateResponse(request, "accounts/admin_enrolment_codes.html", context)
        add_never_cache_headers(response)
        return response


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "service_unit", "welfare_office", "created_at"]
    list_filter = ["role", "welfare_office"]
    search_fields = [
        "user__username",
        "user__email",
        "service_unit__name_en",
        "service_unit__name_zh",
    ]
    list_select_related = ["user", "service_unit", "welfare_office"]
    autocomplete_fields = ["user", "service_unit", "welfare_office"]


class PartnerClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("allowed scopes"),
        choices=PartnerClient.Scope.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = PartnerClient
        fields = ["application", "organisation", "scopes", "intake_team"]


@admin.register(PartnerClient)
class PartnerClientAdmin(admin.ModelAdmin):
    """Ties an OAuth2 application (created under "Partner API access (OAuth2)", grant type
    client credentials) to the organisation whose cases it may pull, with its scopes."""

    form = PartnerClientForm
    list_display = ["organisation", "application", "scopes", "intake_team", "created_at"]
    readonly_fields = ["service_user"]
    autocomplete_fields = ["intake_team"]
    list_select_related = ["organisation", "application"]
    search_fields = ["organisation__code", "organisation__name_en", "application__client_id"]


# --- django-axes' admins, with the changelist guard every admin has -----------------------
# (a year past datetime's range in their date hierarchy was a 500; issue 14 item 4)


def _bounded_axes_admins() -> None:
    from axes import admin as axes_admin  # registers them first
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    for model, base in [
        (AccessAttempt, axes_admin.AccessAttemptAdmin),
        (AccessLog, axes_admin.AccessLogAdmin),
        (AccessFailureLog, axes_admin.AccessFailureLogAdmin),
    ]:
        if admin.site.is_registered(model):
            admin.site.unregister(model)
            bounded = type(base.__name__, (BoundedDateHierarchyMixin, base), {})
            admin.site.register(model, bounded)


_bounded_axes_admins()
