"""Outreach's privacy duties: the retention of refusals and closed households, the daily
task, and a person's households and visits in the data access package."""

import json
import uuid
from datetime import date, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from outreach import privacy, tasks
from outreach.figures import figures_for
from outreach.models import (
    Household,
    HouseholdEvent,
    HouseholdStatus,
    OutreachAccessLog,
    Person,
    Visit,
    VisitList,
    VisitOutcome,
    VisitReferral,
)
from referrals import identity
from referrals.models import Status
from services.models import NeedCategory
from tests import factories

pytestmark = pytest.mark.django_db

HKID = "G123456A"
ACCESS = reverse("privacy:access_request")


@pytest.fixture
def visit_list(district_officer):
    return VisitList.objects.create(
        name="Elderly living alone, HD match",
        source="housing",
        welfare_office=factories.office("SSP"),
        target_date=date(2026, 12, 31),
        created_by=district_officer,
    )


@pytest.fixture
def make(visit_list, caring_team, ssp_area, referrer):
    """A household closed ``days`` ago in ``status``, with a person, a visit with a note,
    and a timeline note."""
    rows = iter(range(1, 1000))

    def household(status=HouseholdStatus.REFUSED, *, days=91, number=None, **closed):
        now = timezone.now()
        made = Household.objects.create(
            visit_list=visit_list,
            source_row_id=f"row-{next(rows)}",
            estate_name="Shek Kip Mei Estate",
            block="Block 3",
            floor="12",
            flat="08",
            district=ssp_area.district,
            sub_district=ssp_area,
            team=caring_team,
            status=status,
            status_note="Daughter said no.",
            closed_at=closed.get("closed_at", now - timedelta(days=days)),
        )
        protected = identity.protect("hkid", number) if number else None
        Person.objects.create(
            household=made,
            name_zh="陳大文",
            name_en="Chan Tai Man",
            age_band="80+",
            phone="+85291234567",
            id_type="hkid" if protected else "",
            id_number_encrypted=protected.ciphertext if protected else "",
            id_number_hash=protected.digest if protected else "",
            id_number_masked=protected.masked if protected else "",
        )
        visit = Visit.objects.create(
            token=uuid.uuid4(),
            household=made,
            team=caring_team,
            visited_by=referrer,
            outcome=VisitOutcome.REFUSED if status == HouseholdStatus.REFUSED else "visited",
            note="Mr Chan lives with his daughter.",
        )
        HouseholdEvent.objects.create(household=made, kind="closed", note="Refused at the door.")
        made.visit = visit
        return made

    return household


def removed(household) -> bool:
    household.refresh_from_db()
    return household.personal_data_removed_at is not None


def test_a_refusal_91_days_old_loses_its_details(make):
    household = make(days=91)
    assert privacy.remove_refused_details() == 1
    household.refresh_from_db()
    assert household.personal_data_removed_at is not None
    assert not household.people.exists()
    assert (household.block, household.floor, household.flat) == ("", "", "")
    assert household.status_note == ""
    # Kept for the figures: the household, its estate and sub-district, status and visits.
    assert household.status == HouseholdStatus.REFUSED
    assert household.estate_name == "Shek Kip Mei Estate"
    assert household.sub_district_id is not None
    visit = household.visits.get()
    assert (visit.outcome, visit.note) == (VisitOutcome.REFUSED, "")
    kinds_notes = list(household.events.values_list("kind", "note"))
    assert kinds_notes == [("closed", ""), (HouseholdEvent.Kind.REMOVED, "")]
    assert household.version == 2


def test_a_refusal_89_days_old_keeps_them(make):
    household = make(days=89)
    assert privacy.remove_refused_details() == 0
    assert not removed(household)
    assert household.people.get().name_zh == "陳大文"
    assert household.block == "Block 3"


def test_the_period_is_configurable(make, settings):
    settings.OUTREACH_REFUSED_RETENTION_DAYS = 30
    young, old = make(days=29), make(days=31)
    assert privacy.remove_refused_details() == 1
    assert removed(old) and not removed(young)


def test_running_again_changes_nothing(make):
    household = make(days=120)
    assert privacy.remove_refused_details() == 1
    household.refresh_from_db()
    stamp, version = household.personal_data_removed_at, household.version
    assert privacy.remove_refused_details(timezone.now() + timedelta(days=1)) == 0
    household.refresh_from_db()
    assert (household.personal_data_removed_at, household.version) == (stamp, version)
    assert household.events.filter(kind=HouseholdEvent.Kind.REMOVED).count() == 1


def test_in_batches(make):
    households = [make(days=100) for _ in range(5)]
    assert privacy.remove_refused_details(batch_size=2) == 5
    assert all(removed(household) for household in households)


def test_other_closed_households_are_untouched_by_the_90_day_rule(make):
    no_follow_up = make(HouseholdStatus.NO_FOLLOW_UP, days=400)
    unreachable = make(HouseholdStatus.UNREACHABLE, days=400)
    assert privacy.remove_refused_details() == 0
    assert not removed(no_follow_up) and not removed(unreachable)


