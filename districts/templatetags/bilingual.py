"""``{% load bilingual %}`` ``{{ names|join_list }}``: a list as the active language writes
it (``welfare_portal.bilingual.join_list``)."""

from django import template

from welfare_portal.bilingual import join_list as _join_list

register = template.Library()


@register.filter
def join_list(items) -> str:
    """Each item's text (``str``), joined by the language's list separator."""
    return _join_list(items)
