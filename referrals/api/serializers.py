"""Output shapes of the partner API. Personal data appears only in the detail, and the
identity number only masked."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from districts.models import District, SubDistrict
from referrals import identity
from referrals.identity import IdType
from referrals.lifecycle import VisibleEvent, tasks_for, timeline_for
from referrals.models import Referral, ReferralEvent, ReferralTask, RiskFactor, WebhookEndpoint
from referrals.submission import OUT_OF_RANGE, in_range, phone_field
from services.models import NeedCategory


class UnitRef(serializers.Serializer):
    code = serializers.CharField()
    name_en = serializers.CharField()
    name_zh = serializers.CharField()


class TaskOut(serializers.ModelSerializer):
    """One unit's part of the referral (FHIR Task): the needs it serves, its own status,
    deadline and outcome summary. ``part_of`` is the lead task's id (none for the lead)."""

    id = serializers.UUIDField(source="public_id")
    unit = serializers.CharField(source="unit.code")
    organisation = serializers.SerializerMethodField()
    needs = serializers.ListField(source="need_codes", child=serializers.CharField())
    lead = serializers.BooleanField(source="is_lead")
    part_of = serializers.SerializerMethodField()

    class Meta:
        model = ReferralTask
        fields = [
            "id",
            "unit",
            "organisation",
            "needs",
            "lead",
            "part_of",
            "status",
            "due_at",
            "outcome_summary",
            "updated_at",
        ]

    @extend_schema_field(serializers.CharField())
    def get_organisation(self, task: ReferralTask) -> str:
        return task.unit.organisation.code

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_part_of(self, task: ReferralTask):
        lead = next((t for t in task.referral.tasks.all() if t.pk == task.part_of_id), None)
        return lead.public_id if lead else None


class TasksOut(serializers.ListSerializer):
    """The referral's tasks one caller sees, through the one policy, ``lifecycle.tasks_for``:
    every unit's part for the referrer, the office and the lead unit; its own for a unit
    serving one part. The view names the caller (``task_reader``); without it, none."""

    def get_attribute(self, instance: Referral) -> list:
        reader = self.context.get("task_reader")
        if reader is None:
            return []
        roles, unit_ids = reader(instance)
        return tasks_for(instance, roles=roles, unit_ids=unit_ids)


class ReferralSummaryOut(serializers.ModelSerializer):
    """``unit`` and ``due_at`` are the lead unit's; ``tasks`` says what each unit the caller
    may see has done (one task for a referral served by one unit)."""

    district = serializers.CharField(source="district.code")
    sub_district = serializers.CharField(source="sub_district.code", allow_null=True)
    unit = serializers.CharField(source="assigned_unit.code", allow_null=True)
    tasks = TasksOut(child=TaskOut(), source="*", read_only=True)

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
            "tasks",
        ]

    def to_representation(self, referral: Referral) -> dict:
        """The fields above, built directly (a sync page is 500 of them: DRF's generic path
        spent more time than the query). Each value is formatted as the field DRF would use
        formats it, so the answer is the same (``tests/referrals/test_api_sync_speed.py``)."""
        tasks = self.fields["tasks"].get_attribute(referral)
        when = self.__dict__.get("_when") or self.__dict__.setdefault("_when", time_format())
        unit = referral.assigned_unit
        return {
            "reference": referral.reference,
            "status": referral.status,
            "version": referral.version,
            "risk_level": referral.risk_level,
            "district": code_of(referral, "district"),
            "sub_district": code_of(referral, "sub_district"),
            "unit": unit.code if unit is not None else None,
            "submitted_at": when(referral.submitted_at),
            "due_at": when(referral.due_at),
            "updated_at": when(referral.updated_at),
            "tasks": [task_row(task, referral, when) for task in tasks],
        }


