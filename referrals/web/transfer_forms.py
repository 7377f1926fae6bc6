"""The forms of the planned-transfer pages (issue 17): which open cases of the sending unit
a new plan chooses from, the plan itself (unit to unit or worker to worker), a case's
handover and the record of the family being told, and the confirmations of the steps that
take something away (cancelling a plan, taking a case out); and what the forms offer a
planner (``planner_kinds``, ``sending_units``, ``plan_form_for``).

The forms only read what was typed; the rules a plan and its cases must meet are
``referrals.transfer_plans``'s, and the pages show its refusals (``TransferError.problems``)
beside the form, with the input kept.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.selectors import unit_workers, user_scope
from referrals.caseload import OWNED_STATUSES
from referrals.models import Status, TransferPlan
from referrals.queues import office_scope, units_for_reassignment
from referrals.selectors import units_taking_referrals
from referrals.transfer_plans import open_cases
from services.models import Institution, ServiceUnit

# ``<input type="datetime-local">`` sends ``2026-12-03T09:30``; Django reads ISO 8601.
LOCAL_MINUTES = "%Y-%m-%dT%H:%M"


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format=LOCAL_MINUTES, **kwargs)


class PersonChoiceField(forms.ModelChoiceField):
    """A worker by name (their username when no name is recorded)."""

    def label_from_instance(self, obj: User) -> str:
        return obj.get_full_name() or obj.get_username()


class CaseFilterForm(forms.Form):
    """Which open cases of the sending unit the page lists (``transfer_plans.open_cases``):
    all of them, one worker's, one institution's children's, or some statuses. Read from
    the URL: ids and statuses only, never a name."""

    from_unit = forms.ModelChoiceField(
        label=_("Sending unit"), queryset=ServiceUnit.objects.none(), empty_label=None
    )
    owner = PersonChoiceField(
        label=_("Cases of one worker"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Any worker"),
    )
    institution = forms.ModelChoiceField(
        label=_("Children of one kindergarten or child care centre"),
        queryset=Institution.objects.none(),
        required=False,
        empty_label=_("Any institution"),
    )
    status = forms.MultipleChoiceField(
        label=_("Statuses"),
        choices=[(str(status), Status(status).label) for status in OWNED_STATUSES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, data, *, units, kind: str):
        super().__init__(data)
        self.kind = kind
        self.fields["from_unit"].queryset = units
        if kind == TransferPlan.Kind.WORKER:
            self.fields["from_unit"].label = _("Unit")
            self.fields["owner"].label = _("From worker")
            self.fields["owner"].required = True
            self.fields["owner"].empty_label = None
            del self.fields["institution"]
        unit = self.chosen_unit()
        if unit is not None:
            # Whoever owns an open case, a worker who left included: their cases are the
            # ones most often moved.
            owners = open_cases(unit.pk).values("owner_id")
            self.fields["owner"].queryset = User.objects.filter(pk__in=owners).order_by(
                "first_name", "last_name", "username"
            )
            if "institution" in self.fields:
                self.fields["institution"].queryset = Institution.objects.filter(
                    pk__in=open_cases(unit.pk).values("referral__institution_id")
                ).order_by("code")

    def chosen_unit(self) -> ServiceUnit | None:
        """The sending unit named in the URL, if it is one of the choices."""
        value = str(self.data.get("from_unit", ""))
        if not value.isdigit():
            return None
        return self.fields["from_unit"].queryset.filter(pk=int(value)).first()

    def cases(self):
        """The matching open cases (the form must be valid)."""
        data = self.cleaned_data
        return open_cases(
            data["from_unit"].pk,
            owner_id=data["owner"].pk if data.get("owner") else None,
            institution_id=data["institution"].pk if data.get("institution") else None,
            statuses=data.get("status") or None,
        )


class PlanForm(forms.Form):
    """The plan's own fields; the receiving unit (office) or worker (supervisor) is added
    by the kind."""

    title = forms.CharField(label=_("Title"), max_length=200)
    reason = forms.ChoiceField(
        label=_("Why the cases move"),
        choices=TransferPlan.Reason.choices,
        initial=TransferPlan.Reason.REORGANISATION,
    )
    effective_on = forms.DateField(label=_("Effective date"), widget=DateInput())
    to_unit = forms.ModelChoiceField(label=_("Receiving unit"), queryset=ServiceUnit.objects.none())
    to_owner = PersonChoiceField(label=_("To worker"), queryset=User.objects.none())
    all_matching = forms.BooleanField(label=_("All matching open cases"), required=False)

    def __init__(self, data=None, *, kind: str, to_units=None, to_owners=None, **kwargs):
        super().__init__(data, **kwargs)
        if kind == TransferPlan.Kind.WORKER:
            del self.fields["to_unit"]
            self.fields["to_owner"].queryset = to_owners
        else:
            del self.fields["to_owner"]
            self.fields["to_unit"].queryset = to_units


def planner_kinds(user: User) -> list[str]:
    """The plans ``user`` may make: unit to unit (an office, headquarters), worker to
    worker (a supervisor)."""
    scope = user_scope(user)
    kinds = []
    if user.is_administrator or scope.district_ids:
        kinds.append(TransferPlan.Kind.UNIT)
    if scope.supervised_unit_ids:
        kinds.append(TransferPlan.Kind.WORKER)
    return kinds


def sending_units(user: User, kind: str):
    """The units whose cases ``user`` may plan to move: the units located in their offices'
    districts (every unit for headquarters), or the units they supervise."""
    if kind == TransferPlan.Kind.WORKER:
        units = ServiceUnit.objects.filter(pk__in=user_scope(user).supervised_unit_ids)
    elif user.is_administrator:
        units = units_taking_referrals()
    else:
        units = units_taking_referrals().filter(district_id__in=user_scope(user).district_ids)
    return units.order_by_name()


def plan_form_for(data, user: User, kind: str, unit: ServiceUnit) -> PlanForm:
    """The plan's form for ``unit``'s cases: the receiving units serving its district
    (``queues.units_for_reassignment``, as the office's queue offers), or the unit's workers."""
    if kind == TransferPlan.Kind.WORKER:
        people = unit_workers(unit.pk).values("user_id")
        owners = User.objects.filter(pk__in=people).order_by("first_name", "last_name", "username")
        return PlanForm(data, kind=kind, to_owners=owners)
    units = units_for_reassignment(office_scope(user), unit.district_id)
    return PlanForm(data, kind=kind, to_units=units.exclude(pk=unit.pk))


class CaseEditForm(forms.Form):
    """One planned case's handover note and the record of the family being told."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    handover_note = forms.CharField(
        label=_("Handover note"), widget=forms.Textarea(attrs={"rows": 7}), required=False
    )
    family_informed_at = forms.DateTimeField(
        label=_("Family informed on"), widget=DateTimeLocalInput(), required=False
    )
    not_informed_reason = forms.CharField(
        label=_("Or: why the family was not informed"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )


class FamilyInformedForm(forms.Form):
    at = forms.DateTimeField(label=_("Families informed on"), widget=DateTimeLocalInput())


class ConfirmForm(forms.Form):
    """A step that takes something away is taken only with its box ticked."""

    confirm = forms.BooleanField(
        label=_("I understand this cannot be undone"),
        error_messages={"required": _("Tick the box to confirm.")},
    )


class CancelForm(ConfirmForm):
    version = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason for cancelling"), max_length=500)


def first_error(form: forms.Form) -> str:
    """The first message of an invalid form, for a page answering with a redirect."""
    for errors in form.errors.values():
        return str(errors[0])
    return str(_("Check the form and try again."))
