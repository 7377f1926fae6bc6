"""Recording visits: what each outcome does to the household, the not-at-home limit, the
office's reopen, the form token (a resend records one visit) and the version check."""

import threading
import uuid
from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Membership
from outreach.errors import Conflict, NotPermitted, OutreachError
from outreach.models import Household as ListedHousehold
from outreach.models import (
    HouseholdEvent,
    HouseholdStatus,
    ListSource,
    NextStep,
    Person,
    PersonRole,
    Visit,
    VisitList,
    VisitOutcome,
)
from outreach.visits import household_reopen, record_visit
from referrals.identity import protect
from services.models import NeedCategory
from tests import factories

pytestmark = pytest.mark.django_db

HKID = "A123456(3)"


# --- Helpers shared by the outreach page and referral tests (imported from here) ----------


def make_visit_list(created_by, *, office="SSP") -> VisitList:
    return VisitList.objects.create(
        name="Elderly living alone, test match",
        source=ListSource.HOUSING_DEPARTMENT,
        welfare_office=factories.office(office),
        target_date=date(2026, 12, 31),
        created_by=created_by,
    )


def make_household(visit_list, team, *, sub_district, row="1", people=1, **fields):
    """A household of ``team`` in ``sub_district`` with ``people`` people: the first an elder
    with a phone and an identity number, the next their carer."""
    household = ListedHousehold.objects.create(
        visit_list=visit_list,
        source_row_id=row,
        estate_name=fields.pop("estate_name", "Test Estate"),
        block=fields.pop("block", "Block 2"),
        floor=fields.pop("floor", "12"),
        flat=fields.pop("flat", f"{row}"),
        district=sub_district.district,
        sub_district=sub_district,
        team=team,
        reasons=fields.pop("reasons", ["living_alone"]),
        **fields,
    )
    identity = protect("hkid", HKID)
    for position in range(people):
        Person.objects.create(
            household=household,
            position=position,
            name_zh=["陳大文", "陳小明", "陳美玉"][position],
            name_en=["Chan Tai Man", "Chan Siu Ming", "Chan Mei Yuk"][position],
            age_band="80+" if position == 0 else "18-59",
            role=PersonRole.ELDER if position == 0 else PersonRole.CARER,
            phone="+85261234567" if position == 0 else "",
            id_type=identity.id_type if position == 0 else "",
            id_number_encrypted=identity.ciphertext if position == 0 else "",
            id_number_hash=identity.digest if position == 0 else "",
            id_number_masked=identity.masked if position == 0 else "",
        )
    return household


def two_needs():
    return list(NeedCategory.objects.order_by("ordering", "code")[:2])


def visit(actor, household, outcome=VisitOutcome.VISITED, **values):
    household.refresh_from_db()
    values.setdefault("token", uuid.uuid4())
    return record_visit(actor=actor, household=household, outcome=outcome, **values)


# --- Fixtures ----------------------------------------------------------------------------


@pytest.fixture
def visit_list(district_officer):
    return make_visit_list(district_officer)


@pytest.fixture
def household(visit_list, caring_team, ssp_area):
    return make_household(visit_list, caring_team, sub_district=ssp_area, people=2)


@pytest.fixture
def other_team(ssp_area):
    return factories.ServiceUnitFactory(
        code="care-team-f01-other",
        unit_type=factories.unit_type("CARE_TEAM"),
        catchment_sub_districts=[ssp_area],
    )


@pytest.fixture
def other_member(other_team):
    return factories.MembershipFactory(
        user=factories.UserFactory(username="other-team-member"),
        role=Membership.Role.REFERRER,
        service_unit=other_team,
    ).user


def kinds(household):
    return list(household.events.values_list("kind", flat=True))


# --- Outcomes ----------------------------------------------------------------------------


def test_a_visit_with_no_follow_up_closes_the_household(referrer, household):
    people = list(household.people.all())
    needs = two_needs()
    recorded, created = visit(
        referrer,
        household,
        seen=people[:1],
        needs=needs,
        emergency_link_application=True,
        note="  Well, has family nearby. ",
        version=household.version,
    )
    household.refresh_from_db()
    assert created
    assert household.status == HouseholdStatus.NO_FOLLOW_UP
    assert household.closed_at is not None
    assert household.version == 2
    assert recorded.team == household.team and recorded.visited_by == referrer
    assert list(recorded.seen.all()) == people[:1]
    assert set(recorded.needs.all()) == set(needs)
    assert recorded.emergency_link_application and recorded.note == "Well, has family nearby."
    assert kinds(household) == [HouseholdEvent.Kind.VISIT, HouseholdEvent.Kind.CLOSED]
    assert household.events.filter(visit=recorded).count() == 2


