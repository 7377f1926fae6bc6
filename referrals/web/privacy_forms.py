"""Forms of the privacy pages: a data access request, a withdrawal of consent."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from referrals import identity
from referrals.identity import IdType
from referrals.models import ConsentWithdrawalMethod
from welfare_portal.phone import phone_field


class AccessRequestForm(forms.Form):
    """Find one person: by identity number (with its type), or by name and phone."""

    id_type = forms.ChoiceField(
        label=_("Identity document"),
        choices=[("", "---------"), *IdType.choices],
        required=False,
    )
    id_number = forms.CharField(label=_("Identity number"), max_length=20, required=False)
    name = forms.CharField(
        label=_("Name (Chinese or English)"),
        max_length=100,
        required=False,
        help_text=_("With the phone number: the name exactly as on the referral."),
    )
    phone = phone_field(label=_("Phone"), required=False)

    def clean(self):
        data = super().clean()
        id_type, id_number = data.get("id_type", ""), data.get("id_number", "").strip()
        if id_number:
            if not id_type:
                self.add_error("id_type", _("Choose the kind of identity document."))
            else:
                try:
                    identity.normalise(id_type, id_number)
                except ValidationError as error:
                    self.add_error("id_number", error)
        by_name = data.get("name", "").strip() and data.get("phone")
        if not id_number and not by_name and not self.errors:
            raise ValidationError(
                _("Give an identity number, or a name together with a phone number."),
                code="no_criteria",
            )
        return data


class ConsentWithdrawalForm(forms.Form):
    withdrawn_at = forms.DateTimeField(
        label=_("Consent withdrawn at"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    # No initial choice: the person's way of withdrawing is chosen, never assumed.
    method = forms.ChoiceField(
        label=_("How consent was withdrawn"),
        choices=[("", "---------"), *ConsentWithdrawalMethod.choices],
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)
    # The confirming step: set, with the other referrals listed as "pk:version" in ``also``.
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def confirmed(self) -> dict[int, int]:
        """The other referrals the actor saw listed, with the version shown to them."""
        listed = {}
        for item in self.data.getlist("also"):
            pk, _sep, version = item.partition(":")
            if pk.isdigit() and version.isdigit():
                listed[int(pk)] = int(version)
        return listed
