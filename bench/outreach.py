"""Outreach at the issue's size: load a visit list of 50,000 households (target ≤ 60 s on
the 2-core machine), then open a caring team's list page at that size (target p95 ≤ 50 ms).

Usage (any migrated database; the run adds its own office data to it and leaves it there)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wp_load_bench \\
        .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wp_load_bench \\
        .venv/bin/python bench/outreach.py --households 50000 --requests 200

Setup (not timed): district F (Sham Shui Po) gets ``--sub-districts`` sub-districts if it
has none (``BENCH-F01`` …), a caring team per sub-district (``bench-care-…``), 20 estates
each, an officer of its office and a member of the first team. Timed: ``load_households``
on a new list (``--reuse``: the last bench list, which times the idempotent path, every row
already there) with rows spread over the sub-districts, half of them naming the sub-district
and half left to the estate; every household with one or two people, a phone each, and an
identity number for one in five. Then, in this process through the Django test client as
the team member: the team's list page (``outreach:team_list_of``) ``--requests`` times, and
the query behind it (``selectors.team_households(team)[:50]``) as many times.
"""

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness  # noqa: E402

DISTRICT = "F"
OFFICER = "bench.outreach.officer"
MEMBER = "bench.outreach.member"
LIST_NAME = "Bench: elderly living alone, 50,000 households"
ESTATES_PER_AREA = 20
HKID_LETTERS = "ACDEGHKMPRVWYZ"


def setup(areas_wanted: int):
    """The district's sub-districts, a caring team and estates for each, an officer and a
    team member; (office, areas, member's team, officer)."""
    from accounts.models import Membership, User
    from districts.models import District, SubDistrict
    from outreach.models import Estate
    from services.models import Organisation, ServiceUnit, UnitType

    district = District.objects.get(code=DISTRICT)
    areas = list(SubDistrict.objects.filter(district=district).order_by("code"))
    if not areas:
        areas = [
            SubDistrict.objects.create(
                code=f"BENCH-{DISTRICT}{n:02d}",
                district=district,
                name_en=f"Bench area {n:02d}",
                name_zh=f"測試小區{n:02d}",
            )
            for n in range(1, areas_wanted + 1)
        ]
    organisation, _ = Organisation.objects.get_or_create(
        code="bench-ngo", defaults={"name_en": "Bench NGO", "name_zh": "測試機構"}
    )
    care_team = UnitType.objects.get(code="CARE_TEAM")
    teams = []
    for area in areas:
        team, created = ServiceUnit.objects.get_or_create(
            code=f"bench-care-{area.code.lower()}",
            defaults={
                "unit_type": care_team, "organisation": organisation, "district": district,
                "name_en": f"Bench caring team {area.code}", "name_zh": f"測試關懷隊{area.code}",
            },
        )  # fmt: skip
        if created:
            team.catchment_sub_districts.add(area)
        teams.append(team)
        for n in range(1, ESTATES_PER_AREA + 1):
            Estate.objects.get_or_create(
                name_en=f"Bench Estate {area.code}-{n:02d}",
                defaults={"name_zh": f"測試邨{area.code}-{n:02d}", "sub_district": area},
            )
    officer, _ = User.objects.get_or_create(username=OFFICER, defaults={"email": ""})
    Membership.objects.get_or_create(
        user=officer, role="district_officer", welfare_office=district.welfare_office
    )
    member, _ = User.objects.get_or_create(username=MEMBER, defaults={"email": ""})
    Membership.objects.get_or_create(user=member, role="referrer", service_unit=teams[0])
    from outreach.assignment import team_for

    return district.welfare_office, areas, team_for(areas[0]), officer


def hkid(rng: random.Random) -> str:
    from referrals.identity import _hkid_check_character

    letter, digits = rng.choice(HKID_LETTERS), f"{rng.randrange(10**6):06d}"
    return f"{letter}{digits}({_hkid_check_character(letter, digits)})"


def phone(rng: random.Random, first: str) -> str:
    """A mobile number the phone library takes as valid (not every 8-digit one is)."""
    import phonenumbers

    while True:
        number = f"{first}{rng.randrange(10**7):07d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number, "HK")):
            return number


