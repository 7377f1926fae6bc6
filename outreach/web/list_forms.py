"""The forms of the district office's list pages: a new list, a file to import, which
households the list page shows, moving a household or a block to another team, and a
household's priority.

The forms read what was typed; the rules are ``outreach.loading``'s and
``outreach.assignment``'s, whose refusals the pages show.
"""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, PartnerClient, User
from districts.models import WelfareOffice
from outreach.assignment import teams_for_office
from outreach.models import HouseholdStatus, Priority, VisitList
from services.models import ServiceUnit

UPLOAD_TYPES = (".csv", ".xlsx")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def offices_of(user: User):
    """The offices a user may make lists for: their own; every office for headquarters."""
    if user.is_administrator:
        return WelfareOffice.objects.order_by("code")
    return WelfareOffice.objects.filter(
        pk__in=Membership.objects.filter(user=user, role=Membership.Role.DISTRICT_OFFICER).values(
            "welfare_office_id"
        )
    ).order_by("code")


class VisitListForm(forms.ModelForm):
    class Meta:
        model = VisitList
        fields = ["name", "source", "source_detail", "welfare_office", "target_date"]
        fields += ["loader_client"]
        widgets = {"target_date": DateInput()}

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        offices = offices_of(user)
        self.fields["welfare_office"].queryset = offices
        self.fields["welfare_office"].empty_label = None
        self.fields["loader_client"].queryset = PartnerClient.objects.select_related(
            "application"
        ).order_by("pk")
        self.fields["loader_client"].required = False


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV (UTF-8) or XLSX, with the columns of the template's first row."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(UPLOAD_TYPES):
            raise forms.ValidationError(_("Choose a .csv or .xlsx file."))
        return upload


class TeamChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: ServiceUnit) -> str:
        return obj.name


class HouseholdFilterForm(forms.Form):
    """Which of a list's households its page shows (read from the URL)."""

    team = TeamChoiceField(
        label=_("Caring team"),
        queryset=ServiceUnit.objects.none(),
        required=False,
        empty_label=_("Any team"),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("Any status")), *HouseholdStatus.choices],
        required=False,
    )

    def __init__(self, data, *, teams):
        super().__init__(data)
        self.fields["team"].queryset = teams


class MoveForm(forms.Form):
    """A household (ticked on the page) or a whole block, to another caring team."""

    team = TeamChoiceField(label=_("To the caring team"), queryset=ServiceUnit.objects.none())
    estate_name = forms.CharField(label=_("Estate or building"), max_length=120, required=False)
    block = forms.CharField(label=_("Block"), max_length=40, required=False)

    def __init__(self, data=None, *, visit_list: VisitList):
        super().__init__(data)
        self.fields["team"].queryset = teams_for_office(visit_list.welfare_office_id).order_by(
            "code"
        )
        self.households = [
            value for value in (data.getlist("households") if data else []) if _is_uuid(value)
        ]

    def clean(self):
        data = super().clean()
        if not self.households and not data.get("estate_name"):
            raise forms.ValidationError(
                _("Tick the households to move, or give the estate and block.")
            )
        return data


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class PriorityForm(forms.Form):
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        choices=[("", _("As the listing reasons give")), *Priority.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
