"""The caring team's pages: its list on a phone, a household and its timeline, recording a
visit, referring from it; and the office's reopen of a closed household.

Every page starts from ``selectors.households_visible_to``: a household out of reach is
"not found", exactly like one that does not exist. Recording a visit is for members of the
household's team only (``visits.record_visit`` checks it again)."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import user_scope
from outreach.errors import Conflict, NotPermitted, OutreachError
from outreach.events import log_household_access, log_household_access_many
from outreach.followup import follow_up_for
from outreach.models import (
    CLOSED_HOUSEHOLD_STATUSES,
    ListingReason,
    NextStep,
    OutreachAccessLog,
    Priority,
    Visit,
    VisitOutcome,
    VisitReferral,
)
from outreach.referring import refer_person, referral_origin
from outreach.selectors import (
    CARING_TEAM_TYPE,
    households_visible_to,
    may_manage_list,
    may_manage_lists,
    team_households,
    team_ids_of,
)
from outreach.visits import household_reopen as reopen_household
from outreach.visits import record_visit
from outreach.web.list_forms import PriorityForm
from outreach.web.visit_forms import ReopenForm, VisitForm
from referrals.web.errors import answers_refusals, same_page
from services.models import ServiceUnit

HOUSEHOLDS_PER_PAGE = 50
# The visit form's script sends this header: it is answered with JSON naming the next
# page, so the script (not the fetch) follows it and the success message is not consumed.
DRAFT_HEADER = "X-Visit-Draft"


@login_required
@require_GET
def outreach_home(request):
    """A caring-team member goes to their team's list; the office to its visit lists."""
    if team_ids_of(request.user):
        return redirect("outreach:team_list")
    if may_manage_lists(request.user):
        return redirect("outreach:lists")
    raise PermissionDenied(_("Visit lists are for caring teams and district offices."))


def _team_or_404(user, team_id: int | None) -> tuple[ServiceUnit, bool]:
    """The team whose list is asked for and whether the user is a member: their own team
    (the first, if several), or ``team_id`` for a member of it or the office of its
    district."""
    teams = team_ids_of(user)
    if team_id is None:
        if not teams:
            raise Http404
        team_id = teams[0]
    team = ServiceUnit.objects.filter(pk=team_id, unit_type__code=CARING_TEAM_TYPE).first()
    if team is None:
        raise Http404
    member = team.pk in teams
    scope = user_scope(user)
    if not (member or scope.everywhere or team.district_id in scope.district_ids):
        raise Http404
    return team, member


@login_required
@require_GET
def team_list(request, team_id: int | None = None):
    """What is left to visit, by priority then walking the building; names stay off the
    list (they are on the household's page)."""
    team, member = _team_or_404(request.user, team_id)
    households = team_households(team.pk)
    scope = user_scope(request.user)
    if not (member or scope.everywhere):
        households = households.filter(district_id__in=scope.district_ids)
    page = Paginator(households, HOUSEHOLDS_PER_PAGE).get_page(request.GET.get("page"))
    shown = list(page)
    follow_up = follow_up_for(shown)
    log_household_access_many(
        user=request.user,
        households=shown,
        channel=OutreachAccessLog.Channel.PAGE,
        detail="team list",
    )
    teams = team_ids_of(request.user)
    return render(
        request,
        "outreach/team_list.html",
        {
            "team": team,
            "page": page,
            "rows": [
                (
                    h,
                    follow_up[h.pk],
                    _reason_labels(h),
                    _priority_label(h.effective_priority),
                    address_line(h),
                )
                for h in shown
            ],
            "other_teams": ServiceUnit.objects.filter(pk__in=teams).order_by("code")
            if len(teams) > 1
            else [],
        },
    )


def _short(part: str) -> bool:
    """A bare number or letter ("2", "12", "C"), to be labelled; "Block A" or "2座" as given."""
    return part.isalnum() and part.isascii() and len(part) <= 4


