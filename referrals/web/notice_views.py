"""The carer-admitted pathway on the referral's page: recording a try to reach the person
an urgent notice names (``referrals/notices.py``); the page shows the form
(``templates/referrals/includes/contact.html``)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from referrals.models import ContactOutcome, NoNeedReason
from referrals.notices import referral_record_contact
from referrals.web.errors import answers_refusals
from referrals.web.views import _back, _posted_version, _visible_or_404


class ContactForm(forms.Form):
    """One try to reach the person of an urgent notice (``notices.referral_record_contact``
    checks who may and what it needs; the form only reads the fields)."""

    outcome = forms.ChoiceField(choices=ContactOutcome.choices)
    reason = forms.ChoiceField(choices=[("", "---"), *NoNeedReason.choices], required=False)
    note = forms.CharField(max_length=2000, required=False)
    retry_at = forms.DateTimeField(required=False)


@login_required
@require_POST
@answers_refusals(back=_back)
def referral_contact_view(request, public_id):
    """Record a contact attempt from the referral's page (urgent notices)."""
    referral = _visible_or_404(request, public_id)
    form = ContactForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what happened, and a valid time to try again."))
        return redirect(_back(request, public_id=public_id))
    data = form.cleaned_data
    updated = referral_record_contact(
        referral_id=referral.pk,
        actor=request.user,
        outcome=data["outcome"],
        reason=data["reason"],
        note=data["note"],
        retry_at=data["retry_at"],
        expected_version=_posted_version(request),
    )
    messages.success(
        request,
        _("%(reference)s: “%(outcome)s” recorded.")
        % {"reference": updated.reference, "outcome": ContactOutcome(data["outcome"]).label},
    )
    return redirect(_back(request, public_id=public_id))