def make_rows(count: int, areas, estates_by_area) -> list[dict]:
    rng = random.Random(18)  # noqa: S311 - invented data
    reasons = ["living_alone", "elderly_couple", "carer", "disability", "low_income"]
    rows = []
    for number in range(count):
        area = areas[number % len(areas)]
        estate = rng.choice(estates_by_area[area.pk])
        row = {
            "line": number + 2,
            "source_row_id": f"bench-{number:06d}",
            "estate": estate,
            "block": f"Block {rng.randrange(1, 9)}",
            "floor": str(rng.randrange(1, 40)),
            "flat": f"{rng.randrange(1, 24):02d}",
            "sub_district": area.code if number % 2 else "",
            "reasons": ";".join(rng.sample(reasons, rng.randrange(1, 3))),
            "high_load_indicators": str(rng.choice([0, 0, 0, 1, 2, 3, 4])),
            "person1_name_zh": "陳測試",
            "person1_name_en": f"Chan Bench {number}",
            "person1_age_band": "80+",
            "person1_role": "elder",
            "person1_phone": phone(rng, "6"),
        }
        if number % 5 == 0:
            row.update({"person1_id_type": "hkid", "person1_id_number": hkid(rng)})
        if number % 2:
            carer = {"name_zh": "陳照顧", "role": "carer", "age_band": "60-69"}
            carer["phone"] = phone(rng, "5")
            row.update({f"person2_{name}": value for name, value in carer.items()})
        rows.append(row)
    return rows


def timed(label: str, repeat: int, call) -> tuple[str, list[float]]:
    latencies = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
    return label, latencies


def main() -> None:  # long: a benchmark script, step after step
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--sub-districts", type=int, default=10)
    parser.add_argument("--reuse", action="store_true", help="load into the last bench list")
    args = parser.parse_args()

    harness.configure()
    from datetime import date

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from outreach import selectors
    from outreach.loading import LoadRefused, load_households
    from outreach.models import Estate, Household, VisitList

    office, areas, team, officer = setup(args.sub_districts)
    estates_by_area = {area.pk: [] for area in areas}
    for estate in Estate.objects.filter(sub_district__in=areas):
        estates_by_area[estate.sub_district_id].append(estate.name_en)
    rows = make_rows(args.households, areas, estates_by_area)
    visit_list = VisitList.objects.filter(name=LIST_NAME).order_by("-pk").first()
    if visit_list is None or not args.reuse:
        visit_list = VisitList.objects.create(
            name=LIST_NAME, source="housing", welfare_office=office,
            target_date=date(2027, 3, 31), created_by=officer,
        )  # fmt: skip

    started = time.perf_counter()
    try:
        report = load_households(visit_list, rows, actor=officer)
    except LoadRefused as refused:
        print(refused.message, refused.report.errors[:5])
        raise SystemExit(1) from None
    load_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE outreach_household")
    held = Household.objects.filter(team=team).count()
    print(
        f"\n{connection.vendor}; {len(areas)} sub-districts of {DISTRICT}; "
        f"list of {visit_list.households.count():,} households; team {team.code} holds {held:,}"
    )
    print(f"\n{'load':<44}{'seconds':>10}{'rows/s':>10}")
    print(
        f"{f'{report.created:,} created, {report.unchanged:,} unchanged':<44}"
        f"{load_seconds:>10.1f}{len(rows) / load_seconds:>10.0f}"
    )

    from django.core.management import call_command

    call_command("collectstatic", "--noinput", verbosity=0)  # the pages' hashed manifest
    client = Client(HTTP_HOST="127.0.0.1")
    client.cookies[settings.SESSION_COOKIE_NAME] = harness.signed_in_session(MEMBER)
    page = reverse("outreach:team_list_of", kwargs={"team_id": team.pk})
    first = client.get(page)
    results = [
        timed(
            "selectors.team_households(team)[:50]",
            args.requests,
            lambda: list(selectors.team_households(team.pk)[:50]),
        )
    ]
    if first.status_code == 200:
        results.append(timed(f"GET {page}", args.requests, lambda: client.get(page)))
    else:
        print(f"\n{page} answered {first.status_code}: the page was not timed")
    print(f"\n{'team list (in process)':<44}{'median ms':>10}{'p95 ms':>10}{'n':>6}")
    for label, latencies in results:
        print(
            f"{label:<44}{harness.median(latencies):>10.1f}"
            f"{harness.percentile(latencies, 0.95):>10.1f}{len(latencies):>6}"
        )


if __name__ == "__main__":
    main()