def test_closed_households_past_the_retention_years_lose_their_details(make):
    years = settings.RETENTION_YEARS
    old = make(
        HouseholdStatus.NO_FOLLOW_UP, closed_at=timezone.now() - relativedelta(years=years, days=1)
    )
    recent = make(
        HouseholdStatus.MOVED, closed_at=timezone.now() - relativedelta(years=years, days=-1)
    )
    still_open = make(HouseholdStatus.TO_VISIT, closed_at=None)
    Household.objects.filter(pk=still_open.pk).update(
        updated_at=timezone.now() - relativedelta(years=years + 1)
    )
    assert privacy.remove_refused_details() == 1
    assert removed(old) and not removed(recent) and not removed(still_open)
    assert not old.people.exists()


def test_a_referred_household_is_kept_while_its_referral_is_open(make, referrer, settings):
    household = make(HouseholdStatus.REFERRED, closed_at=None)
    referral = factories.ReferralFactory(status=Status.ASSIGNED)
    VisitReferral.objects.create(
        visit=household.visit, person=household.people.get(), referral=referral
    )
    long_ago = timezone.now() - relativedelta(years=settings.RETENTION_YEARS + 1)
    Household.objects.filter(pk=household.pk).update(updated_at=long_ago)
    assert privacy.remove_refused_details() == 0
    referral.status = Status.COMPLETED
    referral.save()
    assert privacy.remove_refused_details() == 1


def test_a_person_a_referral_was_made_for_keeps_a_blank_row(make, district_officer):
    """The referral links to the person and the figures count it: the row stays, blank."""
    household = make(HouseholdStatus.REFUSED, days=100, number=HKID)
    person = household.people.get()
    referral = factories.ReferralFactory(status=Status.COMPLETED)
    VisitReferral.objects.create(visit=household.visit, person=person, referral=referral)
    before = figures_for(district_officer).total.referrals
    assert privacy.remove_refused_details() == 1
    person.refresh_from_db()
    assert (person.name_zh, person.name_en, str(person.phone), person.age_band) == ("", "", "", "")
    assert (person.id_number_encrypted, person.id_number_hash, person.id_number_masked) == (
        "",
        "",
        "",
    )
    assert figures_for(district_officer).total.referrals == before == 1


def test_the_task_runs_the_retention(make):
    household = make(days=95)
    assert tasks.remove_refused_details.apply().get() == 1
    assert removed(household)


def test_the_beat_entry_names_a_registered_task():
    from welfare_portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["outreach-retention"]
    assert entry["task"] == tasks.remove_refused_details.name
    assert entry["task"] in app.tasks


# --- Data access requests ------------------------------------------------------------------


@pytest.fixture
def listed_person(make, caring_team, referrer):
    """Chan Tai Man, listed with an identity number, visited twice; and someone else."""
    household = make(HouseholdStatus.REFERRED, closed_at=None, number=HKID)
    visit = Visit.objects.create(
        token=uuid.uuid4(),
        household=household,
        team=caring_team,
        visited_by=referrer,
        outcome=VisitOutcome.VISITED,
        note="Needs meals.",
    )
    visit.needs.set(NeedCategory.objects.order_by("code")[:2])
    other = make(HouseholdStatus.REFERRED, closed_at=None, number="A1234563")
    Person.objects.filter(household=other).update(name_zh="李四", phone="+85290000000")
    Visit.objects.filter(household=other).update(note="Mr Lee's private note.")
    return {"household": household, "other": other}


def export(client, admin_user, data) -> dict:
    client.force_login(admin_user)
    response = client.post(ACCESS, data)
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_access_request_includes_the_persons_households_and_visits(
    client, admin_user, listed_person
):
    package = export(client, admin_user, {"id_type": "hkid", "id_number": HKID})
    outreach = package["outreach"]
    assert outreach["household_count"] == 1
    household = outreach["households"][0]
    assert household["public_id"] == str(listed_person["household"].public_id)
    assert household["address"] == "Shek Kip Mei Estate, Block 3, 12/F, 08"
    assert household["visit_list"] == "Elderly living alone, HD match"
    assert household["status"] == HouseholdStatus.REFERRED
    assert [person["name_zh"] for person in household["people"]] == ["陳大文"]
    assert household["people"][0]["identity_number"] == identity.mask("hkid", HKID)
    assert [visit["outcome"] for visit in household["visits"]] == ["visited", "visited"]
    assert household["visits"][1]["note"] == "Needs meals."
    needs = list(NeedCategory.objects.order_by("code").values_list("code", flat=True)[:2])
    assert household["visits"][1]["needs"] == needs
    text = json.dumps(package, ensure_ascii=False)
    assert "李四" not in text and "Mr Lee's private note." not in text
    assert str(listed_person["other"].public_id) not in text
    log = OutreachAccessLog.objects.get()
    assert (log.household, log.user, log.channel) == (
        listed_person["household"],
        admin_user,
        OutreachAccessLog.Channel.EXPORT,
    )


def test_the_access_request_finds_a_person_by_name_and_phone(client, admin_user, listed_person):
    package = export(client, admin_user, {"name": "chan tai man", "phone": "9123 4567"})
    # The other household's person was renamed and has another line: not them.
    assert [h["public_id"] for h in package["outreach"]["households"]] == [
        str(listed_person["household"].public_id)
    ]


def test_nobody_listed_an_empty_section(client, admin_user, listed_person):
    package = export(client, admin_user, {"name": "Nobody Listed", "phone": "9876 5432"})
    assert package["outreach"] == {"household_count": 0, "households": []}
    assert not OutreachAccessLog.objects.exists()
