"""Admin: referrals are read here, changed through their services; the access log is searchable."""

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from referrals.assignment import move_deadlines_for_closures
from referrals.audit import log_personal_data_access
from referrals.deliveries import deliveries_send_again
from referrals.models import (
    AccessLog,
    ApiIntake,
    ContactAttempt,
    Delivery,
    Household,
    Notification,
    OfficeClosure,
    ReferenceSequence,
    Referral,
    ReferralEvent,
    ReferralTask,
    RiskFactor,
    RiskLevel,
    RoutingRule,
    TransferCase,
    TransferPlan,
    UnitMessage,
    UrgentNotice,
    WebhookEndpoint,
)
from referrals.selectors import referrals_visible_to
from welfare_portal.admin_changelists import BoundedDateHierarchyMixin


class ReadOnlyAdminMixin:
    # A NUL in a changelist's filter is refused for every admin (and every page) by
    # ``welfare_portal.middleware.RefuseNulInQueryMiddleware``.

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReferralEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReferralEvent
    fields = ["at", "actor", "kind", "from_status", "to_status", "unit", "reason", "note"]
    readonly_fields = fields
    extra = 0


class ReferralTaskInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Each unit's part (issue 16): changed through the services, read here."""

    model = ReferralTask
    fk_name = "referral"
    fields = [
        "unit",
        "is_lead",
        "status",
        "owner",
        "due_at",
        "overdue_at",
        "outcome_summary",
        "closed_at",
    ]
    readonly_fields = fields
    extra = 0


class TransferCaseInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TransferCase
    fields = ["referral", "from_unit", "to_unit", "state", "family_informed_at", "moved_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = False


@admin.register(TransferPlan)
class TransferPlanAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Planned transfers (issue 17): made and run through the office's and supervisors'
    pages (``referrals/transfer_plans.py``), read here."""

    list_display = ["title", "kind", "reason", "from_unit", "effective_on", "state", "created_by"]
    list_filter = ["state", "kind", "reason"]
    search_fields = ["title", "from_unit__code"]
    inlines = [TransferCaseInline]


class UnitMessageInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = UnitMessage
    fields = ["at", "unit", "author", "body"]
    readonly_fields = fields
    extra = 0


class ContactAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ContactAttempt
    fields = ["at", "by", "outcome", "reason", "retry_at", "note"]
    readonly_fields = fields
    extra = 0


@admin.register(UrgentNotice)
class UrgentNoticeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Notices from the hospital side (a carer admitted); each opened a referral per person."""

    list_display = ["received_at", "carer_name", "hospital", "client"]
    list_select_related = ["client__organisation", "client__application"]
    search_fields = ["carer_name", "key", "referrals__reference"]
    exclude = ["fingerprint"]


@admin.register(Referral)
class ReferralAdmin(BoundedDateHierarchyMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
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
    inlines = [ReferralTaskInline, UnitMessageInline, ContactAttemptInline, ReferralEventInline]

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
class AccessLogAdmin(BoundedDateHierarchyMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who read whose data: a person (``user``) or a partner system (``client``, searchable
    by its OAuth2 client id or its organisation)."""

    list_display = ["at", "user", "client", "referral", "channel", "detail"]
    list_filter = ["channel", "at", "client"]
    search_fields = [
        "user__username",
        "referral__reference",
        "client__application__client_id",
        "client__organisation__code",
        "client__organisation__name_en",
        "client__organisation__name_zh",
    ]
    list_select_related = ["user", "referral", "client__organisation", "client__application"]
    date_hierarchy = "at"


@admin.register(ApiIntake)
class ApiIntakeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Which partner client filed which referral, under which Idempotency-Key."""

    list_display = ["created_at", "client", "key", "referral"]
    list_select_related = ["client__organisation", "client__application", "referral"]
    search_fields = ["key", "referral__reference"]


@admin.register(ReferenceSequence)
class ReferenceSequenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["office", "year", "last_value"]


class RoutingRuleForm(forms.ModelForm):
    """The JSON list fields edited as tick boxes, so only valid values can be saved."""

    risk_levels = forms.MultipleChoiceField(
        label=_("risk levels (any of)"),
        choices=RiskLevel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    risk_factors = forms.MultipleChoiceField(
        label=_("risk factors (any of)"),
        choices=RiskFactor.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    households = forms.MultipleChoiceField(
        label=_("households (any of)"),
        choices=Household.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = RoutingRule
        fields = [
            "code",
            "name_en",
            "name_zh",
            "priority",
            "is_active",
            "needs",
            "risk_levels",
            "risk_factors",
            "households",
            "district",
            "unit_types",
            "sla_amount",
            "sla_unit",
            "escalate_at_once",
            "when_overdue",
        ]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    """Headquarters edits routing here; an empty criterion matches any referral."""

    form = RoutingRuleForm
    list_display = [
        "priority",
        "code",
        "name_en",
        "name_zh",
        "sla_amount",
        "sla_unit",
        "escalate_at_once",
        "when_overdue",
        "is_active",
    ]
    list_display_links = ["code"]
    list_editable = ["priority", "is_active"]
    list_filter = ["is_active", "escalate_at_once", "when_overdue", "unit_types"]
    search_fields = ["code", "name_en", "name_zh"]
    filter_horizontal = ["needs", "unit_types"]
    fieldsets = [
        (None, {"fields": ["code", "name_en", "name_zh", "priority", "is_active"]}),
        (
            _("When it applies (every filled criterion must match)"),
            {
                "fields": [
                    "needs",
                    "risk_levels",
                    "risk_factors",
                    "households",
                    "district",
                    "match_institution",
                ]
            },
        ),
        (
            _("Where it routes and how fast"),
            {
                "fields": [
                    "unit_types",
                    "sla_amount",
                    "sla_unit",
                    "escalate_at_once",
                    "when_overdue",
                ]
            },
        ),
    ]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "recipient", "kind", "referral", "read_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["recipient__username", "referral__reference"]
    list_select_related = ["recipient", "referral"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "channel",
        "to",
        "subject",
        "state",
        "attempts",
        "status_code",
        "sent_at",
    ]
    list_filter = ["state", "channel"]
    search_fields = ["to", "subject", "key"]
    actions = ["send_again"]

    @admin.action(description=_("Try again to send the selected deliveries"))
    def send_again(self, request, queryset):
        retried = deliveries_send_again(deliveries=queryset)
        self.message_user(
            request,
            ngettext("%(n)d delivery queued again.", "%(n)d deliveries queued again.", retried)
            % {"n": retried},
            messages.SUCCESS,
        )


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"),
        choices=WebhookEndpoint.Event.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Empty: every event."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["organisation", "url", "events", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Partner organisations' endpoints; the secret is generated and shown to share once."""

    form = WebhookEndpointForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["organisation", "url", "is_active", "created_at"]
    list_filter = ["is_active", "organisation"]
    search_fields = ["url", "organisation__code", "organisation__name_en"]
    readonly_fields = ["secret", "created_at"]


@admin.register(OfficeClosure)
class OfficeClosureAdmin(admin.ModelAdmin):
    """Typhoon signal No. 8 and black rainstorm closures: business-time clocks pause through
    them (``services.due_at``), those of waiting assignments too, moved when the closure is
    recorded, changed or removed (``assignment.move_deadlines_for_closures``); urgent clocks
    do not."""

    list_display = ["starts_at", "ends_at", "reason", "note", "recorded_by"]
    list_filter = ["reason"]
    fields = ["starts_at", "ends_at", "reason", "note"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.recorded_by = request.user
        before = OfficeClosure.objects.filter(pk=obj.pk).values_list("starts_at", flat=True)
        since = min([obj.starts_at, *before])
        super().save_model(request, obj, form, change)
        self._moved(request, move_deadlines_for_closures(since=since))

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._moved(request, move_deadlines_for_closures(since=obj.starts_at))

    def delete_queryset(self, request, queryset):
        since = min(queryset.values_list("starts_at", flat=True), default=None)
        super().delete_queryset(request, queryset)
        if since is not None:
            self._moved(request, move_deadlines_for_closures(since=since))

    def _moved(self, request, count: int) -> None:
        self.message_user(
            request,
            ngettext(
                "%(count)s waiting referral's deadline was moved.",
                "%(count)s waiting referrals' deadlines were moved.",
                count,
            )
            % {"count": count},
        )