def test_a_revisit_needs_a_date_from_today_on(referrer, household):
    with pytest.raises(OutreachError, match="date of the revisit"):
        visit(referrer, household, next_step=NextStep.REVISIT)
    yesterday = timezone.localdate() - timedelta(days=1)
    with pytest.raises(OutreachError, match="cannot be in the past"):
        visit(referrer, household, next_step=NextStep.REVISIT, revisit_on=yesterday)
    assert not Visit.objects.exists()
    today = timezone.localdate()
    recorded, _ = visit(referrer, household, next_step=NextStep.REVISIT, revisit_on=today)
    household.refresh_from_db()
    assert household.status == HouseholdStatus.REVISIT
    assert household.revisit_on == today == recorded.revisit_on
    assert household.closed_at is None
    assert kinds(household) == [HouseholdEvent.Kind.VISIT]


def test_refer_marks_the_household_referred_and_open(referrer, household):
    visit(referrer, household, next_step=NextStep.REFER, needs=two_needs())
    household.refresh_from_db()
    assert household.status == HouseholdStatus.REFERRED
    assert household.closed_at is None


def test_three_times_nobody_at_home_closes_it_as_unreachable(referrer, household):
    for expected in (1, 2):
        visit(referrer, household, VisitOutcome.NOT_AT_HOME)
        household.refresh_from_db()
        assert (household.status, household.not_at_home_count) == (
            HouseholdStatus.TO_VISIT,
            expected,
        )
        assert household.closed_at is None
    visit(referrer, household, VisitOutcome.NOT_AT_HOME)
    household.refresh_from_db()
    assert household.status == HouseholdStatus.UNREACHABLE
    assert household.not_at_home_count == 3
    assert household.closed_at is not None
    assert kinds(household).count(HouseholdEvent.Kind.CLOSED) == 1
    with pytest.raises(OutreachError, match="closed"):
        visit(referrer, household, VisitOutcome.NOT_AT_HOME)


def test_the_not_at_home_limit_is_a_setting(referrer, household, settings):
    settings.OUTREACH_NOT_AT_HOME_LIMIT = 2
    visit(referrer, household, VisitOutcome.NOT_AT_HOME)
    visit(referrer, household, VisitOutcome.NOT_AT_HOME)
    household.refresh_from_db()
    assert household.status == HouseholdStatus.UNREACHABLE


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (VisitOutcome.REFUSED, HouseholdStatus.REFUSED),
        (VisitOutcome.MOVED, HouseholdStatus.MOVED),
        (VisitOutcome.DECEASED, HouseholdStatus.DECEASED),
        (VisitOutcome.WRONG_ADDRESS, HouseholdStatus.WRONG_ADDRESS),
    ],
)
def test_closing_outcomes(referrer, household, outcome, status):
    visit(referrer, household, outcome)
    household.refresh_from_db()
    assert household.status == status
    assert household.closed_at is not None
    assert kinds(household) == [HouseholdEvent.Kind.VISIT, HouseholdEvent.Kind.CLOSED]


def test_a_next_step_only_follows_a_visit_where_someone_was_seen(referrer, household):
    with pytest.raises(OutreachError, match="next step"):
        visit(referrer, household, VisitOutcome.NOT_AT_HOME, next_step=NextStep.REFER)
    assert not Visit.objects.exists()


def test_who_was_seen_must_live_there(referrer, household, visit_list, caring_team, ssp_area):
    elsewhere = make_household(visit_list, caring_team, sub_district=ssp_area, row="2")
    with pytest.raises(OutreachError, match="people of this household"):
        visit(referrer, household, seen=list(elsewhere.people.all()))
    assert not Visit.objects.exists()


# --- Who may record ----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["other_member", "district_officer", "unit_worker", "admin_user"])
def test_only_a_member_of_the_households_team_records_a_visit(request, household, who):
    with pytest.raises(NotPermitted):
        visit(request.getfixturevalue(who), household)
    assert not Visit.objects.exists()


