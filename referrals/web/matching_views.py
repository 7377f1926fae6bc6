"""The district office's matching page (issue 17): each pre-primary social work team's
children against its capacity, the hot spots, the proposed re-matching, and the form that
applies it (``referrals.matching``) as transfer plans.

The page covers the districts of the user's offices (headquarters: every district), or one
of them (``?district=``); no district in scope, or one outside it, is a 404. A POST applies
the moves left ticked, with the effective date and title given, and goes to the transfer
plans; a refusal comes back to the page with its reasons, nothing changed.
"""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods

from accounts.selectors import districts_covered_by
from districts.models import District
from referrals.matching import MatchingError, MoveSpec, apply, propose
from referrals.transfer_plans import TransferError
from referrals.web.errors import answers_refusals, same_page

# Effective dates a few weeks ahead leave time to tell the families (issue 17).
DEFAULT_NOTICE_DAYS = 14


class ApplyForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title of the transfer plans"), max_length=200)
    effective_on = forms.DateField(
        label=gettext_lazy("Effective date"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=gettext_lazy(
            "The open cases of the moved institutions' children move to their new teams on "
            "this date, once each has a handover note and the family has been told."
        ),
    )
    # The page draws a checkbox per proposed move; a key no longer proposed (someone
    # re-matched since the page was drawn) is refused and the new proposal shown.
    move = forms.MultipleChoiceField(
        label=gettext_lazy("Moves to apply"),
        required=False,
        widget=forms.MultipleHiddenInput,
        error_messages={
            "invalid_choice": gettext_lazy(
                "The proposal changed since the page was opened: check the moves again."
            )
        },
    )

    def __init__(self, *args, keys=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["move"].choices = [(key, key) for key in keys]

    def clean_effective_on(self):
        value = self.cleaned_data["effective_on"]
        if value < timezone.localdate():
            raise forms.ValidationError(_("The effective date cannot be in the past."))
        return value


def _scope(request: HttpRequest) -> tuple[list[District], list[District], District | None]:
    """(districts the user covers, districts shown, the district chosen or None)."""
    districts = list(districts_covered_by(user=request.user))
    if not districts:
        raise Http404
    code = request.GET.get("district", "").strip().upper()
    if not code:
        return districts, districts, None
    chosen = [district for district in districts if district.code == code]
    if not chosen:
        raise Http404  # unknown, or outside the user's scope: the same answer
    return districts, chosen, chosen[0]


def team_rows(proposal) -> list[dict]:
    """Each team's row: its load now and after the moves, and the meter's scale (the
    largest of load, load after and capacity) and amber mark (85 % of capacity)."""
    rows = []
    for team, after in proposal.rows():
        rows.append(
            {
                "team": team,
                "after": after,
                "percent_after": round(after * 100 / team.capacity) if team.capacity else None,
                "scale": max(team.load, after, team.capacity, 1),
                "low": round(team.capacity * 0.85),
            }
        )
    return rows


def transfer_list_url() -> str:
    return reverse("referrals:transfer_list")


@login_required
@require_http_methods(["GET", "POST"])
@answers_refusals(back=same_page)
def matching(request: HttpRequest) -> HttpResponse:
    scope, shown, district = _scope(request)
    proposal = propose([d.pk for d in shown])
    keys = [move.key for move in proposal.moves]
    today = timezone.localdate()
    if request.method == "POST":
        form = ApplyForm(request.POST, keys=keys)
        if form.is_valid():
            return _apply(request, form)
    else:
        form = ApplyForm(
            keys=keys,
            initial={
                "title": _("Re-matching of pre-primary institutions, %(date)s")
                % {"date": today.isoformat()},
                "effective_on": today + timedelta(days=DEFAULT_NOTICE_DAYS),
                "move": keys,
            },
        )
    return render(
        request,
        "referrals/matching.html",
        {
            "scope": scope,
            "district": district,
            "districts": shown,
            "proposal": proposal,
            "matching": proposal.matching,
            "team_rows": team_rows(proposal),
            "form": form,
            "chosen": set(form["move"].value() or []),
        },
        status=400 if form.is_bound else 200,
    )


def _apply(request: HttpRequest, form: ApplyForm) -> HttpResponse:
    specs = [MoveSpec.parse(key) for key in form.cleaned_data["move"]]
    try:
        plans = apply(
            actor=request.user,
            moves=[spec for spec in specs if spec is not None],
            effective_on=form.cleaned_data["effective_on"],
            title=form.cleaned_data["title"],
        )
    except (MatchingError, TransferError) as error:
        messages.error(request, error.message)
        for problem in error.problems:
            messages.error(request, problem)
        return redirect(request.get_full_path())
    moved = len(specs)
    messages.success(
        request,
        ngettext("%(count)s institution re-matched.", "%(count)s institutions re-matched.", moved)
        % {"count": moved},
    )
    cases = sum(plan.cases.count() for plan in plans)
    if cases:
        messages.info(
            request,
            ngettext(
                "%(count)s open case is planned to move to its new team: write its handover "
                "note and tell the family before the effective date.",
                "%(count)s open cases are planned to move to their new teams: write their "
                "handover notes and tell the families before the effective date.",
                cases,
            )
            % {"count": cases},
        )
    return redirect(transfer_list_url())
