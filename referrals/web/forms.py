"""The referral form: one page of sections, validated lightly for a draft, fully to submit.

The form reads its fields; the rules a referral must meet are ``draft_errors`` and
``submission_errors`` in ``referrals/submission.py``, shared with the partner API, and the
form only puts their messages beside its fields.
"""

import uuid
from datetime import date, datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms.utils import flatatt
from django.urls import reverse
from django.utils import timezone
from django.utils.choices import BaseChoiceIterator
from django.utils.formats import date_format
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from phonenumber_field.phonenumber import PhoneNumber

from districts.models import District, SubDistrict
from referrals.models import ConsentBasis, Referral, RiskFactor
from referrals.submission import (
    CONSENT_DETAILS,
    UNCHANGED,
    draft_errors,
    in_range,
    phone_field,
    protected_identity,
    submission_errors,
)
from services.models import Institution, NeedCategory
from welfare_portal.widgets import FastSelect

# The form's sections, in the order of the paper form; the page renders them as cards.
SECTIONS = [
    (_("Referring team and area"), ["team", "district", "sub_district"]),
    (
        _("The person referred"),
        [
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
        ],
    ),
    (_("Household"), ["household", "institution"]),
    (_("Needs"), ["needs", "situation"]),
    (_("Risk screening"), ["risk_factors"]),
    (
        _("Consent"),
        [
            "consent_basis",
            "consent_given_by",
            "consent_method",
            "consent_given_at",
            "consent_exemption_reason",
        ],
    ),
    (_("Your contact"), ["referrer_contact"]),
]
# Fields copied onto the referral as they are; the rest are handled on their own
# (team, needs, the identity number and its kind).
MODEL_FIELDS = [
    name
    for _title, names in SECTIONS
    for name in names
    if name not in {"team", "needs", "id_type", "id_number"}
]


class ChoicesOnce(BaseChoiceIterator):
    """Choices read when the form is drawn, and only once: a POST that is not drawn again
    reads nothing, and a drawn list is one query (Django's ``Select`` reads a model field's
    choices twice, once to decide on ``required`` and once to draw them)."""

    def __init__(self, load):
        self.load, self.loaded = load, None

    def __iter__(self):
        if self.loaded is None:
            self.loaded = list(self.load())
        return iter(self.loaded)


