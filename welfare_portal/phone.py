"""How every form reads a phone number: the phone library's field, a number without a
country code being Hong Kong's, with our own translated message (the library's messages have
no Traditional Chinese, so a Chinese page showed an English error)."""

from django.utils.translation import gettext_lazy as _
from phonenumber_field.formfields import PhoneNumberField

REGION = "HK"
INVALID_PHONE = _("This is not a valid phone number, e.g. 6123 4567 or +852 6123 4567.")


def phone_field(**kwargs) -> PhoneNumberField:
    """A form field for a phone number. The message replaces both of the library's (the
    field's "invalid" and its validator's, which share the code)."""
    messages = {"invalid": INVALID_PHONE, **kwargs.pop("error_messages", {})}
    return PhoneNumberField(region=REGION, error_messages=messages, **kwargs)
