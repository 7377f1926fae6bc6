"""The referral page's case-worker panel (issue 17) as a template tag, so the page's view
needs no change to show it: ``{% load caseload_tags %}{% case_owners %}`` reads the reader,
the referral and the reader's own task from the page's context and asks
``referrals.web.caseload_views.case_owner_panel`` what this reader may see."""

from django import template

from referrals.web.caseload_views import case_owner_panel

register = template.Library()


@register.inclusion_tag("referrals/includes/case_owner.html", takes_context=True)
def case_owners(context) -> dict:
    request = context["request"]
    panel = case_owner_panel(
        user=request.user, referral=context["referral"], own_task=context.get("own_task")
    )
    return {**panel, "request": request, "csrf_token": context.get("csrf_token")}