class DistrictTaggedSelect(FastSelect):
    """A ``FastSelect`` (issue 20: no template per option) whose options carry their
    district (``district_of``: value → district id) as ``data-district``, which
    static/js/referral-form.js narrows the institutions by."""

    def __init__(self, *args, district_of: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.district_of = district_of if district_of is not None else {}

    def option_tags(self, name, value) -> str:
        """The ``<option>`` elements alone: the select's, and the sub-district fragment's."""
        context = self.get_context(name, value, None)["widget"]
        tags = []
        for _group, options, _index in context["optgroups"]:
            for option in options:
                key = option["value"]
                district = self.district_of.get(key)
                tags.append(
                    '<option value="{}"{}{}>{}</option>'.format(
                        escape("" if key is None else key),
                        f' data-district="{escape(district)}"' if district else "",
                        " selected" if option["selected"] else "",
                        escape(option["label"]),
                    )
                )
        return mark_safe("".join(tags))  # noqa: S308 - every part escaped above

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        return format_html(
            "<select{}>{}</select>", flatatt({"name": name, **attrs}), self.option_tags(name, value)
        )


def sub_district_select(district_id: int | None) -> DistrictTaggedSelect:
    """The sub-district list of one district only (issue 20: never all 452), read when drawn:
    "Whole district / not known", then the district's sub-districts by code, as plain
    strings in the active language. The form's list and the fragment the page fetches when
    the district changes (``referral_sub_districts``) are both this."""
    widget = DistrictTaggedSelect()
    widget.choices = ChoicesOnce(lambda: _sub_district_choices(widget, district_id))
    return widget


def _sub_district_choices(widget, district_id):
    choices = [("", str(_("Whole district / not known")))]
    if district_id is None:
        return choices
    for area in SubDistrict.objects.filter(district_id=district_id).order_by("code"):
        choices.append((area.pk, f"{area.code} · {area.name}"))
        widget.district_of[area.pk] = str(district_id)
    return choices


def district_id_of(value) -> int | None:
    """A district's id from a form value (a District, an id, the posted text), or None
    when it names none (blank, not a number, out of the id's range)."""
    value = getattr(value, "pk", value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**63 else None


class _InputsInPython:
    """Radios and checkboxes whose inputs are written in Python (issue 20): the field
    template draws each choice's ``{{ choice.tag }}``, which Django renders through three
    templates an input (a third of the form's time). The markup is the same; the labels
    are the field template's."""

    def _render(self, template_name, context, renderer=None):
        option = context["widget"]
        if template_name != self.option_template_name or option.get("wrap_label"):
            return super()._render(template_name, context, renderer)
        return format_html(
            '<input type="{}" name="{}"{}{}>',
            option["type"],
            option["name"],
            format_html(' value="{}"', option["value"]) if option["value"] is not None else "",
            flatatt(option["attrs"]),
        )


# The same class names as Django's, so that ``BoundField.widget_type`` (which the field
# template reads) stays "radioselect" and "checkboxselectmultiple".
class RadioSelect(_InputsInPython, forms.RadioSelect):
    pass


class CheckboxSelectMultiple(_InputsInPython, forms.CheckboxSelectMultiple):
    pass


class InRangeDateTimeField(forms.DateTimeField):
    """A time the database can hold and give back (``submission.in_range``): a year-1 time
    is a field error, as in the API, not a row that cannot be read."""

    def to_python(self, value):
        parsed = super().to_python(value)
        return in_range(parsed) if parsed is not None else None


def _institution_choices(field):
    """The institutions by district, then name, labelled with their district, as plain
    strings; each option carries its district for the page's script."""
    rows = field.queryset.select_related("district").order_by("district__code", "name_en", "code")
    choices = [("", str(_("None, or not known")))]
    for institution in rows:
        choices.append((institution.pk, f"{institution.district.name} · {institution.name}"))
        field.widget.district_of[institution.pk] = str(institution.district_id)
    return choices


class ReferralForm(forms.ModelForm):
    token = forms.UUIDField(widget=forms.HiddenInput)
    team = forms.ModelChoiceField(
        label=_("Referring team"), queryset=None, empty_label=None, required=True
    )
    phone = phone_field(label=_("phone"), required=False)
    id_number = forms.CharField(
        label=_("identity number"),
        required=False,
        max_length=20,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
        help_text=_("Optional. Hong Kong ID like A123456(7). Stored encrypted."),
    )
    needs = forms.ModelMultipleChoiceField(
        label=_("needs"),
        queryset=NeedCategory.objects.order_by("ordering", "code"),
        required=False,
        widget=CheckboxSelectMultiple,
    )
    risk_factors = forms.MultipleChoiceField(
        label=_("risk screening"),
        choices=RiskFactor.choices,
        required=False,
        widget=CheckboxSelectMultiple,
        help_text=_("Tick every sign you saw or heard: each raises the risk level."),
    )

    class Meta:
        model = Referral
        fields = [*MODEL_FIELDS, "id_type"]
        labels = {
            "subject_name_zh": _("Name in Chinese"),
            "subject_name_en": _("Name in English"),
        }
        field_classes = {"consent_given_at": InRangeDateTimeField}
        widgets = {
            "sex": RadioSelect,
            "household": RadioSelect,
            "consent_basis": RadioSelect,
            "consent_given_by": RadioSelect,
            "consent_method": RadioSelect,
            "preferred_language": FastSelect,
            "id_type": FastSelect,
            "date_of_birth": forms.DateInput(attrs={"type": "date"}),
            "consent_given_at": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
            "situation": forms.Textarea(attrs={"rows": 4}),
            "consent_exemption_reason": forms.Textarea(attrs={"rows": 2}),
            "address": forms.TextInput(attrs={"autocomplete": "off"}),
            "age": forms.NumberInput(attrs={"min": 0, "max": 130, "inputmode": "numeric"}),
        }

    def __init__(self, *args, teams, submitting: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.order_fields(name for _title, names in SECTIONS for name in names)  # the page's
        self.submitting = submitting
        self._choice_fields(teams)
        self.fields["consent_given_at"].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        for name in ("sex", "household", "consent_basis", "consent_given_by", "consent_method"):
            self.fields[name].choices = [c for c in self.fields[name].choices if c[0]]  # radios
        self._institution_field()
        if self.instance.pk and self.instance.id_number_masked:
            self.fields["id_number"].help_text = _(
                "On file: %(masked)s. Leave blank to keep it; type a new number to replace it."
            ) % {"masked": self.instance.id_number_masked}

    def _choice_fields(self, teams):
        """The lists, drawn in one pass each (issue 20): the teams and districts as plain
        strings, read once when drawn; the sub-districts of the chosen district only (the
        posted one, the draft's, or the team's), any sub-district still accepted so that
        one in another district gets the rule's message (``draft_errors``)."""
        team = self.fields["team"]
        team.queryset = teams
        team.widget = FastSelect()
        team.widget.choices = ChoicesOnce(lambda: [(t.pk, t.name) for t in teams])
        district = self.fields["district"]
        district.queryset = District.objects.order_by("code")
        district.widget = FastSelect()
        district.widget.choices = ChoicesOnce(
            lambda: (
                [("", str(_("Choose the district")))] + [(d.pk, d.name) for d in district.queryset]
            )
        )
        district.widget.attrs.update(
            {
                "hx-get": reverse("referrals:sub_districts"),
                "hx-target": "#id_sub_district",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",  # a second change cancels the first's answer
            }
        )
        area = self.fields["sub_district"]
        area.queryset = SubDistrict.objects.all()
        area.widget = sub_district_select(district_id_of(self["district"].value()))

    def _institution_field(self):
        """The child's kindergarten or child care centre (issue 17): any active one (and the
        draft's own), by district, then name; read only when drawn or when one is chosen."""
        kept = Q(is_active=True)
        if self.instance.institution_id:
            kept |= Q(pk=self.instance.institution_id)
        field = self.fields["institution"]
        field.queryset = Institution.objects.filter(kept)
        field.widget = DistrictTaggedSelect()
        field.widget.choices = ChoicesOnce(lambda: _institution_choices(field))
        field.help_text = _(
            "Optional: the kindergarten or child care centre the child attends, in the "
            "referral's district. The social work team matched to it takes the referral."
        )

    def clean(self):
        data = super().clean()
        self._clean_identity(data)
        institution, district = data.get("institution"), data.get("district")
        if institution and district and institution.district_id != district.pk:
            self.add_error(
                "institution",
                _("Choose a kindergarten or child care centre in the referral's district."),
            )
        if self.submitting:
            errors = submission_errors(data, needs=data.get("needs") or [])
        else:
            errors = draft_errors(data)
        for name, messages in errors.items():
            # A field that did not parse has its own message; "missing" would only repeat it.
            if name == "__all__" or name not in self.errors:
                self.add_error(None if name == "__all__" else name, messages)
        return data

    def _clean_identity(self, data):
        raw, id_type = data.get("id_number", ""), data.get("id_type", "")
        data["identity"] = UNCHANGED if self.instance.pk else None
        if not raw:
            if not id_type and self.instance.pk:
                data["identity"] = None  # the document kind was cleared: forget the number
            return
        try:
            data["identity"] = protected_identity(id_type, raw)
        except ValidationError as error:
            self.add_error(None, error)

    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in SECTIONS]

    def model_values(self) -> dict:
        """The referral's values as typed; ``referral_submit`` and ``referral_save_draft``
        store them as a referral holds them (the consent details of the other basis go)."""
        return {name: self.cleaned_data.get(name) for name in MODEL_FIELDS}


def new_token() -> uuid.UUID:
    return uuid.uuid4()


# --- Check your answers ------------------------------------------------------------------


class CheckAnswersForm(forms.Form):
    """The check page's one POST: the draft as it was shown (its ``version``), and, once the
    duplicate warning was shown, the referrer's confirmation and note."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    confirm_duplicates = forms.BooleanField(required=False, widget=forms.HiddenInput)
    duplicate_note = forms.CharField(
        label=_("Why is this a new referral?"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The district office sees this note beside the linked referrals."),
    )

    def __init__(self, *args, referral: Referral, **kwargs):
        super().__init__(*args, initial={"version": referral.version}, **kwargs)
        self.referral = referral

    def clean_version(self):
        version = self.cleaned_data["version"]
        if version != self.referral.version:
            raise ValidationError(
                _("This draft was changed after these answers were shown. Check them again."),
                code="stale",
            )
        return version


def stored_values(referral: Referral) -> dict:
    """The draft's values as the form gives them (``ReferralForm.model_values``), to submit
    the stored draft with the same rules."""
    return {name: getattr(referral, name) for name in MODEL_FIELDS}


def answer_sections(referral: Referral) -> list[tuple[str, list[dict]]]:
    """Every answer of the draft, by the form's sections: the field's label, its value as
    the person typed or chose it (the identity number masked), and the id of its box on
    the form, for the "Change" link. The consent details of the basis not chosen are left
    out, as the form hides them."""
    skipped = _skipped_for(referral.consent_basis)
    sections = []
    for title, names in SECTIONS:
        rows = [
            {
                "name": name,
                "label": capfirst(ReferralForm.base_fields[name].label),
                "value": _answer(referral, name),
                "anchor": f"field-{name}",
            }
            for name in names
            if name not in skipped
        ]
        sections.append((title, rows))
    return sections


def problems_with_links(errors: dict[str, list[str]]) -> list[tuple[str, str]]:
    """``submission_errors`` as (anchor on the form, message) pairs for the check page."""
    return [(f"field-{name}", message) for name, messages in errors.items() for message in messages]


def _skipped_for(basis: str) -> set[str]:
    if basis == ConsentBasis.URGENT_PROTECTION:
        return set(CONSENT_DETAILS)
    if basis == ConsentBasis.CONSENT:
        return {"consent_exemption_reason"}
    return set()


def _answer(referral: Referral, name: str) -> str | list[str]:
    if name == "team":
        return referral.referring_team.name
    if name == "needs":
        return [str(need) for need in referral.needs.all()]
    if name == "risk_factors":
        return [str(RiskFactor(value).label) for value in referral.risk_factors]
    if name == "id_number":
        return referral.id_number_masked
    value = getattr(referral, name)
    if value in (None, ""):
        return ""
    if Referral._meta.get_field(name).choices:
        return str(getattr(referral, f"get_{name}_display")())
    if isinstance(value, datetime):
        return date_format(timezone.localtime(value), "Y-m-d H:i")
    if isinstance(value, date):
        return date_format(value, "Y-m-d")
    if isinstance(value, PhoneNumber):
        return value.as_national if value.country_code == 852 else value.as_international
    return str(value)
