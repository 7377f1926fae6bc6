"""The caring team's pages: its list, a household and its timeline, the visit form (posted
by the browser and by its script), referring from a visit, the office's reopen; who sees
what, the access log, and the list's query count."""

import json
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from outreach.models import (
    HouseholdStatus,
    NextStep,
    OutreachAccessLog,
    Visit,
    VisitOutcome,
    VisitReferral,
)
from outreach.referring import refer_person
from referrals.models import (
    ConsentBasis,
    ConsentGivenBy,
    ConsentMethod,
    Referral,
    ReferralEvent,
    Status,
)
from tests import factories
from tests.outreach.test_visits import make_household, make_visit_list, two_needs, visit

pytestmark = pytest.mark.django_db

TEAM_LIST = reverse("outreach:team_list")


@pytest.fixture
def visit_list(district_officer):
    return make_visit_list(district_officer)


@pytest.fixture
def household(visit_list, caring_team, ssp_area):
    return make_household(visit_list, caring_team, sub_district=ssp_area, people=2)


@pytest.fixture
def other_member(ssp_area):
    team = factories.ServiceUnitFactory(
        code="care-team-f01-b",
        unit_type=factories.unit_type("CARE_TEAM"),
        catchment_sub_districts=[ssp_area],
    )
    return factories.MembershipFactory(
        user=factories.UserFactory(username="team-b-member"),
        role=Membership.Role.REFERRER,
        service_unit=team,
    ).user


def page_of(client, user, url, **kwargs):
    client.force_login(user)
    return client.get(url, **kwargs)


def visit_form_data(household, **values):
    return {
        "token": str(values.pop("token", uuid.uuid4())),
        "version": str(values.pop("version", household.version)),
        "outcome": values.pop("outcome", VisitOutcome.VISITED),
        "next_step": values.pop("next_step", NextStep.NONE),
        **values,
    }


# --- Where each one lands, and who is out of reach -----------------------------------------


def test_home_sends_each_role_to_its_page(client, referrer, district_officer, unit_worker):
    assert page_of(client, referrer, reverse("outreach:home")).url == TEAM_LIST
    office = page_of(client, district_officer, reverse("outreach:home"))
    assert office.url == reverse("outreach:lists")
    assert page_of(client, unit_worker, reverse("outreach:home")).status_code == 403


@pytest.mark.parametrize("who", ["other_member", "unit_worker", "other_district_officer"])
def test_every_page_of_the_household_is_not_found_out_of_reach(
    client, request, referrer, household, who
):
    recorded, _ = visit(referrer, household, next_step=NextStep.REFER, needs=two_needs())
    person = household.people.first()
    client.force_login(request.getfixturevalue(who))
    public_id = household.public_id
    pages = [
        ("get", reverse("outreach:household", args=[public_id])),
        ("get", reverse("outreach:visit_new", args=[public_id])),
        ("post", reverse("outreach:visit_new", args=[public_id])),
        ("post", reverse("outreach:reopen", args=[public_id])),
        ("post", reverse("outreach:visit_refer", args=[recorded.public_id, person.pk])),
        ("get", reverse("outreach:team_list_of", args=[household.team_id])),
    ]
    for method, url in pages:
        data = visit_form_data(household) if method == "post" else None
        assert getattr(client, method)(url, data).status_code == 404, url
    own_list = client.get(TEAM_LIST)  # another team's own list (or none): not this household
    assert str(public_id) not in own_list.content.decode()
    assert not VisitReferral.objects.exists()
    assert Visit.objects.count() == 1


def test_the_office_sees_its_districts_team_lists_but_records_no_visit(
    client, district_officer, household
):
    client.force_login(district_officer)
    assert client.get(reverse("outreach:team_list_of", args=[household.team_id])).status_code == 200
    assert client.get(reverse("outreach:household", args=[household.public_id])).status_code == 200
    assert client.get(reverse("outreach:visit_new", args=[household.public_id])).status_code == 404
    assert client.get(TEAM_LIST).status_code == 404  # no team of its own


# --- The team's list ---------------------------------------------------------------------


def came_back(referrer, household, reason="No places until next year"):
    """Referred from a visit; the unit declined it."""
    recorded, _ = visit(referrer, household, next_step=NextStep.REFER, needs=two_needs())
    referral = refer_person(actor=referrer, visit=recorded, person=household.people.first())
    Referral.objects.filter(pk=referral.pk).update(
        status=Status.REJECTED,
        reference=f"TEST-{referral.pk:06d}",
        submitted_at=timezone.now(),
        consent_basis=ConsentBasis.CONSENT,
        consent_given_by=ConsentGivenBy.SUBJECT,
        consent_method=ConsentMethod.VERBAL,
        consent_given_at=timezone.now(),
    )
    ReferralEvent.objects.create(
        referral=referral, from_status=Status.ASSIGNED, to_status=Status.REJECTED, reason=reason
    )
    return referral


