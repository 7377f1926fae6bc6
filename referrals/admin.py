"""Admin: referrals are read here, changed through their services; the access log is searchable."""

from django.contrib import admin

from referrals.models import AccessLog, ReferenceSequence, Referral, ReferralEvent
from referrals.selectors import referrals_visible_to
from referrals.services import log_personal_data_access


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReferralEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReferralEvent
    fields = ["at", "actor", "from_status", "to_status", "unit", "reason", "note"]
    readonly_fields = fields
    extra = 0


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "reference",
        "status",
        "risk_level",
        "district",
        "assigned_unit",
        "submitted_at",
    ]
    list_filter = ["status", "risk_level", "district", "is_demo_data"]
    search_fields = ["reference"]
    list_select_related = ["district", "assigned_unit"]
    date_hierarchy = "submitted_at"
    exclude = ["id_number_encrypted", "id_number_hash"]
    inlines = [ReferralEventInline]

    def get_queryset(self, request):
        # The same rule as every other path: other people's drafts stay private.
        return referrals_visible_to(request.user).select_related("district", "assigned_unit")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        referral = self.get_object(request, object_id)
        if referral is not None:
            log_personal_data_access(
                user=request.user, referral=referral, channel=AccessLog.Channel.PAGE, detail="admin"
            )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "user", "referral", "channel", "detail"]
    list_filter = ["channel", "at"]
    search_fields = ["user__username", "referral__reference"]
    list_select_related = ["user", "referral"]
    date_hierarchy = "at"


@admin.register(ReferenceSequence)
class ReferenceSequenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["office", "year", "last_value"]
