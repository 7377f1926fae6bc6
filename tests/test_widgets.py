"""FastSelect renders what Django's Select renders, escaped, without a template per option."""

import re

from django import forms

from welfare_portal.phone import phone_field
from welfare_portal.widgets import FastSelect

CHOICES = [("", "---------"), ("1", "Sham Shui Po"), ("2", "<b>Kwun Tong</b> & Co")]
GROUPED = [("Kowloon", [("1", "Sham Shui Po"), ("2", "Kwun Tong")]), ("3", "Islands")]


def options(html: str) -> list[tuple[str, bool, str]]:
    return [
        (value, bool(selected), label)
        for value, selected, label in re.findall(
            r'<option value="([^"]*)"( selected)?>([^<]*)</option>', html
        )
    ]


def test_the_options_match_djangos_select_and_are_escaped():
    fast = FastSelect(choices=CHOICES).render("district", "2", attrs={"id": "id_district"})
    slow = forms.Select(choices=CHOICES).render("district", "2", attrs={"id": "id_district"})
    assert options(fast) == options(slow)
    assert ("2", True, "&lt;b&gt;Kwun Tong&lt;/b&gt; &amp; Co") in options(fast)
    opening = re.match(r"<select([^>]*)>", fast).group(1)
    assert sorted(opening.split()) == ['id="id_district"', 'name="district"']


def test_groups_are_kept():
    html = FastSelect(choices=GROUPED).render("area", "1")
    assert '<optgroup label="Kowloon"><option value="1" selected>Sham Shui Po</option>' in html
    assert options(html) == options(forms.Select(choices=GROUPED).render("area", "1"))


# --- Issue 19: the one phone field, and the field template's ids -------------------------


class _PhoneForm(forms.Form):
    phone = phone_field(required=False, help_text="Mobile or home")
    sex = forms.ChoiceField(
        choices=[("f", "Female"), ("m", "Male")], widget=forms.RadioSelect, help_text="As given"
    )


def test_every_bad_phone_number_gets_our_message_in_the_users_language():
    from django.utils import translation

    for typed in ("12", "+852 1234", "not a number"):
        with translation.override("zh-hant"):
            errors = _PhoneForm({"phone": typed, "sex": "f"}).errors
            assert errors["phone"] == ["電話號碼無效，例如 6123 4567 或 +852 6123 4567。"], typed
    assert _PhoneForm({"phone": "6123 4567", "sex": "f"}).is_valid()


def test_the_field_template_gives_the_ids_aria_describedby_names():
    from django.template.loader import render_to_string

    form = _PhoneForm({"phone": "12"})
    form.is_valid()
    html = "".join(
        render_to_string("includes/field.html", {"field": form[name], "form": form})
        for name in ("phone", "sex")
    )
    phone = re.search(r"<input[^>]*name=\"phone\"[^>]*>", html).group(0)
    assert 'aria-invalid="true"' in phone
    assert 'aria-describedby="id_phone_helptext id_phone_error"' in phone
    assert 'id="id_phone_helptext"' in html and 'id="id_phone_error"' in html
    fieldset = re.search(r"<fieldset[^>]*>", html).group(0)
    assert 'class="field choices has-error"' in fieldset
    assert 'aria-describedby="id_sex_helptext id_sex_error"' in fieldset
    assert 'id="id_sex_helptext"' in html and 'id="id_sex_error"' in html
    summary = render_to_string("includes/form_errors.html", {"form": form})
    assert re.findall(r'href="#([^"]+)"', summary) == ["id_phone", "id_sex_0"]
    assert 'role="alert"' in summary and 'tabindex="-1"' in summary
