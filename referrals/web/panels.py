"""Panels other apps add to a referral's page, without referrals knowing those apps.

An app above referrals (outreach: "this referral came from a caring-team visit") registers a
function from its ``AppConfig.ready``; the referral page asks every registered function and
includes the template each one names. A function answers ``None`` when it has nothing to
say about the referral, and should then cost no query: the page's query count is pinned.
"""

from collections.abc import Callable

from django.http import HttpRequest

from referrals.models import Referral

Panel = tuple[str, dict]
PanelFunction = Callable[[HttpRequest, Referral], Panel | None]

_panels: list[PanelFunction] = []


def register(function: PanelFunction) -> PanelFunction:
    """Add ``function`` (once: ``ready`` may run again in tests); usable as a decorator."""
    if function not in _panels:
        _panels.append(function)
    return function


def panels_for(request: HttpRequest, referral: Referral) -> list[Panel]:
    """(template name, context) of each panel that has something to show, in the order
    the functions were registered."""
    return [panel for function in _panels if (panel := function(request, referral)) is not None]
