"""seed_outreach_demo: one visit list per demo caring team, invented households assigned to
the team of their sub-district, everything marked demo, idempotent, built by seed_demo."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from outreach.demo import (
    DEMO_DISTRICTS,
    HOUSEHOLDS_PER_LIST,
    TARGET_DAYS,
    build_outreach_demo,
)
from outreach.models import (
    Estate,
    Household,
    HouseholdEvent,
    HouseholdStatus,
    Person,
    PersonRole,
    Priority,
    VisitList,
)
from outreach.selectors import caring_teams_of, households_visible_to, team_households
from referrals.identity import IdType, decrypt, keyed_hash, mask, normalise
from services.models import ServiceUnit

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def seeded(settings, capsys):
    """The demo seeded, then outreach's part run again on its own (seed_outreach_demo), in
    debug mode. Returns what the outreach command printed."""
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    capsys.readouterr()
    call_command("seed_outreach_demo")
    return capsys.readouterr().out


def row_counts():
    return tuple(
        model.objects.count() for model in (VisitList, Estate, Household, Person, HouseholdEvent)
    )


def test_one_list_per_demo_caring_team_of_the_demo_offices(seeded):
    """Every caring team of F and J has one list holding the households of its
    sub-district, in that district's office's list; no other district has any."""
    teams = ServiceUnit.objects.filter(
        unit_type__code="CARE_TEAM", district__code__in=DEMO_DISTRICTS
    ).prefetch_related("catchment_sub_districts")
    assert teams.count() == 25 + 40
    lists_of_team = dict(
        Household.objects.values("team_id")
        .annotate(lists=Count("visit_list", distinct=True))
        .values_list("team_id", "lists")
    )
    assert {team.pk: lists_of_team.get(team.pk) for team in teams} == dict.fromkeys(
        (team.pk for team in teams), 1
    )
    assert VisitList.objects.count() == teams.count()
    covered = {team.pk: {area.pk for area in team.catchment_sub_districts.all()} for team in teams}
    for household in Household.objects.select_related("visit_list", "district"):
        assert household.sub_district_id in covered[household.team_id], household.source_row_id
        assert household.visit_list.welfare_office_id == household.district.welfare_office_id
    sizes = VisitList.objects.annotate(n=Count("households")).values_list("n", flat=True)
    assert set(sizes) == {HOUSEHOLDS_PER_LIST}


def list_of(team_code: str) -> VisitList:
    return VisitList.objects.filter(households__team__code=team_code).distinct().get()


def test_the_demo_offices_lists_are_made_by_their_officers_and_due_in_a_quarter(seeded):
    today = timezone.localdate()
    for district, officer in (("F", "officer.ssp"), ("J", "officer.kt")):
        lists = VisitList.objects.filter(households__district__code=district).distinct()
        teams = ServiceUnit.objects.filter(unit_type__code="CARE_TEAM", district__code=district)
        assert lists.count() == teams.count() > 0
        assert set(lists.values_list("created_by__username", flat=True)) == {officer}
        assert set(lists.values_list("welfare_office__districts__code", flat=True)) == {district}
        # ... and they see their own district's households, not the other office's.
        seen = households_visible_to(User.objects.get(username=officer))
        assert set(seen.values_list("district__code", flat=True)) == {district}
    f01 = list_of("care-team-f01")
    assert f01.target_date == today + timedelta(days=TARGET_DAYS)
    assert "Housing Department" in f01.name and f"{today.year} Q" in f01.name
    # Another district on request: its office has no demo officer, headquarters makes them.
    report = build_outreach_demo(districts=["A"])
    assert (
        report.lists_added
        == ServiceUnit.objects.filter(unit_type__code="CARE_TEAM", district__code="A").count()
    )
    assert list_of("care-team-a01").created_by.username == "admin"


def test_running_twice_adds_nothing_and_keeps_what_users_did(seeded):
    before = row_counts()
    snapshot = list(
        Person.objects.order_by("pk").values_list(
            "household__source_row_id", "name_zh", "phone", "id_number_hash"
        )
    )
    visited = team_households(ServiceUnit.objects.get(code="care-team-f01").pk).first()
    Household.objects.filter(pk=visited.pk).update(status=HouseholdStatus.NO_FOLLOW_UP)
    call_command("seed_outreach_demo", verbosity=0)
    # Next quarter too: lists are keyed by their team, not by their dated name.
    build_outreach_demo(today=timezone.localdate() + timedelta(days=100))
    assert row_counts() == before
    assert (
        list(
            Person.objects.order_by("pk").values_list(
                "household__source_row_id", "name_zh", "phone", "id_number_hash"
            )
        )
        == snapshot
    )
    visited.refresh_from_db()
    assert visited.status == HouseholdStatus.NO_FOLLOW_UP


def test_everything_is_invented_and_marked_demo(seeded):
    assert not VisitList.objects.filter(is_demo_data=False).exists()
    assert not Estate.objects.filter(is_demo_data=False).exists()
    assert not Estate.objects.exclude(name_en__endswith="(demo)").exists()
    assert not Estate.objects.exclude(name_zh__endswith="（示範）").exists()
    assert not Household.objects.exclude(estate_name__contains="（示範）").exists()
    assert not Household.objects.filter(estate__isnull=True).exists()  # matched to the estate
    assert not VisitList.objects.exclude(name__contains="(demo)").exists()
    assert not Person.objects.exclude(name_zh__contains="示範").exists()
    assert not Person.objects.exclude(name_en__contains=" Demo ").exists()
    phones = [str(p.phone) for p in Person.objects.exclude(phone="")]
    assert phones and all(re.fullmatch(r"\+852[56]\d{7}", phone) for phone in phones)


def test_identity_numbers_are_protected_exactly_like_a_referrals(seeded):
    """Two people per list have one: valid check digit, encrypted, keyed hash, masked."""
    f01 = list_of("care-team-f01")
    people = Person.objects.filter(household__visit_list=f01).exclude(id_type="")
    assert people.count() == 2
    hashes = set()
    for person in people:
        assert person.id_type == IdType.HKID
        number = decrypt(person.id_number_encrypted)
        assert normalise(IdType.HKID, number) == number  # stored canonical, check digit right
        assert person.id_number_hash == keyed_hash(IdType.HKID, number)
        assert person.id_number_masked == mask(IdType.HKID, number)
        assert number not in person.id_number_encrypted
        hashes.add(person.id_number_hash)
    assert len(hashes) == 2
    assert Person.objects.exclude(id_type="").count() == 2 * VisitList.objects.count()


def test_referrer_ssp_sees_their_teams_households_the_carer_pair_first(seeded):
    referrer = User.objects.get(username="referrer.ssp")
    [team] = caring_teams_of(referrer)
    assert team.code == "care-team-f01"
    walk = list(team_households(team.pk).prefetch_related("people"))
    assert len(walk) == HOUSEHOLDS_PER_LIST
    assert {h.sub_district.code for h in walk} == {"F01"}
    assert len({h.block for h in walk}) == 3 and len({h.floor for h in walk}) > 3
    priorities = [h.effective_priority for h in walk]
    assert priorities == sorted(priorities, reverse=True)
    assert len(set(priorities)) >= 3  # a mix of reasons
    top = walk[0]
    assert top.effective_priority == Priority.PRIORITY_VISIT
    assert top.high_load_indicators >= 3
    roles = [person.role for person in top.people.all()]
    assert roles == [PersonRole.CARER, PersonRole.CARED_FOR]
    assert all(person.phone for person in top.people.all())
    # Only the team's own households, and each was loaded on the timeline.
    visible = households_visible_to(referrer)
    assert set(visible.values_list("pk", flat=True)) == {h.pk for h in walk}
    assert HouseholdEvent.objects.filter(
        household__in=walk, kind=HouseholdEvent.Kind.LOADED
    ).count() == len(walk)


def test_prints_what_it_made_and_where_to_walk_it(seeded):
    assert "65 demo visit lists" in seeded
    assert "referrer.ssp" in seeded
    assert reverse("outreach:team_list") in seeded
    assert reverse("outreach:lists") in seeded and reverse("outreach:figures") in seeded


def test_refuses_with_debug_off_unless_told(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--allow-production"):
        call_command("seed_outreach_demo", verbosity=0)
    assert not VisitList.objects.exists()


def test_says_to_seed_the_demo_first(settings):
    settings.DEBUG = True
    with pytest.raises(CommandError, match="run seed_demo first"):
        call_command("seed_outreach_demo", verbosity=0)
    assert not VisitList.objects.exists()


def test_seed_demo_builds_outreach_too(settings, capsys):
    """The README's demo command runs seed_demo only: outreach's part comes with it (the part
    is registered with referrals' demo, which may not import outreach)."""
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    out = capsys.readouterr().out
    assert "Outreach:" in out
    team = ServiceUnit.objects.get(code="care-team-f01")
    assert Household.objects.filter(team=team, visit_list__is_demo_data=True).count() == 12