def code_of(referral: Referral, place: str) -> str | None:
    """The code of the referral's district or sub-district: read with the row by a sync
    page (``sync_rows.with_sync_relations``: no model built per row), or from the place."""
    loaded = referral.__dict__.get(f"{place}_code", ...)
    if loaded is not ...:
        return loaded
    related = getattr(referral, place)
    return related.code if related is not None else None


def time_format():
    """``serializers.DateTimeField().to_representation``, with the active time zone read
    once (the same text: ISO 8601 in that zone, ``Z`` for UTC)."""
    field = serializers.DateTimeField()
    if str(getattr(field, "format", api_settings.DATETIME_FORMAT)).lower() != ISO_8601:
        return field.to_representation
    zone = field.default_timezone()
    if zone is None:
        return field.to_representation

    def when(value):
        if not value:
            return None
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return when


def task_row(task: ReferralTask, referral: Referral, when) -> dict:
    """``TaskOut``'s fields, built directly (see ``ReferralSummaryOut.to_representation``)."""
    lead = None
    if task.part_of_id is not None:
        lead = next((t for t in referral.tasks.all() if t.pk == task.part_of_id), None)
    return {
        "id": str(task.public_id),
        "unit": task.unit.code,
        "organisation": task.unit.organisation.code,
        "needs": task.need_codes,
        "lead": task.is_lead,
        "part_of": str(lead.public_id) if lead else None,
        "status": task.status,
        "due_at": when(task.due_at),
        "outcome_summary": task.outcome_summary,
        "updated_at": when(task.updated_at),
    }


class ReferralFiledOut(ReferralSummaryOut):
    """The answer to a filing: the summary without ``tasks`` (routing may not have run yet;
    read the referral for its units' tasks)."""

    to_representation = serializers.ModelSerializer.to_representation

    class Meta(ReferralSummaryOut.Meta):
        fields = [name for name in ReferralSummaryOut.Meta.fields if name != "tasks"]


class EventOut(serializers.ModelSerializer):
    """One step of the referral's timeline. `reason` and `note` are empty for a caller who
    may not read the case notes: the referrer, or the client that filed the referral."""

    unit = serializers.CharField(source="unit.code", allow_null=True)

    class Meta:
        model = ReferralEvent
        fields = ["at", "kind", "from_status", "to_status", "reason", "note", "unit"]


class TimelineOut(serializers.ListSerializer):
    """The referral's timeline through the one policy, ``lifecycle.timeline_for``, for the
    caller the view names in the context (``reader_roles``, ``reader_id``). Without them, what
    every reader may see: a serializer used elsewhere shows no case notes by mistake."""

    def get_attribute(self, instance: Referral) -> list[VisibleEvent]:
        return timeline_for(
            instance,
            roles=self.context.get("reader_roles", frozenset()),
            reader_id=self.context.get("reader_id"),
            unit_ids=self.context.get("reader_unit_ids", frozenset()),
        )


class ReferralDetailOut(ReferralSummaryOut):
    to_representation = serializers.ModelSerializer.to_representation

    needs = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    phone = serializers.CharField(source="phone.as_e164", allow_null=True, default=None)
    identity_number = serializers.SerializerMethodField()
    timeline = TimelineOut(child=EventOut(), source="events")

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

    @extend_schema_field(serializers.CharField(allow_blank=True))
    def get_identity_number(self, referral: Referral) -> str:
        """Masked, unless the token carries ``referrals:identity``."""
        if self.context.get("show_identity") and referral.id_number_encrypted:
            return identity.decrypt(referral.id_number_encrypted)
        return referral.id_number_masked


class CodeField(serializers.SlugRelatedField):
    """A district or sub-district named by its code. A string PostgreSQL cannot compare (a
    NUL byte, a lone surrogate) is an unknown code, not a database error."""

    def to_internal_value(self, data):
        if isinstance(data, str) and ("\x00" in data or _has_surrogate(data)):
            self.fail("does_not_exist", slug_name=self.slug_field, value=repr(data))
        return super().to_internal_value(data)


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


