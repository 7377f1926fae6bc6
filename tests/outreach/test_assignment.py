"""Assignment: the team of a household's sub-district, a household or a block moved to
another team by the office (recorded per household), the office's priority with its
version check; anyone else is refused as "not found"."""

import pytest

from outreach.assignment import move_block, move_households, set_priority, team_for
from outreach.errors import Conflict, NotPermitted, OutreachError
from outreach.loading import load_households
from outreach.models import Household, HouseholdEvent, Priority
from tests import factories
from tests.outreach import make_list, row

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(district_officer, caring_team):
    visit_list = make_list(district_officer)
    rows = [row(1, block="A"), row(2, block="A"), row(3, block="B"), row(4, block="a")]
    load_households(visit_list, rows)
    return visit_list


@pytest.fixture
def second_team(ssp_area):
    return factories.ServiceUnitFactory(
        code="care-team-f01-b",
        unit_type=factories.unit_type("CARE_TEAM"),
        catchment_sub_districts=[ssp_area],
    )


def test_team_for_is_the_active_caring_team_with_the_lowest_code(ssp_area, caring_team):
    assert team_for(ssp_area) == caring_team
    earlier = factories.ServiceUnitFactory(
        code="care-team-a", unit_type=factories.unit_type("CARE_TEAM"),
        catchment_sub_districts=[ssp_area],
    )  # fmt: skip
    assert team_for(ssp_area.pk) == earlier
    earlier.is_active = False
    earlier.save()
    assert team_for(ssp_area) == caring_team
    factories.ServiceUnitFactory(code="aaa-ifsc", catchment_sub_districts=[ssp_area])
    assert team_for(ssp_area) == caring_team  # an IFSC is no caring team


def test_moving_a_block_moves_its_households_and_records_each(
    loaded, district_officer, second_team
):
    moved = move_block(
        actor=district_officer, visit_list=loaded, estate_name="test estate", block="A",
        team=second_team,
    )  # fmt: skip
    assert moved == 3  # blocks "A" and "a"
    moved_rows = Household.objects.filter(team=second_team).values_list("source_row_id", flat=True)
    assert set(moved_rows) == {"1", "2", "4"}
    events = HouseholdEvent.objects.filter(kind=HouseholdEvent.Kind.MOVED)
    assert events.count() == 3 and all(second_team.name in e.note for e in events)
    assert Household.objects.get(source_row_id="1").version == 2
    again = move_block(
        actor=district_officer, visit_list=loaded, estate_name="Test Estate", block="A",
        team=second_team,
    )  # fmt: skip
    assert again == 0


def test_a_block_that_is_not_on_the_list_is_refused(loaded, district_officer, second_team):
    with pytest.raises(OutreachError):
        move_block(
            actor=district_officer, visit_list=loaded, estate_name="Elsewhere", block="A",
            team=second_team,
        )  # fmt: skip


def test_a_team_outside_the_lists_districts_is_refused(loaded, district_officer):
    kwun_tong = factories.SubDistrictFactory(code="J01", district=factories.district("J"))
    far = factories.ServiceUnitFactory(
        code="care-team-j01", unit_type=factories.unit_type("CARE_TEAM"),
        catchment_sub_districts=[kwun_tong],
    )  # fmt: skip
    with pytest.raises(OutreachError) as refused:
        move_households(actor=district_officer, households=loaded.households.all(), team=far)
    assert not isinstance(refused.value, NotPermitted)
    assert not Household.objects.filter(team=far).exists()


def test_outsiders_cannot_move(loaded, other_district_officer, referrer, second_team):
    for outsider in (other_district_officer, referrer):
        with pytest.raises(NotPermitted):
            move_households(actor=outsider, households=loaded.households.all(), team=second_team)
        with pytest.raises(NotPermitted):
            move_block(
                actor=outsider, visit_list=loaded, estate_name="Test Estate", block="A",
                team=second_team,
            )  # fmt: skip
    assert not Household.objects.filter(team=second_team).exists()


def test_the_office_sets_a_priority_with_the_version_it_read(loaded, district_officer):
    household = Household.objects.get(source_row_id="1")
    assert household.effective_priority == Priority.HIGH
    changed = set_priority(
        actor=district_officer, household=household, priority=Priority.ROUTINE, version=1
    )
    assert (changed.effective_priority, changed.version) == (Priority.ROUTINE, 2)
    with pytest.raises(Conflict):
        set_priority(actor=district_officer, household=household, priority=None, version=1)
    back = set_priority(actor=district_officer, household=household, priority=None, version=2)
    assert back.effective_priority == Priority.HIGH and back.priority_override is None
    assert HouseholdEvent.objects.filter(household=household, kind="priority").count() == 2


def test_a_caring_team_member_cannot_set_a_priority(loaded, referrer):
    household = Household.objects.get(source_row_id="1")
    with pytest.raises(NotPermitted):
        set_priority(actor=referrer, household=household, priority=3, version=1)
    household.refresh_from_db()
    assert household.priority_override is None
