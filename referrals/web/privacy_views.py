"""Privacy pages: the collection statement (public), data access requests (administrators;
everyone else gets a 404) and the withdrawal of consent from a referral's page."""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from referrals import access_requests, privacy
from referrals.selectors import referrals_visible_to
from referrals.web.errors import answers_refusals, same_page
from referrals.web.privacy_forms import AccessRequestForm, ConsentWithdrawalForm


@require_GET
def privacy_notice(request):
    """The Personal Information Collection Statement. The statement is a legal text kept
    whole per language (``privacy/notice_<language>.html``) rather than cut into msgids."""
    language = "zh_hant" if translation.get_language() == "zh-hant" else "en"
    return render(
        request,
        "privacy/notice.html",
        {
            "statement": f"privacy/notice_{language}.html",
            "retention_years": settings.RETENTION_YEARS,
            "privacy_contact_email": settings.PRIVACY_CONTACT_EMAIL,
        },
    )


@login_required
@sensitive_post_parameters("id_number", "name", "phone")
@require_http_methods(["GET", "POST"])
@answers_refusals(back=same_page)
def access_request(request):
    """A data access request (PDPO s.18): find the person's referrals and download them."""
    if not request.user.is_administrator:
        raise Http404
    form = AccessRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            package = access_requests.access_request_export(
                requester=request.user,
                id_type=data["id_type"] if data["id_number"].strip() else "",
                id_number=data["id_number"],
                name=data["name"],
                phone=data["phone"].as_e164 if data["phone"] else "",
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
            response = HttpResponse(
                json.dumps(package, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
                content_type="application/json; charset=utf-8",
            )
            response["Content-Disposition"] = (
                f'attachment; filename="data-access-request-{stamp}.json"'
            )
            response["Cache-Control"] = "no-store"
            return response
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "privacy/access_request.html",
        {"form": form, "retention_years": settings.RETENTION_YEARS},
        status=status,
    )


def _back_to_referral(request, *, public_id) -> str:
    return reverse("referrals:detail", kwargs={"public_id": public_id})


@login_required
@require_POST
@answers_refusals(back=_back_to_referral)
def withdraw_consent(request, public_id):
    referral = referrals_visible_to(request.user).filter(public_id=public_id).first()
    if referral is None:
        raise Http404
    form = ConsentWithdrawalForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(_back_to_referral(request, public_id=public_id))
    data = form.cleaned_data
    reach = privacy.consent_withdrawal_reach(referral=referral, actor=request.user)
    if reach and not data["confirm"]:
        # First step: what else would change is shown, with each version; nothing changes.
        return render(
            request,
            "privacy/consent_withdrawal_confirm.html",
            {"referral": referral, "data": data, "reach": reach},
        )
    result = privacy.referral_withdraw_consent(
        referral_id=referral.pk,
        actor=request.user,
        withdrawn_at=data["withdrawn_at"],
        method=data["method"],
        note=data["note"],
        expected_version=data["version"],
        confirmed=form.confirmed() if data["confirm"] else {},
    )
    # Only referrals the actor may see are reached, so only those are named.
    messages.success(
        request,
        _(
            "The withdrawal of consent is recorded. Referrals withdrawn: %(cancelled)s; "
            "left open under the urgent-protection exemption: %(flagged)s."
        )
        % {
            "cancelled": ", ".join(result.cancelled) or "—",
            "flagged": ", ".join(result.flagged) or "—",
        },
    )
    return redirect(_back_to_referral(request, public_id=public_id))
