from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, PartnerClient, User


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
    """Ties an OAuth2 application (created under "Django OAuth Toolkit", grant type client
    credentials) to the organisation whose cases it may pull, with its scopes."""

    form = PartnerClientForm
    list_display = ["organisation", "application", "scopes", "intake_team", "created_at"]
    readonly_fields = ["service_user"]
    autocomplete_fields = ["intake_team"]
    list_select_related = ["organisation", "application"]
    search_fields = ["organisation__code", "organisation__name_en", "application__client_id"]
