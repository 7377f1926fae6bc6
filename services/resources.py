"""CSV import/export of service units and of pre-primary institutions (django-import-export),
each matched by ``code``."""

from django.utils.translation import gettext_lazy as _
from import_export import fields, resources, widgets

from districts.models import District, SubDistrict
from services.models import Institution, Organisation, ServiceUnit, UnitType

LIST_SEPARATOR = ";"


class CodeListWidget(widgets.Widget):
    """A list of codes in one cell, separated by semicolons (``yue;eng``)."""

    def clean(self, value, row=None, **kwargs):
        if not value:
            return []
        return [part.strip() for part in str(value).split(LIST_SEPARATOR) if part.strip()]

    def render(self, value, obj=None, **kwargs):
        return LIST_SEPARATOR.join(value or [])


def _by_code(attribute, model, column=None):
    return fields.Field(
        attribute=attribute,
        column_name=column or attribute,
        widget=widgets.ForeignKeyWidget(model, field="code"),
    )


def _many_by_code(attribute, model):
    return fields.Field(
        attribute=attribute,
        column_name=attribute,
        widget=widgets.ManyToManyWidget(model, field="code", separator=LIST_SEPARATOR),
    )


class ServiceUnitResource(resources.ModelResource):
    unit_type = _by_code("unit_type", UnitType)
    organisation = _by_code("organisation", Organisation)
    district = _by_code("district", District)
    languages = fields.Field(
        attribute="languages", column_name="languages", widget=CodeListWidget()
    )
    catchment_districts = _many_by_code("catchment_districts", District)
    catchment_sub_districts = _many_by_code("catchment_sub_districts", SubDistrict)
    # Exported, never imported: the load is a count of the unit's referrals, kept by the
    # referral services and repaired by ``referrals.tasks.reconcile_unit_loads``; a number in
    # a spreadsheet would only make routing rank the unit wrongly until the next repair.
    current_load = fields.Field(
        attribute="current_load",
        column_name="current_load",
        widget=widgets.IntegerWidget(),
        readonly=True,
    )

    class Meta:
        model = ServiceUnit
        import_id_fields = ["code"]
        fields = [
            "code",
            "name_en",
            "name_zh",
            "unit_type",
            "organisation",
            "district",
            "address_en",
            "address_zh",
            "phone",
            "email",
            "languages",
            "capacity",
            "social_workers",
            "current_load",
            "is_active",
            "catchment_districts",
            "catchment_sub_districts",
        ]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
        use_transactions = True

    def before_import_row(self, row, **kwargs):
        # A code that names nothing must be an error, not a silent NULL.
        for column, model in (
            ("unit_type", UnitType),
            ("organisation", Organisation),
            ("district", District),
        ):
            value = (row.get(column) or "").strip()
            if not value:
                raise ValueError(_("Column “%(column)s” is required.") % {"column": column})
            if not model.objects.filter(code=value).exists():
                raise ValueError(
                    _("Unknown %(column)s code “%(code)s”.") % {"column": column, "code": value}
                )
        for column, model in (
            ("catchment_districts", District),
            ("catchment_sub_districts", SubDistrict),
        ):
            codes = set(CodeListWidget().clean(row.get(column)))
            known = set(model.objects.filter(code__in=codes).values_list("code", flat=True))
            if codes - known:
                raise ValueError(
                    _("Unknown %(column)s code(s): %(codes)s.")
                    % {"column": column, "codes": ", ".join(sorted(codes - known))}
                )


class InstitutionResource(resources.ModelResource):
    """Kindergartens and child care centres, with their district, sub-district and matched
    team by code. Importing a team changes the pairing only: no case moves (the office's
    matching page re-matches with transfer plans)."""

    district = _by_code("district", District)
    sub_district = _by_code("sub_district", SubDistrict)
    matched_team = _by_code("matched_team", ServiceUnit)

    class Meta:
        model = Institution
        import_id_fields = ["code"]
        fields = [
            "code",
            "kind",
            "name_en",
            "name_zh",
            "district",
            "sub_district",
            "enrolment",
            "matched_team",
            "is_active",
        ]
        export_order = fields
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
        use_transactions = True

    def before_import_row(self, row, **kwargs):
        # A code that names nothing must be an error, not a silent NULL.
        district = (row.get("district") or "").strip()
        if not district:
            raise ValueError(_("Column “%(column)s” is required.") % {"column": "district"})
        if not District.objects.filter(code=district).exists():
            raise ValueError(
                _("Unknown %(column)s code “%(code)s”.") % {"column": "district", "code": district}
            )
        area = (row.get("sub_district") or "").strip()
        if area and not SubDistrict.objects.filter(code=area, district__code=district).exists():
            raise ValueError(
                _("Unknown sub-district “%(code)s” in district %(district)s.")
                % {"code": area, "district": district}
            )
        team = (row.get("matched_team") or "").strip()
        if team and not ServiceUnit.objects.filter(code=team, unit_type__code="PPSW").exists():
            raise ValueError(
                _("“%(code)s” is not a pre-primary social work team (unit type PPSW).")
                % {"code": team}
            )