def address_line(household) -> str:
    """Estate · block · floor · flat, each labelled in the reader's language when the list
    gave it bare."""
    parts = [household.estate_name]
    labels = (
        (household.block, _("Block %(part)s")),
        (household.floor, _("%(part)s/F")),
        (household.flat, _("Flat %(part)s")),
    )
    for value, label in labels:
        if value:
            parts.append(label % {"part": value} if _short(value) else value)
    return " · ".join(parts)


def _reason_labels(household) -> list[str]:
    labels = []
    for reason in household.reasons or []:
        try:
            labels.append(ListingReason(reason).label)
        except ValueError:
            labels.append(reason)
    return labels


def _priority_label(value) -> str:
    return dict(Priority.choices).get(value, str(value))


def _household_or_404(request, public_id):
    household = (
        households_visible_to(request.user)
        .select_related("team", "visit_list", "district", "sub_district")
        .filter(public_id=public_id)
        .first()
    )
    if household is None:
        raise Http404
    return household


def _household_page(request, *, public_id, **_url_kwargs) -> str:
    return reverse("outreach:household", kwargs={"public_id": public_id})


@login_required
@require_GET
def household_detail(request, public_id):
    household = _household_or_404(request, public_id)
    member = household.team_id in team_ids_of(request.user)
    office = may_manage_list(request.user, household.visit_list)
    people = list(household.people.all())
    visits = {
        visit.pk: visit
        for visit in household.visits.select_related("visited_by").prefetch_related(
            "seen",
            "needs",
            Prefetch(
                "referrals",
                queryset=VisitReferral.objects.select_related("referral", "person"),
            ),
        )
    }
    links = {link.referral_id: link for visit in visits.values() for link in visit.referrals.all()}
    events = list(household.events.select_related("actor"))
    timeline = [
        (event, visits.get(event.visit_id), links.get(event.referral_id)) for event in events
    ]
    log_household_access(
        user=request.user, household=household, channel=OutreachAccessLog.Channel.PAGE
    )
    closed = household.status in CLOSED_HOUSEHOLD_STATUSES
    return render(
        request,
        "outreach/household.html",
        {
            "household": household,
            "people": people,
            "reasons": _reason_labels(household),
            "address": address_line(household),
            "priority_label": _priority_label(household.effective_priority),
            "timeline": timeline,
            "member": member,
            "refer": _refer_section(visits.values(), people) if member else None,
            "closed": closed,
            "can_reopen": office and closed and household.personal_data_removed_at is None,
            "priority_form": PriorityForm(
                initial={"priority": household.priority_override, "version": household.version}
            )
            if office
            else None,
            "reopen_form": ReopenForm(initial={"version": household.version}) if office else None,
        },
    )


def _refer_section(visits, people) -> dict | None:
    """The newest visit whose next step is "refer": each person of the household with a
    Refer button, or the referral already made for them from it."""
    referring = [
        v for v in visits if v.outcome == VisitOutcome.VISITED and v.next_step == NextStep.REFER
    ]
    if not referring:
        return None
    visit = max(referring, key=lambda v: (v.visited_at, v.pk))
    made = {link.person_id: link.referral for link in visit.referrals.all()}
    return {"visit": visit, "people": [(person, made.get(person.pk)) for person in people]}


@login_required
@answers_refusals(back=same_page)
def visit_new(request, public_id):
    household = _household_or_404(request, public_id)
    if household.team_id not in team_ids_of(request.user):
        raise Http404
    if request.method == "POST":
        return _record(request, household)
    form = VisitForm(
        household=household,
        initial={"token": uuid.uuid4(), "version": household.version, "next_step": NextStep.NONE},
    )
    log_household_access(  # the form names who lives there
        user=request.user,
        household=household,
        channel=OutreachAccessLog.Channel.PAGE,
        detail="visit form",
    )
    return _render_visit_form(request, household, form)


def _render_visit_form(request, household, form, *, status=200):
    return render(
        request,
        "outreach/visit_form.html",
        {
            "household": household,
            "address": address_line(household),
            "form": form,
            "closed": household.status in CLOSED_HOUSEHOLD_STATUSES,
        },
        status=status,
    )


