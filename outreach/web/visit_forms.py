"""The visit form (on a phone, in under a minute) and the office's reopen form."""

from django import forms
from django.utils.translation import gettext_lazy as _

from outreach.models import Household, NextStep, VisitOutcome
from outreach.visits import revisit_date_errors
from services.models import NeedCategory


class VisitForm(forms.Form):
    token = forms.UUIDField(widget=forms.HiddenInput)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    outcome = forms.ChoiceField(
        label=_("How did the visit go?"), choices=VisitOutcome.choices, widget=forms.RadioSelect
    )
    seen = forms.ModelMultipleChoiceField(
        label=_("Who was seen"),
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    # The same need categories, in the same order, as the referral form's.
    needs = forms.ModelMultipleChoiceField(
        label=_("Needs"),
        queryset=NeedCategory.objects.order_by("ordering", "code"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    emergency_link_application = forms.BooleanField(
        label=_("Applying for the personal emergency link service (平安鐘)"), required=False
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What you saw and heard; no more personal details than needed."),
    )
    next_step = forms.ChoiceField(
        label=_("Next step"),
        choices=NextStep.choices,
        initial=NextStep.NONE,
        widget=forms.RadioSelect,
    )
    revisit_on = forms.DateField(
        label=_("Revisit on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, household: Household, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["seen"].queryset = household.people.all()
        self.fields["seen"].label_from_instance = _person_label

    def clean(self):
        data = super().clean()
        if data.get("outcome") and data["outcome"] != VisitOutcome.VISITED:
            # The page hides the next step unless someone was at home; without JavaScript
            # a choice left ticked is not a step to take.
            data["next_step"] = NextStep.NONE
            data["revisit_on"] = None
        for message in revisit_date_errors(data.get("next_step"), data.get("revisit_on")):
            if "revisit_on" not in self.errors:
                self.add_error("revisit_on", message)
        return data


def _person_label(person) -> str:
    return f"{person.name or _('(no name)')} · {person.get_role_display()}"


class ReopenForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    note = forms.CharField(
        label=_("Why it is reopened"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
