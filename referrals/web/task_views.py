"""The units on a referral, from its page (issue 16): the district office chooses which
unit leads (``assignment.referral_set_lead``), the units write to each other
(``unit_messages``); the page shows the units and needs
(``templates/referrals/includes/tasks.html``)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from referrals.assignment import referral_set_lead
from referrals.unit_messages import referral_message_units
from referrals.web.errors import answers_refusals
from referrals.web.views import _back, _posted_version, _visible_or_404


@login_required
@require_POST
@answers_refusals(back=_back)
def referral_lead_view(request, public_id):
    """Make another unit on the referral its lead, with a reason."""
    referral = _visible_or_404(request, public_id)
    updated = referral_set_lead(
        referral_id=referral.pk,
        actor=request.user,
        task_public_id=request.POST.get("task", ""),
        reason=request.POST.get("reason", ""),
        expected_version=_posted_version(request),
    )
    messages.success(
        request,
        _("%(unit)s now leads %(reference)s.")
        % {"unit": updated.assigned_unit.name, "reference": updated.reference},
    )
    return redirect(_back(request, public_id=public_id))


@login_required
@require_POST
@answers_refusals(back=_back)
def referral_message_view(request, public_id):
    """Write to the other units on the referral."""
    referral = _visible_or_404(request, public_id)
    referral_message_units(
        referral_id=referral.pk, actor=request.user, body=request.POST.get("body", "")
    )
    messages.success(request, _("Your message was sent to the other units."))
    return redirect(_back(request, public_id=public_id))
