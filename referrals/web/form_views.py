"""The referral form: a new referral, a draft resumed, saving a draft; then "check your
answers" and the confirmation page (the GOV.UK Design System's pattern).

The form's primary button ("Continue", ``submit``) checks the answers by the submission's
rules and keeps them as the draft (``referral_save_draft``); the check page shows the stored
draft, and only its "Submit referral" POST files it (``referral_submit``, from the stored
values: one set of rules, whichever face). The duplicate warning (``referrals.duplicates``)
is asked at that moment, as a panel at the top of the check page."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET

from districts.models import District
from referrals.duplicates import DuplicateWarning, TooManyChecks, duplicate_check
from referrals.models import Referral, Status
from referrals.selectors import referrer_teams
from referrals.submission import (
    RULE_FIELDS,
    referral_save_draft,
    referral_submit,
    submission_errors,
)
from referrals.web.errors import answers_refusals, same_page
from referrals.web.forms import (
    CheckAnswersForm,
    ReferralForm,
    answer_sections,
    district_id_of,
    problems_with_links,
    stored_values,
    sub_district_select,
)

FORM_REFUSAL = _("Only caring-team members and other referrers file referrals.")
NO_SUCH_DISTRICT = _("There is no such district: choose one from the list.")


def _default_sub_district(team):
    return team.catchment_sub_districts.order_by("code").first()


def _referrer_teams_or_403(request):
    """The teams the user files for (with their district, the form's first guess), read
    once: the check, the first team and the form's list are one query; none: a 403."""
    teams = referrer_teams(user=request.user).select_related("district")
    if not teams:
        raise PermissionDenied(FORM_REFUSAL)
    return teams


@login_required
@sensitive_post_parameters("id_number")
@answers_refusals(back=same_page)
def referral_new(request):
    teams = _referrer_teams_or_403(request)
    if request.method == "POST":
        existing = _referral_for_token(request)
        if existing and existing.status != Status.DRAFT:
            return redirect("referrals:detail", public_id=existing.public_id)
        return _save(request, teams=teams, referral=existing)
    team = teams.first()
    form = ReferralForm(
        teams=teams,
        initial={
            "token": uuid.uuid4(),
            "team": team,
            "district": team.district,
            "sub_district": _default_sub_district(team),
            "consent_given_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "referrer_contact": request.user.email,
        },
    )
    return _render_form(request, form, referral=None)


@login_required
@require_GET
def referral_sub_districts(request):
    """The ``<option>`` list of one district's sub-districts (``?district=<id>``), which the
    form's district list fetches (htmx) into the sub-district list when it changes; the
    form's own rule: referrers only. No district (blank): only "Whole district / not
    known"; an id that names no district: a 400 saying so."""
    _referrer_teams_or_403(request)
    raw = request.GET.get("district", "")
    district_id = district_id_of(raw)
    if raw and (district_id is None or not District.objects.filter(pk=district_id).exists()):
        return HttpResponseBadRequest(NO_SUCH_DISTRICT, content_type="text/plain; charset=utf-8")
    widget = sub_district_select(district_id)
    return HttpResponse(widget.option_tags("sub_district", None))


@login_required
@sensitive_post_parameters("id_number")
@answers_refusals(back=same_page)
def referral_edit(request, public_id):
    referral = Referral.objects.filter(public_id=public_id, referrer=request.user).first()
    if referral is None:
        raise Http404
    if referral.status != Status.DRAFT:
        return redirect("referrals:detail", public_id=referral.public_id)
    teams = referrer_teams(user=request.user)
    if request.method == "POST":
        return _save(request, teams=teams, referral=referral)
    form = ReferralForm(
        teams=teams,
        instance=referral,
        initial={
            "token": referral.submission_token,
            "team": referral.referring_team,
            "needs": list(referral.needs.all()),
            "risk_factors": referral.risk_factors,
        },
    )
    return _render_form(request, form, referral=referral)


def _referral_for_token(request) -> Referral | None:
    try:
        token = uuid.UUID(request.POST.get("token", ""))
    except ValueError:
        return None
    return Referral.objects.filter(submission_token=token, referrer=request.user).first()


def _save(request, *, teams, referral: Referral | None):
    submitting = "submit" in request.POST
    form = ReferralForm(
        request.POST,
        teams=teams,
        submitting=submitting,
        instance=referral or Referral(referrer=request.user),
    )
    if not form.is_valid():
        return _render_form(request, form, referral=referral, status=400)
    data = form.cleaned_data
    if referral and data["token"] != referral.submission_token:
        return _render_form(request, form, referral=referral, status=400)
    try:
        draft = referral_save_draft(
            referrer=request.user,
            team=data["team"],
            token=data["token"],
            values=form.model_values(),
            needs=data["needs"],
            identity=data["identity"],
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _render_form(request, form, referral=referral, status=400)
    if draft.status != Status.DRAFT:  # this form was filed meanwhile (another tab)
        return redirect("referrals:detail", public_id=draft.public_id)
    if submitting:
        return redirect("referrals:check", public_id=draft.public_id)
    messages.success(request, _("Draft saved. You can come back to it from My referrals."))
    return redirect("referrals:edit", public_id=draft.public_id)


def _render_form(request, form, *, referral, status=200):
    return render(
        request,
        "referrals/form.html",
        {
            "form": form,
            "referral": referral,
            "sections": form.sections(),
        },
        status=status,
    )


# --- Check your answers, then the confirmation ----------------------------------------------


def _own_referral(request, public_id) -> Referral:
    referral = (
        Referral.objects.filter(public_id=public_id, referrer=request.user)
        .select_related("referring_team", "district", "sub_district", "institution")
        .first()
    )
    if referral is None:
        raise Http404
    return referral


@login_required
@answers_refusals(back=same_page)
def referral_check(request, public_id):
    """The stored draft's answers, every one with a "Change" link, and the one button that
    files it. A second POST of the same page (a double tap) finds it filed."""
    referral = _own_referral(request, public_id)
    if referral.status != Status.DRAFT:
        return redirect(
            "referrals:filed" if request.method == "POST" else "referrals:detail",
            public_id=referral.public_id,
        )
    # The form's rule (its team is one of ``referrer_teams``), asked again: this page files
    # the stored draft without the form, and its author may have left the team since.
    if not referrer_teams(user=request.user).filter(pk=referral.referring_team_id).exists():
        raise PermissionDenied(_("You no longer file referrals for this referral's team."))
    form = CheckAnswersForm(request.POST or None, referral=referral)
    if request.method != "POST":
        return _render_check(request, referral, form)
    if not form.is_valid():
        status = 409 if "version" in form.errors and form["version"].value() else 400
        return _render_check(request, referral, form, status=status)
    try:
        if not form.cleaned_data["confirm_duplicates"]:
            warning = _duplicate_warning(request, referral)
            if warning:
                return _render_check(request, referral, form, duplicates=warning)
        submitted, _created = referral_submit(
            referrer=request.user,
            team=referral.referring_team,
            token=referral.submission_token,
            values=stored_values(referral),
            needs=list(referral.needs.all()),
            duplicate_note=form.cleaned_data["duplicate_note"],
        )
    except ValidationError as error:
        form.add_error(None, list(_messages_of(error)))
        return _render_check(request, referral, form, status=400)
    except TooManyChecks as error:
        form.add_error(None, error.message)
        return _render_check(request, referral, form, status=error.status_code)
    return redirect("referrals:filed", public_id=submitted.public_id)


def _messages_of(error: ValidationError):
    if hasattr(error, "error_dict"):
        for messages_ in error.message_dict.values():
            yield from messages_
    else:
        yield from error.messages


def _duplicate_warning(request, referral: Referral) -> DuplicateWarning:
    return duplicate_check(
        user=request.user,
        token=referral.submission_token,
        id_hash=referral.id_number_hash,
        phone=referral.phone.as_e164 if referral.phone else "",
        names=(referral.subject_name_zh, referral.subject_name_en),
        exclude_pk=referral.pk,
    )


def _render_check(request, referral, form, *, duplicates=None, status=200):
    problems = submission_errors(
        {name: getattr(referral, name) for name in RULE_FIELDS}, needs=referral.needs.all()
    )
    return render(
        request,
        "referrals/check_answers.html",
        {
            "referral": referral,
            "form": form,
            "sections": answer_sections(referral),
            "problems": problems_with_links(problems),
            "duplicates": duplicates,
        },
        status=status,
    )


@login_required
def referral_filed(request, public_id):
    """The confirmation: the reference in a panel, what happens next, where to go."""
    referral = _own_referral(request, public_id)
    if referral.status == Status.DRAFT:
        return redirect("referrals:edit", public_id=referral.public_id)
    return render(request, "referrals/filed.html", {"referral": referral})
