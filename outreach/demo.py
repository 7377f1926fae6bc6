"""Demo visit lists, so the outreach journey can be walked (``manage.py seed_outreach_demo``).

One list per demo caring team of the demo offices' districts (Sham Shui Po, F, and Kwun
Tong, J: the districts of ``officer.ssp``, ``officer.kt`` and ``referrer.ssp``), made by
that office's demo officer, with ``HOUSEHOLDS_PER_LIST`` invented households in an invented
estate of the team's sub-district. The households go in through the partner files' loader
(``loading.load_households``), so they pass the same checks, reach their team the same way
(``assignment.team_for``) and start their timeline the same way as a real list's.

Why not all 452 teams: through the loader that is 452 loads, about 20 s, against 2 s for
the 65 lists of F and J (780 households); the other districts have no demo login to walk
them with. ``build_outreach_demo(districts=...)`` takes any district codes (their lists are
made by ``admin``).

Everything is invented and flagged ``is_demo_data``: estates are "Demo … (demo)" /
"示範…（示範）", people "陳示範明" / "Chan Demo Ming", phones are in the 5xxx xxxx and
6xxx xxxx mobile ranges, and the two identity card numbers per list have a valid check digit
but are drawn at random (kept exactly as a referral keeps one: ``referrals.identity``).
Lists are keyed by their team (``source_detail``), households by ``source_row_id``, estates
by name, all drawn from RNGs seeded by the sub-district code: running it again adds
nothing and leaves what a demo user did to the households alone.

In every list the first household is a carer with four high-load indicators and the person
they care for (a priority visit, both with phones), so one visit can lead to two referrals;
``referrer.ssp`` finds it at the top of care team F01's list.
"""

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from time import perf_counter

import phonenumbers
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from districts.models import SubDistrict, WelfareOffice
from outreach.assignment import team_for
from outreach.loading import load_households
from outreach.models import (
    AgeBand,
    Estate,
    Household,
    ListingReason,
    ListSource,
    PersonRole,
    VisitList,
)
from referrals.identity import IdType, normalise
from services.demo import INSTITUTION_DISTRICTS, short_zh
from services.models import ServiceUnit

# The districts of the demo's two offices (Sham Shui Po, Kwun Tong): where its users work.
DEMO_DISTRICTS = INSTITUTION_DISTRICTS
TARGET_DAYS = 91  # a quarter ahead
# Who made each office's lists: its demo officer; offices without one, headquarters.
LIST_OWNERS = {"SSP": "officer.ssp", "KT": "officer.kt"}
FALLBACK_OWNER = "admin"
DEMO_KEY_PREFIX = "Demo data match for "  # + team code: the list's key

PURPOSE_EN = "Elderly living alone, Housing Department match (demo)"
PURPOSE_ZH = "獨居長者 · 房屋署資料配對（示範）"
SOURCE_NOTE = "invented records, not a real data match"

ESTATE_NAMES = [
    ("Harbour Court", "海港苑"), ("Lantern Gardens", "燈籠花園"), ("Evergreen House", "長青樓"),
    ("Kite Hill Estate", "風箏山邨"), ("Maple Terrace", "楓葉台"), ("Jade Garden", "翠玉園"),
    ("Lotus Court", "蓮花苑"), ("Morning Dew Estate", "晨露邨"), ("Bamboo Grove", "竹林閣"),
    ("Cloud View House", "雲景樓"), ("Pine Crest Court", "松峰苑"), ("Sunrise Estate", "旭日邨"),
]  # fmt: skip
SURNAMES = [
    ("陳", "Chan"), ("黃", "Wong"), ("李", "Lee"), ("張", "Cheung"), ("劉", "Lau"),
    ("何", "Ho"), ("吳", "Ng"), ("梁", "Leung"), ("林", "Lam"), ("譚", "Tam"),
    ("鄭", "Cheng"), ("麥", "Mak"), ("馮", "Fung"), ("蔡", "Choi"), ("羅", "Law"),
]  # fmt: skip
GIVEN_NAMES = [
    ("明", "Ming"), ("華", "Wah"), ("英", "Ying"), ("強", "Keung"), ("芳", "Fong"),
    ("偉", "Wai"), ("娟", "Kuen"), ("珍", "Chun"), ("德", "Tak"), ("蓮", "Lin"),
    ("好", "Ho"), ("福", "Fuk"),
]  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """One household of a list: why it was listed and who lives there, as (role, age band,
    has a phone, has an identity card number)."""

    reasons: tuple[str, ...]
    high_load_indicators: int
    people: tuple[tuple[str, str, bool, bool], ...]


