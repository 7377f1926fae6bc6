"""FastSelect renders what Django's Select renders, escaped, without a template per option."""

import re

from django import forms

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