def test_the_list_shows_what_is_left_by_priority_without_names(
    client, referrer, visit_list, caring_team, ssp_area
):
    def make(row, **fields):
        return make_household(visit_list, caring_team, sub_district=ssp_area, row=row, **fields)

    routine = make("1", reasons=["low_income"], estate_name="A Estate")
    priority = make("2", reasons=["carer", "high_load_carer"], high_load_indicators=4, priority=3)
    overdue = make("3", estate_name="B Estate")
    overdue.status, overdue.revisit_on = (
        HouseholdStatus.REVISIT,
        timezone.localdate() - timedelta(1),
    )
    overdue.save()
    later = make(
        "4", status=HouseholdStatus.REVISIT, revisit_on=timezone.localdate() + timedelta(9)
    )
    returned = make("5", estate_name="C Estate")
    came_back(referrer, returned)
    tried = make("6", estate_name="D Estate")
    visit(referrer, tried, VisitOutcome.NOT_AT_HOME)
    make("7", status=HouseholdStatus.REFUSED)

    response = page_of(client, referrer, TEAM_LIST)
    page = response.content.decode()
    rows = [h.pk for h, *_rest in response.context["rows"]]
    assert rows[0] == priority.pk
    assert set(rows) == {routine.pk, priority.pk, overdue.pk, returned.pk, tried.pk}
    assert later.pk not in rows
    assert "Revisit overdue" in page
    assert "Referral came back: Declined by unit – No places until next year" in page
    assert "Nobody at home 1 time" in page
    assert "陳大文" not in page and "Chan Tai Man" not in page
    assert "5 households left to visit" in page
    logged = OutreachAccessLog.objects.filter(user=referrer, detail="team list")
    assert logged.count() == 5


def test_the_list_costs_the_same_queries_for_five_or_fifty_households(
    client, referrer, visit_list, caring_team, ssp_area, django_assert_max_num_queries
):
    def fill(start, count):
        for row in range(start, start + count):
            household = make_household(
                visit_list, caring_team, sub_district=ssp_area, row=str(row), people=2
            )
            if row % 5 == 0:
                came_back(referrer, household)
            elif row % 3 == 0:
                visit(referrer, household, VisitOutcome.NOT_AT_HOME)

    fill(1, 5)
    client.force_login(referrer)
    with django_assert_max_num_queries(12) as few:
        assert client.get(TEAM_LIST).status_code == 200
    fill(6, 50)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(TEAM_LIST)
    assert len(response.context["rows"]) == 50


# --- The household page ------------------------------------------------------------------


def test_the_household_page_shows_people_masked_and_the_timeline(
    client, referrer, household, district_officer
):
    visit(referrer, household, VisitOutcome.NOT_AT_HOME)
    recorded, _ = visit(
        referrer, household, next_step=NextStep.REFER, needs=two_needs(), note="Needs a DECC"
    )
    referral = refer_person(actor=referrer, visit=recorded, person=household.people.first())
    url = reverse("outreach:household", args=[household.public_id])

    page = page_of(client, referrer, url).content.decode()
    assert "陳大文" in page and "A12****(*)" in page and "A123456" not in page
    assert page.count('data-kind="visit"') == 2
    assert 'data-outcome="not_at_home"' in page and "Needs a DECC" in page
    assert reverse("referrals:detail", args=[referral.public_id]) in page
    assert 'id="refer"' in page and "Open the draft referral" in page
    assert 'id="office-reopen"' not in page and 'id="office-priority"' not in page
    assert OutreachAccessLog.objects.filter(user=referrer, household=household).exists()

    page = page_of(client, district_officer, url).content.decode()
    assert 'id="office-priority"' in page
    assert reverse("outreach:household_priority", args=[household.public_id]) in page
    assert 'id="refer"' not in page  # the office does not refer from a team's visit


def test_the_household_page_costs_the_same_queries_for_one_or_many_visits(
    client, referrer, household, django_assert_max_num_queries
):
    url = reverse("outreach:household", args=[household.public_id])
    visit(referrer, household, VisitOutcome.NOT_AT_HOME)
    client.force_login(referrer)
    with django_assert_max_num_queries(20) as few:
        client.get(url)
    visit(referrer, household, VisitOutcome.NOT_AT_HOME)
    recorded, _ = visit(referrer, household, next_step=NextStep.REFER, needs=two_needs())
    for person in household.people.all():
        refer_person(actor=referrer, visit=recorded, person=person)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)


# --- The visit form ----------------------------------------------------------------------


def test_the_form_records_a_visit_and_goes_back_to_the_list(client, referrer, household):
    url = reverse("outreach:visit_new", args=[household.public_id])
    form = page_of(client, referrer, url)
    assert form.status_code == 200
    assert form.context["form"]["version"].value() == household.version
    assert OutreachAccessLog.objects.filter(household=household, detail="visit form").exists()
    needs = [str(need.pk) for need in two_needs()]
    data = visit_form_data(household, needs=needs, emergency_link_application="on")
    response = client.post(url, data, follow=True)
    assert response.redirect_chain[-1][0] == TEAM_LIST
    assert "Visit recorded" in response.content.decode()
    recorded = Visit.objects.get()
    assert recorded.needs.count() == 2 and recorded.emergency_link_application
    household.refresh_from_db()
    assert household.status == HouseholdStatus.NO_FOLLOW_UP