# --- The form token and the version ------------------------------------------------------


def test_the_same_token_again_records_one_visit_and_changes_nothing(referrer, household):
    token = uuid.uuid4()
    first, created = visit(referrer, household, token=token, version=1, needs=two_needs())
    # The resend carries the version the form was drawn with: already raised by itself.
    again, created_again = visit(
        referrer, household, VisitOutcome.REFUSED, token=token, version=1, note="changed"
    )
    household.refresh_from_db()
    assert created and not created_again
    assert again.pk == first.pk and again.outcome == VisitOutcome.VISITED and again.note == ""
    assert Visit.objects.count() == 1
    assert household.version == 2 and household.status == HouseholdStatus.NO_FOLLOW_UP
    assert kinds(household).count(HouseholdEvent.Kind.VISIT) == 1


def test_a_token_is_its_members_own(referrer, household, caring_team):
    colleague = factories.MembershipFactory(
        user=factories.UserFactory(username="colleague"),
        role=Membership.Role.REFERRER,
        service_unit=caring_team,
    ).user
    token = uuid.uuid4()
    visit(referrer, household, VisitOutcome.NOT_AT_HOME, token=token)
    with pytest.raises(NotPermitted):
        visit(colleague, household, VisitOutcome.NOT_AT_HOME, token=token)
    assert Visit.objects.count() == 1


def test_a_stale_version_is_a_conflict(referrer, household):
    visit(referrer, household, VisitOutcome.NOT_AT_HOME, version=1)
    with pytest.raises(Conflict, match="changed by someone else"):
        visit(referrer, household, VisitOutcome.NOT_AT_HOME, version=1)
    household.refresh_from_db()
    assert household.not_at_home_count == 1 and Visit.objects.count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_resends_at_once_record_one_visit(referrer, household):
    token = uuid.uuid4()
    results, errors = [], []
    barrier = threading.Barrier(2)

    def resend():
        try:
            barrier.wait()
            results.append(visit(referrer, household, VisitOutcome.NOT_AT_HOME, token=token))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=resend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(created for _visit, created in results) == [False, True]
    assert Visit.objects.filter(token=token).count() == 1
    household.refresh_from_db()
    assert household.not_at_home_count == 1


# --- The office reopens ------------------------------------------------------------------


def close_as_unreachable(referrer, household):
    for _ in range(3):
        visit(referrer, household, VisitOutcome.NOT_AT_HOME)
    household.refresh_from_db()
    assert household.status == HouseholdStatus.UNREACHABLE


def test_the_office_reopens_an_unreachable_household(referrer, district_officer, household):
    close_as_unreachable(referrer, household)
    reopened = household_reopen(
        actor=district_officer,
        household=household,
        note="Neighbour says they are back from hospital",
        version=household.version,
    )
    household.refresh_from_db()
    assert reopened.status == household.status == HouseholdStatus.TO_VISIT
    assert household.not_at_home_count == 0 and household.closed_at is None
    event = household.events.get(kind=HouseholdEvent.Kind.REOPENED)
    assert event.note == "Neighbour says they are back from hospital"
    assert event.actor == district_officer
    # Back on the list: three more tries before it closes again.
    visit(referrer, household, VisitOutcome.NOT_AT_HOME)
    household.refresh_from_db()
    assert household.status == HouseholdStatus.TO_VISIT


def test_reopening_needs_a_reason_the_right_office_and_a_closed_household(
    referrer, district_officer, other_district_officer, household
):
    with pytest.raises(OutreachError, match="not closed"):
        household_reopen(actor=district_officer, household=household, note="x", version=1)
    close_as_unreachable(referrer, household)
    with pytest.raises(OutreachError, match="Say why"):
        household_reopen(
            actor=district_officer, household=household, note="  ", version=household.version
        )
    for outsider in (referrer, other_district_officer):
        with pytest.raises(NotPermitted):
            household_reopen(
                actor=outsider, household=household, note="x", version=household.version
            )
    with pytest.raises(Conflict):
        household_reopen(
            actor=district_officer, household=household, note="x", version=household.version - 1
        )
    household.refresh_from_db()
    assert household.status == HouseholdStatus.UNREACHABLE
