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
from django.utils import timezone
from django.utils.formats import date_format
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


class SubDistrictSelect(forms.Select):
    """Options carry ``data-district`` so the page can narrow them to the chosen district."""

    def __init__(self, *args, district_of: dict[int, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.district_of = district_of or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        key = getattr(value, "value", value)
        if key in self.district_of:
            option["attrs"]["data-district"] = self.district_of[key]
        return option


class InstitutionSelect(forms.Select):
    """Options carry their institution's ``data-district``, as the sub-districts do."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        institution = getattr(value, "instance", None)
        if institution is not None:
            option["attrs"]["data-district"] = str(institution.district_id)
        return option


class InRangeDateTimeField(forms.DateTimeField):
    """A time the database can hold and give back (``submission.in_range``): a year-1 time
    is a field error, as in the API, not a row that cannot be read."""

    def to_python(self, value):
        parsed = super().to_python(value)
        return in_range(parsed) if parsed is not None else None


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
        widget=forms.CheckboxSelectMultiple,
    )
    risk_factors = forms.MultipleChoiceField(
        label=_("risk screening"),
        choices=RiskFactor.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
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
            "sex": forms.RadioSelect,
            "household": forms.RadioSelect,
            "consent_basis": forms.RadioSelect,
            "consent_given_by": forms.RadioSelect,
            "consent_method": forms.RadioSelect,
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
        self.fields["team"].queryset = teams
        self.fields["district"].queryset = District.objects.order_by("code")
        self.fields["district"].empty_label = _("Choose the district")
        sub_districts = list(SubDistrict.objects.select_related("district").order_by("code"))
        field = self.fields["sub_district"]
        field.queryset = SubDistrict.objects.order_by("code")
        field.widget = SubDistrictSelect(
            district_of={s.pk: str(s.district_id) for s in sub_districts}
        )
        field.widget.choices = [("", _("Whole district / not known"))] + [
            (s.pk, f"{s.code} · {s.name}") for s in sub_districts
        ]
        self.fields["consent_given_at"].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        for name in ("sex", "household", "consent_basis", "consent_given_by", "consent_method"):
            self.fields[name].choices = [c for c in self.fields[name].choices if c[0]]  # radios
        self._institution_field()
        if self.instance.pk and self.instance.id_number_masked:
            self.fields["id_number"].help_text = _(
                "On file: %(masked)s. Leave blank to keep it; type a new number to replace it."
            ) % {"masked": self.instance.id_number_masked}

    def _institution_field(self):
        """The child's kindergarten or child care centre (issue 17): any active one (and the
        draft's own), by district, then name; read only when drawn or when one is chosen."""
        kept = Q(is_active=True)
        if self.instance.institution_id:
            kept |= Q(pk=self.instance.institution_id)
        field = self.fields["institution"]
        field.widget = InstitutionSelect()  # first: setting the queryset gives it the choices
        field.queryset = (
            Institution.objects.filter(kept)
            .select_related("district")
            .order_by("district__code", "name_en", "code")
        )
        field.empty_label = _("None, or not known")
        field.label_from_instance = lambda i: f"{i.district.name} · {i.name}"
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
