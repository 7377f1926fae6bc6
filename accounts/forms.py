from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _


class TokenForm(forms.Form):
    """The six-digit code an authenticator app shows."""

    token = forms.RegexField(
        label=_("Six-digit code"),
        regex=r"^\s*\d{3}\s?\d{3}\s*$",
        max_length=8,
        error_messages={"invalid": _("Enter the six digits your authenticator app shows.")},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": r"[0-9 ]*",
                "autofocus": True,
            }
        ),
    )


class BackupCodeForm(forms.Form):
    """One of the single-use backup codes, instead of the authenticator's code."""

    backup_code = forms.RegexField(
        label=_("Backup code"),
        regex=r"^[\s-]*(?:[a-zA-Z2-7][\s-]*){8}$",
        max_length=20,
        error_messages={"invalid": _("Enter one of your backup codes: eight letters and digits.")},
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )


class EnrolmentCodeForm(forms.Form):
    """The one-time code an administrator gives a person to set up an authenticator."""

    enrolment_code = forms.RegexField(
        label=_("Enrolment code"),
        regex=r"^[\s-]*(?:[a-zA-Z2-7][\s-]*){16}$",
        max_length=40,
        error_messages={
            "invalid": _("Enter the enrolment code your administrator gave you (16 characters).")
        },
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "autofocus": True}
        ),
    )


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    """Django's form (the old password checked, AUTH_PASSWORD_VALIDATORS applied), with the
    rules for the new password as plain sentences: the hint is a paragraph
    (includes/field.html), where Django's HTML list of the rules cannot go."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        rules = password_validation.password_validators_help_texts()
        self.fields["new_password1"].help_text = " ".join(str(rule) for rule in rules)