def _record(request, household):
    """The visit form posted (by the browser, or by its script with ``DRAFT_HEADER``)."""
    form = VisitForm(request.POST, household=household)
    if not form.is_valid():
        return _render_visit_form(request, household, form, status=400)
    data = form.cleaned_data
    try:
        visit, created = record_visit(
            actor=request.user,
            household=household,
            token=data["token"],
            outcome=data["outcome"],
            seen=data["seen"],
            needs=data["needs"],
            emergency_link_application=data["emergency_link_application"],
            note=data["note"],
            next_step=data["next_step"],
            revisit_on=data["revisit_on"],
            version=data["version"],
        )
    except NotPermitted:
        raise
    except Conflict as error:
        # Drawn again as the household is now: what was typed stays, the version is new.
        household.refresh_from_db()
        posted = request.POST.copy()
        posted["version"] = str(household.version)
        form = VisitForm(posted, household=household)
        form.is_valid()
        form.add_error(None, error.message)
        return _render_visit_form(request, household, form, status=error.status_code)
    except OutreachError as error:
        form.add_error(None, error.message)
        return _render_visit_form(request, household, form, status=error.status_code)
    if created:
        messages.success(
            request,
            _("Visit recorded: %(address)s, %(outcome)s.")
            % {"address": household.address, "outcome": visit.get_outcome_display()},
        )
    else:
        messages.info(request, _("This visit was already recorded; it was not added again."))
    target = _after_visit(request, visit)
    if request.headers.get(DRAFT_HEADER):
        return JsonResponse({"location": target})
    return redirect(target)


def _after_visit(request, visit) -> str:
    if visit.outcome == VisitOutcome.VISITED and visit.next_step == NextStep.REFER:
        return reverse("outreach:household", kwargs={"public_id": visit.household.public_id}) + (
            "#refer"
        )
    if len(team_ids_of(request.user)) > 1:
        return reverse("outreach:team_list_of", kwargs={"team_id": visit.team_id})
    return reverse("outreach:team_list")


def _visit_household_page(request, *, public_id, **_url_kwargs) -> str:
    household = Visit.objects.filter(public_id=public_id).values_list(
        "household__public_id", flat=True
    )
    found = household.first()
    return _household_page(request, public_id=found) if found else reverse("outreach:home")


@login_required
@require_POST
@answers_refusals(back=_visit_household_page)
def visit_refer(request, public_id, person_id: int):
    """Make (or reopen) the draft referral for one person from a visit, then open it on the
    referral form, where the member checks it, records consent and submits."""
    visit = (
        Visit.objects.select_related("household", "team")
        .filter(public_id=public_id, household__in=households_visible_to(request.user))
        .first()
    )
    if visit is None:
        raise Http404
    person = visit.household.people.filter(pk=person_id).first()
    if person is None:
        raise Http404
    referral = refer_person(actor=request.user, visit=visit, person=person)
    if referral.referrer_id != request.user.pk:
        messages.info(request, _("A colleague already made this referral from the visit."))
        return redirect("outreach:household", public_id=visit.household.public_id)
    return redirect("referrals:edit", public_id=referral.public_id)


@login_required
@require_POST
@answers_refusals(back=_household_page)
def household_reopen(request, public_id):
    household = _household_or_404(request, public_id)
    form = ReopenForm(request.POST)
    if not form.is_valid():
        if not may_manage_list(request.user, household.visit_list):
            raise Http404
        messages.error(request, _("Say why the household is reopened."))
        return redirect("outreach:household", public_id=household.public_id)
    reopen_household(
        actor=request.user,
        household=household,
        note=form.cleaned_data["note"],
        version=form.cleaned_data["version"],
    )
    messages.success(request, _("Reopened: the household is back on its team's list."))
    return redirect("outreach:household", public_id=household.public_id)


def referral_origin_panel(request, referral):
    """The referral page's panel (``referrals.web.panels``): the visit it came from."""
    origin = referral_origin(request.user, referral)
    if origin is None:
        return None
    return "outreach/includes/visit_origin.html", {"origin": origin}
