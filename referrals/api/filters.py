"""Filters of the partner API's referral list."""

from datetime import UTC, datetime

import django_filters
from django import forms
from django.utils.translation import gettext as _
from django_filters.fields import IsoDateTimeField

from referrals.models import Referral, RiskLevel, Status


def in_utc(value: datetime) -> datetime:
    """An aware time in UTC. ISO 8601 allows offsets (up to ±23:59) and years that
    PostgreSQL refuses; in UTC every time the database can hold is accepted, the rest is a
    clear error instead of a database failure."""
    try:
        return value.astimezone(UTC)
    except OverflowError as error:
        raise forms.ValidationError(_("This date and time is out of range.")) from error


class UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        parsed = super().to_python(value)
        return in_utc(parsed) if parsed is not None else None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class ReferralFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    risk_level = django_filters.ChoiceFilter(choices=RiskLevel.choices)
    unit = django_filters.CharFilter(field_name="assigned_unit__code")
    district = django_filters.CharFilter(field_name="district__code")
    updated_after = UtcIsoDateTimeFilter(field_name="updated_at", lookup_expr="gt")

    class Meta:
        model = Referral
        fields = ["status", "risk_level", "unit", "district", "updated_after"]
