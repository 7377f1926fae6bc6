"""Outreach in the admin: visit lists (loading goes through the office's import page, so
every file meets the loader's rules), estates (the addresses that find a sub-district),
and households and visits to read, never to edit: their changes are the services' steps.

A household's page shows its people, so opening it is written to the outreach access log,
as every page that shows them is; the changelist shows addresses only.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from outreach.events import log_household_access
from outreach.models import Estate, Household, OutreachAccessLog, Person, Visit, VisitList
from referrals.admin import ReadOnlyAdminMixin


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read, never add, change or delete (the referrals admin's one rule for it)."""


@admin.register(VisitList)
class VisitListAdmin(admin.ModelAdmin):
    list_display = ("name", "source", "welfare_office", "target_date", "created_at", "load")
    list_filter = ("source", "welfare_office")
    search_fields = ("name", "source_detail")
    exclude = ("created_by",)

    @admin.display(description=_("households"))
    def load(self, obj: VisitList) -> str:
        url = reverse("outreach:list_import", kwargs={"public_id": obj.public_id})
        return format_html('<a href="{}">{}</a>', url, _("Load households"))

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Estate)
class EstateAdmin(admin.ModelAdmin):
    list_display = ("name_zh", "name_en", "sub_district")
    list_filter = ("sub_district__district",)
    search_fields = ("name_zh", "name_en", "sub_district__code")
    list_select_related = ("sub_district",)


class PersonInline(admin.TabularInline):
    model = Person
    fields = ("position", "name_zh", "name_en", "age_band", "role", "phone", "id_type")
    fields += ("id_number_masked",)
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class LogsAccess:
    """A detail page that shows a household's people is written to the access log."""

    def household_of(self, obj):
        return obj

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        obj = self.get_object(request, object_id)
        if obj is not None and getattr(response, "status_code", 200) == 200:
            log_household_access(
                user=request.user,
                household=self.household_of(obj),
                channel=OutreachAccessLog.Channel.PAGE,
                detail="admin",
            )
        return response


@admin.register(Household)
class HouseholdAdmin(LogsAccess, ReadOnlyAdmin):
    list_display = ("address", "visit_list", "sub_district", "team", "status")
    list_display += ("effective_priority",)
    list_filter = ("status", "visit_list")
    search_fields = ("estate_name", "source_row_id")
    list_select_related = ("visit_list", "sub_district", "team")
    inlines = [PersonInline]
    show_full_result_count = False


@admin.register(Visit)
class VisitAdmin(LogsAccess, ReadOnlyAdmin):
    list_display = ("household", "team", "visited_by", "visited_at", "outcome", "next_step")
    list_filter = ("outcome", "next_step")
    list_select_related = ("household", "team", "visited_by")
    date_hierarchy = "visited_at"

    def household_of(self, obj: Visit) -> Household:
        return obj.household
