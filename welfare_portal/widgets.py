"""Form widgets that render long option lists without a template per option.

Django renders each ``<option>`` through its own template; a filter form with a few hundred
options (every unit and caring team of an office) then spends most of a page's time there.
``FastSelect`` builds the same markup in Python.
"""

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe


class FastSelect(forms.Select):
    def render(self, name, value, attrs=None, renderer=None):
        context = self.get_context(name, value, attrs)["widget"]
        options = []
        for group_name, group_options, _index in context["optgroups"]:
            rendered = format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                (
                    (
                        option["value"] if option["value"] is not None else "",
                        mark_safe(" selected") if option["selected"] else "",  # noqa: S308
                        option["label"],
                    )
                    for option in group_options
                ),
            )
            if group_name:
                rendered = format_html('<optgroup label="{}">{}</optgroup>', group_name, rendered)
            options.append(rendered)
        return format_html(
            "<select{}>{}</select>",
            flatatt({"name": name, **context["attrs"]}),
            mark_safe("".join(options)),  # noqa: S308 - each part escaped above
        )
