from django import forms
from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from services.models import (
    Institution,
    Language,
    NeedCategory,
    Organisation,
    ServiceUnit,
    UnitType,
)
from services.resources import InstitutionResource, ServiceUnitResource


@admin.register(NeedCategory)
class NeedCategoryAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_zh", "ordering"]
    list_editable = ["ordering"]
    search_fields = ["code", "name_en", "name_zh"]


@admin.register(UnitType)
class UnitTypeAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_zh"]
    search_fields = ["code", "name_en", "name_zh"]
    filter_horizontal = ["needs"]


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    # A website typed without a scheme means https (Django 6's default, chosen now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["code", "name_en", "name_zh", "kind", "is_demo_data"]
    list_filter = ["kind", "is_demo_data"]
    search_fields = ["code", "name_en", "name_zh"]


class ServiceUnitForm(forms.ModelForm):
    languages = forms.MultipleChoiceField(
        label=_("languages served"),
        choices=Language.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ServiceUnit
        fields = [
            "code",
            "name_en",
            "name_zh",
            "unit_type",
            "organisation",
            "is_active",
            "district",
            "address_en",
            "address_zh",
            "phone",
            "email",
            "languages",
            "capacity",
            "social_workers",
            "catchment_districts",
            "catchment_sub_districts",
            "is_demo_data",
        ]


@admin.register(ServiceUnit)
class ServiceUnitAdmin(ImportExportModelAdmin):
    form = ServiceUnitForm
    resource_classes = [ServiceUnitResource]
    list_display = [
        "code",
        "name_en",
        "name_zh",
        "unit_type",
        "district",
        "organisation",
        "capacity",
        "current_load",
        "is_active",
    ]
    list_filter = ["is_active", "unit_type", "district", "is_demo_data"]
    list_select_related = ["unit_type", "district", "organisation"]
    search_fields = ["code", "name_en", "name_zh"]
    autocomplete_fields = [
        "organisation",
        "district",
        "catchment_districts",
        "catchment_sub_districts",
    ]
    # The load counts the unit's referrals (kept by referrals/services.py, repaired by the
    # ``reconcile_unit_loads`` task): shown, never typed in.
    readonly_fields = ["current_load", "children_capacity", "updated_at"]
    fieldsets = [
        (None, {"fields": ServiceUnitForm.Meta.fields[:6]}),
        (_("Contact"), {"fields": ServiceUnitForm.Meta.fields[6:12]}),
        (
            _("Capacity"),
            {"fields": ["capacity", "current_load", "social_workers", "children_capacity"]},
        ),
        (_("Catchment"), {"fields": ["catchment_districts", "catchment_sub_districts"]}),
        (_("Record"), {"fields": ["is_demo_data", "updated_at"]}),
    ]

    @admin.display(description=_("children it can serve (pre-primary)"))
    def children_capacity(self, unit: ServiceUnit) -> int:
        return unit.children_capacity


class InstitutionForm(forms.ModelForm):
    class Meta:
        model = Institution
        fields = [
            "code",
            "name_en",
            "name_zh",
            "kind",
            "is_active",
            "district",
            "sub_district",
            "enrolment",
            "matched_team",
            "is_demo_data",
        ]
        help_texts = {
            "matched_team": _(
                "Changing the team here moves no case. To re-match with the cases of the "
                "institution's children, use the district office's matching page."
            )
        }

    def clean(self):
        data = super().clean()
        district, area = data.get("district"), data.get("sub_district")
        if district and area and area.district_id != district.pk:
            self.add_error("sub_district", _("Choose a sub-district of the district."))
        return data


@admin.register(Institution)
class InstitutionAdmin(ImportExportModelAdmin):
    """Kindergartens and child care centres, and the pre-primary team each is matched to."""

    form = InstitutionForm
    resource_classes = [InstitutionResource]
    list_display = [
        "code",
        "name_en",
        "name_zh",
        "kind",
        "district",
        "sub_district",
        "enrolment",
        "matched_team",
        "is_active",
    ]
    list_filter = ["is_active", "kind", "district", "is_demo_data"]
    list_select_related = ["district", "sub_district", "matched_team"]
    search_fields = ["code", "name_en", "name_zh", "matched_team__code"]
    autocomplete_fields = ["district", "sub_district", "matched_team"]
    readonly_fields = ["updated_at"]