_R = ListingReason
_ELDER, _CARER, _CARED_FOR, _OTHER = (
    PersonRole.ELDER,
    PersonRole.CARER,
    PersonRole.CARED_FOR,
    PersonRole.OTHER,
)
_60S, _70S, _80S, _ADULT = AgeBand.SIXTIES, AgeBand.SEVENTIES, AgeBand.EIGHTY_PLUS, AgeBand.ADULT
# A list, in the order of its source rows: a mix of reasons, so priorities differ.
PLANS = [
    Plan(
        (_R.CARER, _R.HIGH_LOAD_CARER),
        4,
        ((_CARER, _60S, True, True), (_CARED_FOR, _80S, True, False)),
    ),
    Plan((_R.LIVING_ALONE,), 0, ((_ELDER, _80S, True, True),)),
    Plan((_R.LIVING_ALONE,), 0, ((_ELDER, _70S, True, False),)),
    Plan((_R.ELDERLY_COUPLE,), 0, ((_ELDER, _80S, True, False), (_ELDER, _70S, False, False))),
    Plan((_R.DISABILITY,), 0, ((_CARED_FOR, _ADULT, False, False), (_CARER, _60S, True, False))),
    Plan((_R.LIVING_ALONE,), 0, ((_ELDER, _70S, True, False),)),
    Plan(
        (_R.CARER, _R.HIGH_LOAD_CARER),
        2,
        ((_CARER, _ADULT, True, False), (_CARED_FOR, _80S, False, False)),
    ),
    Plan((_R.ELDERLY_COUPLE,), 0, ((_ELDER, _70S, True, False), (_ELDER, _70S, True, False))),
    Plan((_R.LIVING_ALONE, _R.DISABILITY), 0, ((_ELDER, _80S, True, False),)),
    Plan((_R.LIVING_ALONE,), 0, ((_ELDER, _60S, True, False),)),
    Plan((_R.ELDERLY_COUPLE,), 0, ((_ELDER, _80S, False, False), (_ELDER, _80S, True, False))),
    Plan((_R.DISABILITY,), 0, ((_OTHER, _60S, True, False),)),
]
HOUSEHOLDS_PER_LIST = len(PLANS)


@dataclass
class DemoPerson:
    name_zh: str
    name_en: str
    age_band: str
    role: str
    phone: str  # "5xxx xxxx" / "6xxx xxxx", or ""
    id_number: str  # a HKID with a valid check digit, or ""


@dataclass
class DemoHousehold:
    source_row_id: str
    block: str
    floor: str
    flat: str
    reasons: list[str]
    high_load_indicators: int
    people: list[DemoPerson] = field(default_factory=list)


@dataclass
class DemoReport:
    lists: int  # demo lists there are now (in the districts built)
    households: int  # ... and their households
    lists_added: int
    households_added: int


def estate_names(area: SubDistrict) -> tuple[str, str]:
    """The demo estate of a sub-district: one of twelve names, with the area's code so every
    sub-district has its own (estate names are unique)."""
    number = int(area.code[1:])
    name_en, name_zh = ESTATE_NAMES[(number - 1) % len(ESTATE_NAMES)]
    return f"Demo {name_en} {area.code} (demo)", f"示範{name_zh}{area.code}（示範）"


def invented_phone(rng: random.Random) -> str:
    """A Hong Kong mobile number in the 5xxx xxxx / 6xxx xxxx ranges that the phone library
    (and so every form) accepts; drawn at random, nobody's number on purpose."""
    while True:
        number = rng.choice("56") + "".join(str(rng.randrange(10)) for _ in range(7))
        if phonenumbers.is_valid_number(phonenumbers.parse(number, "HK")):
            return f"{number[:4]} {number[4:]}"


