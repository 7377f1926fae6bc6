"""What is done from a referral's page (issue 19): a lifecycle step and a case note (the
office's escalation is in ``views``). The page offers them one form at a time
(``views.actions_panel``); a destructive step (``lifecycle.Transition.consequence``) is
asked twice: the first post changes nothing and shows what it will do, only the post that
confirms it takes the step. The services and the API know nothing of confirming: it is the
page's concern."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.selectors import user_scope
from referrals.lifecycle import TRANSITIONS
from referrals.models import Referral
from referrals.selectors import referrals_visible_to
from referrals.services import ACTION_SERVICES, referral_add_note
from referrals.web.errors import answers_refusals
from referrals.web.views import _back, _posted_version, _visible_or_404

# The fields a step's form posts, passed on to its service (and kept by the confirmation).
STEP_FIELDS = ("reason", "note", "outcome", "services_provided")


@login_required
@require_POST
@answers_refusals(back=_back)
def referral_act(request, public_id):
    """A lifecycle step from the referral's page or the unit's inbox."""
    referral = _visible_or_404(request, public_id)
    action = request.POST.get("action", "")
    service = ACTION_SERVICES.get(action)
    if service is None:
        messages.error(request, _("Unknown action."))
        return redirect(_back(request, public_id=public_id))
    posted = {name: request.POST.get(name, "") for name in STEP_FIELDS}
    step = {
        "referral_id": referral.pk,
        "actor": request.user,
        "expected_version": _posted_version(request),
        **posted,
    }
    transition = TRANSITIONS[action]
    if transition.consequence and request.POST.get("confirm") != "1":
        # Refused now as the step would be (a stale form, a missing reason), else asked.
        service(**step, check_only=True)
        return render(
            request,
            "referrals/confirm.html",
            {
                "referral": referral,
                "transition": transition,
                "posted": posted,
                "version": request.POST.get("version", ""),
                "next": request.POST.get("next", ""),
                "back": _back(request, public_id=public_id),
            },
        )
    updated = service(**step)
    if action == "reject":
        messages.success(
            request,
            _("You declined %(reference)s; it will be routed to another unit.")
            % {"reference": updated.reference},
        )
    else:
        messages.success(
            request,
            _("%(reference)s is now “%(status)s”.")
            % {"reference": updated.reference, "status": updated.get_status_display()},
        )
    # A decline takes the referral out of the unit's sight as soon as it is routed on (an
    # instant after this answer, so its page cannot be asked yet): treated as gone now.
    return redirect(back_after_step(request, updated, gone=action == "reject"))


def back_after_step(request, referral: Referral, *, gone: bool = False) -> str:
    """Where a step sends its actor: back where the form came from, unless that is the
    referral's page and the step took the referral out of their sight (``gone``, or no
    longer visible to them): then to their inbox (or home), never to a 404."""
    target = _back(request, public_id=referral.public_id)
    page = reverse("referrals:detail", kwargs={"public_id": referral.public_id})
    if not target.startswith(page):
        return target
    if not gone and referrals_visible_to(request.user).filter(pk=referral.pk).exists():
        return target
    return reverse("inbox:index") if user_scope(request.user).unit_ids else reverse("home")


@login_required
@require_POST
@answers_refusals(back=_back)
def referral_note_view(request, public_id):
    """A case note: not a step, the status stays (``services.referral_add_note``)."""
    referral = _visible_or_404(request, public_id)
    referral_add_note(
        referral_id=referral.pk,
        actor=request.user,
        note=request.POST.get("note", ""),
        expected_version=_posted_version(request),
    )
    messages.success(request, _("Note added to %(reference)s.") % {"reference": referral.reference})
    target = _back(request, public_id=public_id)
    return redirect(target if request.POST.get("next") else f"{target}#timeline")
