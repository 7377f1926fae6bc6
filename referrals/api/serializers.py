"""Output shapes of the partner API. Personal data appears only in the detail, and the
identity number only masked."""

from rest_framework import serializers

from referrals.models import Referral, ReferralEvent, WebhookEndpoint


class UnitRef(serializers.Serializer):
    code = serializers.CharField()
    name_en = serializers.CharField()
    name_zh = serializers.CharField()


class ReferralSummaryOut(serializers.ModelSerializer):
    district = serializers.CharField(source="district.code")
    sub_district = serializers.CharField(source="sub_district.code", allow_null=True)
    unit = serializers.CharField(source="assigned_unit.code", allow_null=True)

    class Meta:
        model = Referral
        fields = [
            "reference",
            "status",
            "version",
            "risk_level",
            "district",
            "sub_district",
            "unit",
            "submitted_at",
            "due_at",
            "updated_at",
        ]


class EventOut(serializers.ModelSerializer):
    unit = serializers.CharField(source="unit.code", allow_null=True)

    class Meta:
        model = ReferralEvent
        fields = ["at", "kind", "from_status", "to_status", "reason", "note", "unit"]


class ReferralDetailOut(ReferralSummaryOut):
    needs = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    phone = serializers.CharField(source="phone.as_e164", allow_null=True, default=None)
    identity_number = serializers.CharField(source="id_number_masked")
    timeline = EventOut(source="events", many=True)

    class Meta(ReferralSummaryOut.Meta):
        fields = [
            *ReferralSummaryOut.Meta.fields,
            "subject_name_zh",
            "subject_name_en",
            "sex",
            "age",
            "phone",
            "address",
            "preferred_language",
            "id_type",
            "identity_number",
            "household",
            "needs",
            "risk_factors",
            "situation",
            "consent_basis",
            "consent_given_by",
            "consent_method",
            "consent_given_at",
            "consent_exemption_reason",
            "outcome_summary",
            "services_provided",
            "timeline",
        ]


class DeclineIn(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class StatusIn(serializers.Serializer):
    """Move an accepted referral on: in_progress, on_hold (reason), completed (outcome) or
    failed (reason)."""

    STEPS = {
        "in_progress": ("start", "resume"),
        "on_hold": ("hold",),
        "completed": ("complete",),
        "failed": ("fail",),
    }
    status = serializers.ChoiceField(choices=list(STEPS))
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    outcome = serializers.CharField(required=False, allow_blank=True, default="")
    services_provided = serializers.CharField(required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class WebhookEndpointOut(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "is_active", "created_at"]


class WebhookEndpointCreated(WebhookEndpointOut):
    """Only the answer to the creation shows the signing secret."""

    class Meta(WebhookEndpointOut.Meta):
        fields = [*WebhookEndpointOut.Meta.fields, "secret"]


class WebhookEndpointIn(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEndpoint.Event.choices),
        required=False,
        default=list,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "events"]
