import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _

from districts.models import District
from services.models import NeedCategory, ServiceUnit, UnitType


class DirectoryFilter(django_filters.FilterSet):
    """The directory search: free text, unit type, district served and need."""

    q = django_filters.CharFilter(
        label=_("Name or keyword"),
        method="filter_text",
        widget=forms.TextInput(attrs={"type": "search", "autocomplete": "off"}),
    )
    type = django_filters.ModelChoiceFilter(
        label=_("Unit type"),
        field_name="unit_type",
        to_field_name="code",
        queryset=UnitType.objects.order_by("code"),
        empty_label=_("Any type"),
    )
    district = django_filters.ModelChoiceFilter(
        label=_("District served"),
        to_field_name="code",
        queryset=District.objects.order_by("code"),
        method="filter_district",
        empty_label=_("Any district"),
    )
    need = django_filters.ModelChoiceFilter(
        label=_("Need"),
        to_field_name="code",
        queryset=NeedCategory.objects.all(),
        method="filter_need",
        empty_label=_("Any need"),
    )
    include_inactive = django_filters.BooleanFilter(
        label=_("Include inactive units"),
        method="filter_include_inactive",
        widget=forms.CheckboxInput,
    )

    class Meta:
        model = ServiceUnit
        fields = ["q", "type", "district", "need", "include_inactive"]

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("include_inactive"):
            queryset = queryset.active()
        return super().filter_queryset(queryset)

    def filter_text(self, queryset, name, value: str):
        return queryset.search(value)

    def filter_district(self, queryset, name, value: District):
        return queryset.serving_district(value)

    def filter_need(self, queryset, name, value: NeedCategory):
        return queryset.filter(unit_type__needs=value)

    def filter_include_inactive(self, queryset, name, value: bool):
        return queryset  # applied in filter_queryset, so that "off" means active only
