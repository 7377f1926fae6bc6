"""Routing by hand: the district office's routing panel (under a queue row or on the
referral's page) and its form (``referrals.assignment.referral_assign``).

The form posts with htmx from either place and the panel answers in place: a refusal
(no reason for an override, a unit not in the list, a referral changed meanwhile) draws the
panel again with the unit and the reason as chosen and the error beside its field; a done
routing sends the browser back where the form came from (``next``, else the referral's
page). Without htmx a refusal is a message on the page it came back to, as before.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from referrals.assignment import referral_assign
from referrals.errors import ReasonRequired, ReferralError
from referrals.lifecycle import Actor, actor_roles
from referrals.web.errors import answers_refusals
from referrals.web.views import _back, _posted_version, _triage_panel, _visible_or_404


def _office_referral(request, public_id):
    referral = _visible_or_404(request, public_id)
    if not actor_roles(user=request.user, referral=referral) & {Actor.OFFICE, Actor.ADMIN}:
        raise Http404
    return referral


def _safe_next(request, target: str) -> str:
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return ""
    return target


def _panel(request, referral, panel: dict, *, target: str, row: bool, **state):
    """The routing panel: ``state`` is what the form was sent with and why it was refused
    (``chosen`` unit id, ``reason``, ``errors`` by field)."""
    return render(
        request,
        "referrals/includes/triage_panel.html",
        {
            "referral": referral,
            "triage": panel,
            "next": target,
            "suffix": f"-{referral.pk}" if row else "",
            "chosen": state.get("chosen", ""),
            "reason": state.get("reason", ""),
            "errors": state.get("errors", {}),
        },
    )


@login_required
@require_GET
def referral_triage_panel(request, public_id):
    """The routing panel alone (candidates, reasons, the route form), for the queue to open
    under a row; the form comes back to ``next``."""
    referral = _office_referral(request, public_id)
    panel = _triage_panel(referral)
    if panel is None:
        return render(request, "referrals/includes/triage_closed.html", {"referral": referral})
    target = _safe_next(request, request.GET.get("next", ""))
    return _panel(request, referral, panel, target=target, row=True)


@login_required
@require_POST
@answers_refusals(back=_back)
def referral_route_by_hand(request, public_id):
    """The district office routes (or re-routes) a referral by hand."""
    referral = _office_referral(request, public_id)
    panel = _triage_panel(referral)
    if panel is None:  # closed or accepted meanwhile: nothing to route
        if request.htmx:
            return render(request, "referrals/includes/triage_closed.html", {"referral": referral})
        messages.error(request, _("This referral is not routed any more."))
        return redirect(_back(request, public_id=public_id))
    offered = {str(c.unit.pk): c.unit for c in [*panel["candidates"], *panel["others"]]}
    chosen = request.POST.get("unit", "")
    reason = request.POST.get("reason", "")
    unit = offered.get(chosen)
    errors = {}
    if unit is None:
        errors["unit"] = _("Choose a unit from the list.")
    else:
        try:
            updated = referral_assign(
                referral_id=referral.pk,
                actor=request.user,
                unit=unit,
                reason=reason,
                expected_version=_posted_version(request),
            )
        except ReasonRequired as error:
            errors["reason"] = error.message
        except ReferralError as error:
            if error.answered_as_not_found:
                raise
            errors["form"] = error.message
    if errors:
        return _refused(request, referral, panel, chosen=chosen, reason=reason, errors=errors)
    messages.success(request, _("Assigned to %(unit)s.") % {"unit": updated.assigned_unit.name})
    back = _back(request, public_id=public_id)
    return HttpResponseClientRedirect(back) if request.htmx else redirect(back)


def _refused(request, referral, panel: dict, *, chosen: str, reason: str, errors: dict):
    """A refused routing: the panel again, as it was sent, with the error beside its field
    (htmx); without htmx, the error as a message on the page the form came from."""
    if not request.htmx:
        for message in errors.values():
            messages.error(request, message)
        return redirect(_back(request, public_id=referral.public_id))
    return _panel(
        request,
        referral,
        panel,
        target=_safe_next(request, request.POST.get("next", "")),
        row=request.POST.get("panel") == "row",
        chosen=chosen,
        reason=reason,
        errors=errors,
    )