def test_refer_goes_to_the_people_to_refer_and_on_to_the_referral_form(client, referrer, household):
    client.force_login(referrer)
    url = reverse("outreach:visit_new", args=[household.public_id])
    data = visit_form_data(household, next_step=NextStep.REFER, needs=[two_needs()[0].pk])
    response = client.post(url, data)
    assert response.url == reverse("outreach:household", args=[household.public_id]) + "#refer"
    recorded = Visit.objects.get()
    for person in household.people.all():
        refer = reverse("outreach:visit_refer", args=[recorded.public_id, person.pk])
        answer = client.post(refer)
        referral = VisitReferral.objects.get(person=person).referral
        assert answer.url == reverse("referrals:edit", args=[referral.public_id])
        assert client.post(refer).url == answer.url  # again: the same draft
        form = client.get(answer.url)
        assert form.status_code == 200
        assert form.context["form"]["subject_name_zh"].value() == person.name_zh
    assert VisitReferral.objects.count() == 2


def test_a_resent_form_records_one_visit(client, referrer, household):
    client.force_login(referrer)
    url = reverse("outreach:visit_new", args=[household.public_id])
    data = visit_form_data(household, outcome=VisitOutcome.NOT_AT_HOME)
    first = client.post(url, data, headers={"X-Visit-Draft": "1"})
    assert first.status_code == 200
    assert json.loads(first.content) == {"location": TEAM_LIST}
    again = client.post(url, data, follow=True)
    assert "already recorded" in again.content.decode()
    assert Visit.objects.count() == 1
    household.refresh_from_db()
    assert household.not_at_home_count == 1


def test_a_stale_form_is_a_conflict_kept_on_the_page(client, referrer, household):
    client.force_login(referrer)
    url = reverse("outreach:visit_new", args=[household.public_id])
    stale = visit_form_data(household, outcome=VisitOutcome.NOT_AT_HOME, note="typed")
    visit(referrer, household, VisitOutcome.NOT_AT_HOME)  # a colleague, meanwhile
    response = client.post(url, stale, headers={"X-Visit-Draft": "1"})
    assert response.status_code == 409
    page = response.content.decode()
    assert "changed by someone else" in page and "typed" in page
    household.refresh_from_db()
    assert response.context["form"]["version"].value() == str(household.version)
    assert Visit.objects.count() == 1


def test_a_revisit_without_a_date_is_sent_back(client, referrer, household):
    client.force_login(referrer)
    url = reverse("outreach:visit_new", args=[household.public_id])
    response = client.post(url, visit_form_data(household, next_step=NextStep.REVISIT))
    assert response.status_code == 400
    assert "Choose the date of the revisit." in response.content.decode()
    assert not Visit.objects.exists()


def test_a_next_step_left_ticked_after_nobody_at_home_is_ignored(client, referrer, household):
    client.force_login(referrer)
    url = reverse("outreach:visit_new", args=[household.public_id])
    data = visit_form_data(household, outcome=VisitOutcome.NOT_AT_HOME, next_step=NextStep.REFER)
    assert client.post(url, data).url == TEAM_LIST
    assert Visit.objects.get().next_step == NextStep.NONE


# --- The office reopens ------------------------------------------------------------------


def test_the_office_reopens_from_the_household_page(client, referrer, district_officer, household):
    for _ in range(3):
        visit(referrer, household, VisitOutcome.NOT_AT_HOME)
    household.refresh_from_db()
    url = reverse("outreach:household", args=[household.public_id])
    assert 'id="office-reopen"' in page_of(client, district_officer, url).content.decode()
    reopen = reverse("outreach:reopen", args=[household.public_id])
    client.post(reopen, {"version": household.version, "note": ""})
    household.refresh_from_db()
    assert household.status == HouseholdStatus.UNREACHABLE
    response = client.post(
        reopen, {"version": household.version, "note": "Back from hospital"}, follow=True
    )
    assert "back on its team" in response.content.decode()
    household.refresh_from_db()
    assert household.status == HouseholdStatus.TO_VISIT and household.not_at_home_count == 0
    client.force_login(referrer)
    assert client.post(reopen, {"version": household.version, "note": "x"}).status_code == 404


def test_the_office_sets_the_priority_from_the_household_page(client, district_officer, household):
    url = reverse("outreach:household", args=[household.public_id])
    form = page_of(client, district_officer, url).context["priority_form"]
    data = {"priority": "3", "version": form["version"].value()}
    client.post(reverse("outreach:household_priority", args=[household.public_id]), data)
    household.refresh_from_db()
    assert household.priority_override == 3
