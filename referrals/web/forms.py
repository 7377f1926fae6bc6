"""The referral form: one page of sections, validated lightly for a draft, fully to submit."""

import uuid
from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.formfields import PhoneNumberField

from districts.models import District, SubDistrict
from referrals import identity
from referrals.models import ConsentBasis, Referral, RiskFactor
from referrals.submission import UNCHANGED
from services.models import NeedCategory

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
    (_("Household"), ["household"]),
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


class ReferralForm(forms.ModelForm):
    token = forms.UUIDField(widget=forms.HiddenInput)
    team = forms.ModelChoiceField(
        label=_("Referring team"), queryset=None, empty_label=None, required=True
    )
    phone = PhoneNumberField(label=_("phone"), required=False, region="HK")
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
    confirm_duplicates = forms.BooleanField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Referral
        fields = [*MODEL_FIELDS, "id_type", "duplicate_note"]
        labels = {
            "subject_name_zh": _("Name in Chinese"),
            "subject_name_en": _("Name in English"),
        }
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
            "duplicate_note": forms.Textarea(attrs={"rows": 2}),
            "address": forms.TextInput(attrs={"autocomplete": "off"}),
            "age": forms.NumberInput(attrs={"min": 0, "max": 130, "inputmode": "numeric"}),
        }

    def __init__(self, *args, teams, submitting: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
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
        if self.instance.pk and self.instance.id_number_masked:
            self.fields["id_number"].help_text = _(
                "On file: %(masked)s. Leave blank to keep it; type a new number to replace it."
            ) % {"masked": self.instance.id_number_masked}

    def clean_age(self):
        age = self.cleaned_data.get("age")
        if age is not None and age > 130:
            raise ValidationError(_("Enter an age between 0 and 130."), code="age_range")
        return age

    def clean_date_of_birth(self):
        born = self.cleaned_data.get("date_of_birth")
        if born and born > timezone.localdate():
            raise ValidationError(_("The date of birth cannot be in the future."), code="future")
        return born

    def clean_consent_given_at(self):
        given_at = self.cleaned_data.get("consent_given_at")
        if given_at and given_at > timezone.now() + timedelta(minutes=5):
            raise ValidationError(_("Consent cannot be given in the future."), code="future")
        return given_at

    def clean(self):
        data = super().clean()
        district, sub_district = data.get("district"), data.get("sub_district")
        if district and sub_district and sub_district.district_id != district.pk:
            self.add_error("sub_district", _("This sub-district is not in the chosen district."))
        self._clean_identity(data)
        if self.submitting:
            self._clean_for_submission(data)
        return data

    def _clean_identity(self, data):
        raw, id_type = data.get("id_number", ""), data.get("id_type", "")
        data["identity"] = UNCHANGED if self.instance.pk else None
        if not raw:
            if not id_type and self.instance.pk:
                data["identity"] = None  # the document kind was cleared: forget the number
            return
        if not id_type:
            self.add_error("id_type", _("Choose the kind of identity document."))
            return
        try:
            data["identity"] = identity.protect(id_type, raw)
        except ValidationError as error:
            self.add_error("id_number", error)

    def _clean_for_submission(self, data):
        required = _("This field is required to submit.")
        if not (data.get("subject_name_zh") or data.get("subject_name_en")):
            self.add_error("subject_name_zh", _("Enter the person's name in Chinese or English."))
        if not data.get("district") and "district" not in self.errors:
            self.add_error("district", required)
        if not data.get("household"):
            self.add_error("household", required)
        if not data.get("needs"):
            self.add_error("needs", _("Tick at least one need."))
        if not (data.get("phone") or data.get("address")) and "phone" not in self.errors:
            self.add_error("phone", _("Give a phone number or an address to reach the person."))
        basis = data.get("consent_basis")
        if basis == ConsentBasis.CONSENT:
            for name in ("consent_given_by", "consent_method", "consent_given_at"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, _("Record who gave consent, how and when."))
        elif basis == ConsentBasis.URGENT_PROTECTION:
            if not (data.get("consent_exemption_reason") or "").strip():
                self.add_error(
                    "consent_exemption_reason", _("Give the reason for acting without consent.")
                )
        else:
            self.add_error(
                "consent_basis",
                _("A referral needs the person's consent, or the urgent-protection exemption."),
            )

    def sections(self):
        return [(title, [self[name] for name in names]) for title, names in SECTIONS]

    def model_values(self) -> dict:
        data = self.cleaned_data
        values = {name: data.get(name) for name in MODEL_FIELDS}
        values["phone"] = data.get("phone") or ""
        values["risk_factors"] = sorted(data.get("risk_factors") or [])
        if values["consent_basis"] != ConsentBasis.CONSENT:
            values.update(consent_given_by="", consent_method="", consent_given_at=None)
        else:
            values["consent_exemption_reason"] = ""
        return values


def new_token() -> uuid.UUID:
    return uuid.uuid4()
