"""The referral page's pending-transfer panel (issue 17) as a template tag:
``{% load transfer_tags %}{% transfer_pending %}`` asks
``referrals.web.transfer_views.transfer_panel`` what the reader's units may see of the
referral's planned or moved cases (nothing for a reader who works in no unit)."""

from django import template

from referrals.web.transfer_views import transfer_panel

register = template.Library()


@register.inclusion_tag("referrals/includes/transfer_panel.html", takes_context=True)
def transfer_pending(context) -> dict:
    request = context["request"]
    return {
        "transfer_panel": transfer_panel(request.user, context["referral"]),
        "request": request,
    }