def invented_hkid(rng: random.Random) -> str:
    """A Hong Kong identity card number in the printed form, e.g. ``Y123456(7)``, whose check
    digit is right (so the referral form takes it) and whose digits are drawn at random."""
    prefix = rng.choice("XYZ")
    digits = "".join(str(rng.randrange(10)) for _ in range(6))
    for check in "0123456789A":
        candidate = f"{prefix}{digits}({check})"
        try:
            normalise(IdType.HKID, candidate)
        except ValidationError:  # noqa: S112 - a wrong check digit: try the next one
            continue
        return candidate
    raise AssertionError("every HKID has a check character")  # pragma: no cover


def plan_households(area: SubDistrict) -> list[DemoHousehold]:
    """The households of ``area``'s list, the same every time (seeded by its code): three
    blocks of four, each on its own floor and flat."""
    rng = random.Random(f"outreach-demo-{area.code}")  # noqa: S311 - invented data
    households = []
    for index, plan in enumerate(PLANS):
        block, position = divmod(index, 4)
        floor = 3 + position * 8 + rng.randrange(8)  # 3/F to 34/F, rising through the block
        people = []
        for role, age_band, with_phone, with_id in plan.people:
            surname_zh, surname_en = rng.choice(SURNAMES)
            given_zh, given_en = rng.choice(GIVEN_NAMES)
            people.append(
                DemoPerson(
                    name_zh=f"{surname_zh}示範{given_zh}",
                    name_en=f"{surname_en} Demo {given_en}",
                    age_band=age_band,
                    role=role,
                    phone=invented_phone(rng) if with_phone else "",
                    id_number=invented_hkid(rng) if with_id else "",
                )
            )
        households.append(
            DemoHousehold(
                source_row_id=f"demo-{area.code}-{index + 1:02d}",
                block=str(block + 1),
                floor=str(floor),
                flat="ABCDEFGH"[rng.randrange(8)],
                reasons=[str(reason) for reason in plan.reasons],
                high_load_indicators=plan.high_load_indicators,
                people=people,
            )
        )
    return households


def list_name(area: SubDistrict, today: date) -> str:
    quarter = f"{today.year} Q{(today.month - 1) // 3 + 1}"
    place_en = area.name_en.replace(" demo sub-district ", " ")
    place_zh = f"{short_zh(area.district)}{area.code[1:]}"
    return f"{PURPOSE_EN}, {quarter}, {place_en} · {PURPOSE_ZH} {place_zh}"


def _owners(offices) -> dict[int, object]:
    """Per welfare office id, the user its lists are made by."""
    users = get_user_model().objects.in_bulk(
        [*LIST_OWNERS.values(), FALLBACK_OWNER], field_name="username"
    )
    if FALLBACK_OWNER not in users:
        raise LookupError("The demo users are missing: run seed_demo first.")
    return {
        office.pk: users.get(LIST_OWNERS.get(office.code, ""), users[FALLBACK_OWNER])
        for office in offices
    }


def _teams(areas: list[SubDistrict]) -> list[tuple[SubDistrict, ServiceUnit]]:
    """Each area with the caring team the loader gives its households (``team_for``)."""
    pairs = [(area, team_for(area)) for area in areas]
    return [(area, team) for area, team in pairs if team is not None]


def _estates(areas: list[SubDistrict]) -> dict[int, Estate]:
    """Per area id its demo estate, created or refreshed (keyed by the English name)."""
    rows = []
    for area in areas:
        name_en, name_zh = estate_names(area)
        rows.append(Estate(name_en=name_en, name_zh=name_zh, sub_district=area, is_demo_data=True))
    Estate.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["name_en"],
        update_fields=["name_zh", "sub_district", "is_demo_data"],
    )
    estates = Estate.objects.filter(name_en__in=[row.name_en for row in rows])
    return {estate.sub_district_id: estate for estate in estates}