class InRangeDateTimeField(serializers.DateTimeField):
    """ISO 8601 allows offsets (up to ±23:59) that push year 1 or 9999 out of what Python
    and PostgreSQL can hold; such a time is a field error (``submission.in_range``, the
    page's own message), not a server error."""

    default_error_messages = {"overflow": OUT_OF_RANGE}

    def enforce_timezone(self, value):
        try:
            return in_range(super().enforce_timezone(value))
        except ValidationError:
            self.fail("overflow")


class PhoneField(serializers.CharField):
    """A phone number read as the page's form reads it (``submission.phone_field``), with
    the page's message."""

    reader = phone_field(required=False)

    def to_internal_value(self, data):
        try:
            return self.reader.clean(super().to_internal_value(data))
        except ValidationError as error:
            raise serializers.ValidationError(error.messages) from error


class ReferralIn(serializers.ModelSerializer):
    """A referral filed by a partner system: the fields of the referral form, with districts,
    sub-districts and needs named by code. This checks the body's shape; which fields are
    required to submit, and the consent rules, are ``submission.submission_errors``, the
    page's own."""

    district = CodeField(slug_field="code", queryset=District.objects.all())
    sub_district = CodeField(
        slug_field="code", queryset=SubDistrict.objects.all(), required=False, allow_null=True
    )
    needs = serializers.ListField(
        child=serializers.SlugField(max_length=40),
        required=False,
        help_text="Need category codes, as in the directory (e.g. elderly_care).",
    )
    phone = PhoneField(
        max_length=32, required=False, allow_blank=True, help_text="E.164, or 8 digits in HK."
    )
    id_type = serializers.ChoiceField(choices=IdType.choices, required=False, allow_blank=True)
    id_number = serializers.CharField(
        max_length=20, required=False, allow_blank=True, help_text="Stored encrypted."
    )
    risk_factors = serializers.ListField(
        child=serializers.ChoiceField(choices=RiskFactor.choices), required=False, default=list
    )
    consent_given_at = InRangeDateTimeField(required=False, allow_null=True)

    class Meta:
        model = Referral
        fields = [
            "district",
            "sub_district",
            "subject_name_zh",
            "subject_name_en",
            "sex",
            "age",
            "date_of_birth",
            "phone",
            "address",
            "preferred_language",
            "id_type",
            "id_number",
            "household",
            "needs",
            "situation",
            "risk_factors",
            "consent_basis",
            "consent_given_by",
            "consent_method",
            "consent_given_at",
            "consent_exemption_reason",
            "referrer_contact",
        ]
        extra_kwargs = {name: {"required": False} for name in fields if name != "district"}

    def validate_needs(self, codes: list[str]) -> list[NeedCategory]:
        """All the codes in one query; unknown ones are named."""
        found = {need.code: need for need in NeedCategory.objects.filter(code__in=codes)}
        unknown = sorted(set(codes) - set(found))
        if unknown:
            raise serializers.ValidationError(
                _("Unknown need: %(codes)s.") % {"codes": ", ".join(unknown)}
            )
        return [found[code] for code in dict.fromkeys(codes)]

    def model_values(self) -> dict:
        """The validated body as the referral's values; a field left out is what the page's
        form presets (the model's default), or blank."""
        data = self.validated_data
        return {name: data[name] if name in data else _unsent(name) for name in VALUE_FIELDS}


def _unsent(name: str):
    field = Referral._meta.get_field(name)
    if field.has_default():
        return field.get_default()
    return None if field.null else ""


# The referral's own fields in the body (the needs and the identity number are apart).
VALUE_FIELDS = [
    name for name in ReferralIn.Meta.fields if name not in {"needs", "id_type", "id_number"}
]


class VersionIn(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="The version you saw (or send it in If-Match).",
    )


class DeclineIn(VersionIn):
    reason = serializers.CharField(max_length=500)


class StatusIn(VersionIn):
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