def _lists(pairs, owners: dict, today: date) -> tuple[dict[int, VisitList], int]:
    """Per team id its demo list (keyed by ``source_detail``), and how many were added."""
    keys = {team.pk: f"{DEMO_KEY_PREFIX}{team.code}: {SOURCE_NOTE}" for _area, team in pairs}
    existing = {
        visit_list.source_detail: visit_list
        for visit_list in VisitList.objects.filter(
            is_demo_data=True, source_detail__in=keys.values()
        ).select_related("created_by")
    }
    missing = [
        VisitList(
            name=list_name(area, today),
            source=ListSource.HOUSING_DEPARTMENT,
            source_detail=keys[team.pk],
            welfare_office_id=area.district.welfare_office_id,
            target_date=today + timedelta(days=TARGET_DAYS),
            created_by=owners[area.district.welfare_office_id],
            is_demo_data=True,
        )
        for area, team in pairs
        if keys[team.pk] not in existing
    ]
    VisitList.objects.bulk_create(missing)
    if missing:
        existing = {
            visit_list.source_detail: visit_list
            for visit_list in VisitList.objects.filter(
                is_demo_data=True, source_detail__in=keys.values()
            ).select_related("created_by")
        }
    return {team_id: existing[key] for team_id, key in keys.items()}, len(missing)


def loader_rows(area: SubDistrict, estate: Estate) -> list[dict]:
    """``area``'s planned households as the rows of a partner's file (``loading.COLUMNS``)."""
    rows = []
    for demo in plan_households(area):
        row = {
            "source_row_id": demo.source_row_id,
            "estate": estate.name_zh,  # the team walks it in Chinese
            "block": demo.block,
            "floor": demo.floor,
            "flat": demo.flat,
            "sub_district": area.code,
            "reasons": ";".join(demo.reasons),
            "high_load_indicators": str(demo.high_load_indicators),
        }
        for k, person in enumerate(demo.people, start=1):
            row |= {
                f"person{k}_name_zh": person.name_zh,
                f"person{k}_name_en": person.name_en,
                f"person{k}_age_band": person.age_band,
                f"person{k}_role": person.role,
                f"person{k}_phone": person.phone,
                f"person{k}_id_type": IdType.HKID if person.id_number else "",
                f"person{k}_id_number": person.id_number,
            }
        rows.append(row)
    return rows


def _load(pairs, lists: dict, estates: dict) -> int:
    """Load each list's planned households through the partner files' loader (the same
    checks, team assignment and timeline as a real list); rows already there are left
    alone. Returns how many households were added."""
    added = 0
    for area, team in pairs:
        visit_list = lists[team.pk]
        report = load_households(
            visit_list, loader_rows(area, estates[area.pk]), actor=visit_list.created_by
        )
        added += report.created
    return added


@transaction.atomic
def build_outreach_demo(
    *, districts: Iterable[str] = DEMO_DISTRICTS, today: date | None = None
) -> DemoReport:
    """Create the demo visit lists of ``districts`` (codes; by default the demo offices'),
    or add what is missing from them; needs the demo directory and users (``seed_demo``)."""
    today = today or timezone.localdate()
    areas = list(
        SubDistrict.objects.filter(district__code__in=list(districts))
        .select_related("district")
        .order_by("code")
    )
    pairs = _teams(areas)
    if not pairs:
        raise LookupError("The demo caring teams are missing: run seed_demo first.")
    offices = {area.district.welfare_office_id for area, _team in pairs}
    owners = _owners(WelfareOffice.objects.filter(pk__in=offices))
    estates = _estates([area for area, _team in pairs])
    lists, lists_added = _lists(pairs, owners, today)
    households_added = _load(pairs, lists, estates)
    return DemoReport(
        lists=len(lists),
        households=Household.objects.filter(visit_list__in=lists.values()).count(),
        lists_added=lists_added,
        households_added=households_added,
    )


def demo_part(write: Callable[[str], None]) -> None:
    """Outreach's part of ``seed_demo`` (registered in ``OutreachConfig.ready``), and of
    ``seed_outreach_demo``: build the lists and say where to walk them."""
    started = perf_counter()
    report = build_outreach_demo()
    write(
        f"Outreach: {report.lists} demo visit lists, one per caring team of Sham Shui Po "
        f"and Kwun Tong, {report.households:,} invented households "
        f"({report.lists_added} lists and {report.households_added:,} households added, "
        f"{perf_counter() - started:.1f} s)."
    )
    write(
        "  referrer.ssp sees care team F01's visit list at /outreach/team/ (the carer "
        "at the top: visit, then refer both people); officer.ssp the office's lists at "
        "/outreach/lists/ and the figures at /outreach/figures/."
    )
