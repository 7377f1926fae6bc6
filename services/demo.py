"""A synthetic but realistic service directory for all 18 districts.

What is real: the districts, welfare offices, unit types, the Social Welfare Department,
and the count of sub-districts per district (the 452 areas the caring teams were formed
on). Everything else — NGO names, unit names, addresses, capacities, the kindergartens and
child care centres and their enrolment — is invented, marked ``(demo)`` / ``（示範）`` and
flagged ``is_demo_data``. Rows are keyed by code, so running the builder again updates them
in place instead of adding more.
"""

import random
from dataclasses import dataclass

from django.db import transaction

from districts.models import District, SubDistrict, WelfareOffice
from services.models import Institution, Language, Organisation, ServiceUnit, UnitType

SUB_DISTRICTS_PER_DISTRICT = {
    "A": 15, "B": 13, "C": 35, "D": 17, "E": 20, "F": 25, "G": 25, "H": 25, "J": 40,
    "K": 19, "L": 31, "M": 39, "N": 18, "P": 19, "Q": 29, "R": 41, "S": 31, "T": 10,
}  # fmt: skip

# Districts with larger ethnic-minority communities get units serving more languages.
MULTILINGUAL_DISTRICTS = {"E", "F", "M", "S", "J"}

SWD = ("swd", "Social Welfare Department", "社會福利署")
DEMO_NGOS = [
    ("harbour-care", "Harbour Care Society (demo)", "海港關懷協會（示範）"),
    ("lantern-family", "Lantern Family Services (demo)", "燈塔家庭服務（示範）"),
    ("evergreen-elderly", "Evergreen Elderly Services (demo)", "長青長者服務（示範）"),
    ("kindred-wellness", "Kindred Mental Wellness Association (demo)", "同行精神健康協會（示範）"),
    ("bridge-ability", "Bridge Disability Support (demo)", "橋樑殘疾支援（示範）"),
    ("neighbour-link", "Neighbour Link Community Services (demo)", "鄰里連結社區服務（示範）"),
    ("hillside-mission", "Hillside Social Service Mission (demo)", "山邊社會服務團（示範）"),
    ("carers-alliance", "Carers' Alliance (demo)", "照顧者聯盟（示範）"),
]

# Open cases a unit of each type can hold (a plausible order of magnitude, not a norm).
CAPACITY = {
    "IFSC": 600, "ISC": 300, "ICCMW": 500, "DECC": 300, "NEC": 150, "DE": 60,
    "DSC": 200, "PRC": 150, "FCPSU": 300, "PPSW": 250, "CARE_TEAM": 0,
    "CARER_HOTLINE": 0, "DSWO": 0,
}  # fmt: skip


# The districts of the demo's two offices (Sham Shui Po, Kwun Tong) get three pre-primary
# social work teams, with 2, 3 and 4 social workers, and invented kindergartens and child
# care centres matched to them: the first team over capacity, two institutions without a
# team, so the office's matching page has hot spots to show and a re-matching to propose.
INSTITUTION_DISTRICTS = ("F", "J")
PPSW_SOCIAL_WORKERS = (2, 3, 4)
INSTITUTIONS_PER_DISTRICT = 24
# Institutions by position: the first nine to team 1, eight to team 2, five to team 3.
TEAM_OF_INSTITUTION = [1] * 9 + [2] * 8 + [3] * 5 + [None] * 2
INSTITUTION_NAMES = [
    ("Little Acorn", "小橡果"), ("Rainbow Kite", "彩虹風箏"), ("Sunny Pebble", "陽光卵石"),
    ("Bamboo Sprout", "竹筍"), ("Harbour Star", "海港之星"), ("Maple Seed", "楓籽"),
    ("Lotus Pond", "蓮塘"), ("Paper Crane", "紙鶴"), ("Cloud Garden", "雲園"),
    ("Jade Lantern", "玉燈籠"), ("Morning Dew", "晨露"), ("Kite Hill", "風箏山"),
]  # fmt: skip
INSTITUTION_KINDS = [
    (Institution.Kind.KINDERGARTEN, "Kindergarten", "幼稚園"),
    (Institution.Kind.CHILD_CARE_CENTRE, "Child Care Centre", "幼兒中心"),
    (
        Institution.Kind.KINDERGARTEN_CUM_CCC,
        "Kindergarten-cum-Child Care Centre",
        "幼稚園暨幼兒中心",
    ),
]


@dataclass
class UnitPlan:
    code: str
    unit_type: str
    organisation: str
    district: str
    number: int
    catchment_districts: list[str]
    catchment_sub_districts: list[str]
    label_en: str = ""
    label_zh: str = ""


def short_zh(district: District) -> str:
    """深水埗區 → 深水埗; two-character names (東區, 北區) stay whole."""
    name = district.name_zh
    return name[:-1] if len(name) > 2 and name.endswith("區") else name


def split(items: list[str], parts: int) -> list[list[str]]:
    """Split ``items`` into ``parts`` contiguous, nearly equal chunks."""
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


def per_district(count_per_452: float, sub_districts: int, minimum: int = 1) -> int:
    return max(minimum, round(count_per_452 * sub_districts / 452))


def _ngo_for(code: str) -> str:
    return random.Random(code).choice([c for c, _, _ in DEMO_NGOS])  # noqa: S311 - demo only


def _district_units(
    district: str, unit_type: str, count: int, areas: list[str], whole_district: bool
) -> list[UnitPlan]:
    """``count`` units of one type in one district, splitting ``areas`` between them."""
    chunks = split(areas, count) if areas else [[] for _ in range(count)]
    plans = []
    for number, chunk in enumerate(chunks, start=1):
        code = f"{unit_type.lower()}-{district.lower()}-{number:02d}"
        plans.append(
            UnitPlan(
                code=code,
                unit_type=unit_type,
                organisation=_ngo_for(code),
                district=district,
                number=number,
                catchment_districts=[district] if whole_district else [],
                catchment_sub_districts=chunk,
            )
        )
    return plans


MENTAL_RECOVERY_CARER_PRC_DISTRICTS = [
    ["A", "B", "C", "D", "T"],
    ["E", "F", "G", "H", "J"],
    ["K", "L", "M", "S"],
    ["N", "P", "Q", "R"],
]


# long: one table of which units each district gets, read top to bottom.
def plan_units(districts: list[District], offices: list[WelfareOffice]) -> list[UnitPlan]:
    plans: list[UnitPlan] = []
    for district in districts:
        d = district.code
        areas = [f"{d}{n:02d}" for n in range(1, SUB_DISTRICTS_PER_DISTRICT[d] + 1)]
        n = len(areas)
        plans += _district_units(d, "IFSC", per_district(65, n), areas, False)
        plans += _district_units(d, "ICCMW", per_district(24, n), areas, False)
        plans += _district_units(d, "DECC", per_district(41, n), areas, False)
        plans += _district_units(d, "NEC", per_district(180, n, minimum=2), areas, False)
        plans += _district_units(d, "DE", per_district(90, n), [], True)
        plans += _district_units(d, "DSC", 1, [], True)
        teams = len(PPSW_SOCIAL_WORKERS) if d in INSTITUTION_DISTRICTS else 1
        plans += _district_units(d, "PPSW", teams, [], True)
        if d == "T":
            plans += _district_units(d, "ISC", 1, areas[: n // 2], False)
        for number, area in enumerate(areas, start=1):
            code = f"care-team-{area.lower()}"
            plans.append(UnitPlan(code, "CARE_TEAM", _ngo_for(code), d, number, [], [area]))

    for office in offices:
        covered = sorted(district.code for district in office.districts.all())
        place_en = office.name_en.removesuffix(" District Social Welfare Office")
        place_zh = office.name_zh.removesuffix("福利辦事處").removesuffix("區")
        for unit_type in ("DSWO", "FCPSU", "PRC"):
            code = f"{unit_type.lower()}-{office.code.lower()}"
            organisation = _ngo_for(code) if unit_type == "PRC" else SWD[0]
            plans.append(
                UnitPlan(
                    code,
                    unit_type,
                    organisation,
                    covered[0],
                    1,
                    covered,
                    [],
                    label_en=place_en,
                    label_zh=place_zh,
                )
            )

    for number, group in enumerate(MENTAL_RECOVERY_CARER_PRC_DISTRICTS, start=1):
        plans.append(
            UnitPlan(
                f"prc-mental-{number:02d}",
                "PRC",
                "carers-alliance",
                group[0],
                number,
                group,
                [],
                label_en="Mental Recovery Carers",
                label_zh="精神復元照顧者",
            )
        )
    everywhere = [district.code for district in districts]
    plans.append(
        UnitPlan(
            "carer-hotline-01",
            "CARER_HOTLINE",
            "carers-alliance",
            "F",
            1,
            everywhere,
            [],
            label_en="Territory-wide",
            label_zh="全港",
        )
    )
    return plans


def unit_names(plan: UnitPlan, unit_type: UnitType, district: District) -> tuple[str, str]:
    if plan.unit_type == "DSWO":
        return (
            f"{plan.label_en} District Social Welfare Office (demo record)",
            f"{plan.label_zh}區福利辦事處（示範紀錄）",
        )
    if plan.unit_type == "CARE_TEAM":
        area = plan.catchment_sub_districts[0]
        return (
            f"{district.name_en} demo sub-district {area[-2:]} Care Team (demo)",
            f"{short_zh(district)}示範小區{area[-2:]}關愛隊（示範）",
        )
    place_en = plan.label_en or district.name_en
    place_zh = plan.label_zh or short_zh(district)
    return (
        f"{place_en} {unit_type.name_en} {plan.number} (demo)",
        f"{place_zh}{unit_type.name_zh}（示範{plan.number}）",
    )


def unit_languages(plan: UnitPlan) -> list[str]:
    languages = [Language.CANTONESE, Language.ENGLISH]
    rng = random.Random(f"languages-{plan.code}")  # noqa: S311
    if rng.random() < 0.6:
        languages.append(Language.PUTONGHUA)
    if plan.district in MULTILINGUAL_DISTRICTS and rng.random() < 0.5:
        languages += rng.sample(
            [Language.URDU, Language.NEPALI, Language.HINDI, Language.TAGALOG], 2
        )
    return [str(code) for code in languages]


# long: the directory built in dependency order, one bulk step per table.
@transaction.atomic
def build_directory() -> dict[str, int]:
    """Create or refresh the demo directory; returns counts of what it holds."""
    districts = list(District.objects.select_related("welfare_office").order_by("code"))
    offices = list(WelfareOffice.objects.prefetch_related("districts").order_by("code"))
    by_code = {district.code: district for district in districts}

    SubDistrict.objects.bulk_create(
        [
            SubDistrict(
                code=f"{district.code}{n:02d}",
                name_en=f"{district.name_en} demo sub-district {n:02d}",
                name_zh=f"{short_zh(district)}示範小區{n:02d}",
                district=district,
            )
            for district in districts
            for n in range(1, SUB_DISTRICTS_PER_DISTRICT[district.code] + 1)
        ],
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name_en", "name_zh", "district"],
    )
    Organisation.objects.bulk_create(
        [
            Organisation(
                code=SWD[0],
                name_en=SWD[1],
                name_zh=SWD[2],
                kind=Organisation.Kind.GOVERNMENT,
                website="https://www.swd.gov.hk/",
                is_demo_data=False,
            )
        ]
        + [
            Organisation(code=code, name_en=en, name_zh=zh, is_demo_data=True)
            for code, en, zh in DEMO_NGOS
        ],
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name_en", "name_zh", "kind", "website", "is_demo_data"],
    )

    unit_types = {unit_type.code: unit_type for unit_type in UnitType.objects.all()}
    organisations = dict(Organisation.objects.values_list("code", "pk"))
    plans = plan_units(districts, offices)
    units = []
    for plan in plans:
        district = by_code[plan.district]
        name_en, name_zh = unit_names(plan, unit_types[plan.unit_type], district)
        rng = random.Random(f"load-{plan.code}")  # noqa: S311
        capacity = CAPACITY[plan.unit_type]
        units.append(
            ServiceUnit(
                code=plan.code,
                name_en=name_en,
                name_zh=name_zh,
                unit_type=unit_types[plan.unit_type],
                organisation_id=organisations[plan.organisation],
                district=district,
                address_en=f"{plan.number} Demo Street, {district.name_en} (synthetic address)",
                address_zh=f"{short_zh(district)}示範街{plan.number}號（虛構地址）",
                email=f"{plan.code}@example.org",
                languages=unit_languages(plan),
                capacity=capacity,
                current_load=round(capacity * rng.uniform(0.3, 1.0)),
                social_workers=social_workers(plan),
                is_active=True,
                is_demo_data=True,
            )
        )
    ServiceUnit.objects.bulk_create(
        units,
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=[
            "name_en",
            "name_zh",
            "unit_type",
            "organisation",
            "district",
            "address_en",
            "address_zh",
            "email",
            "languages",
            "capacity",
            "current_load",
            "social_workers",
            "is_active",
            "is_demo_data",
        ],
    )

    unit_ids = dict(
        ServiceUnit.objects.filter(code__in=[p.code for p in plans]).values_list("code", "pk")
    )
    district_ids = {code: district.pk for code, district in by_code.items()}
    area_ids = dict(SubDistrict.objects.values_list("code", "pk"))
    district_through = ServiceUnit.catchment_districts.through
    area_through = ServiceUnit.catchment_sub_districts.through
    district_through.objects.filter(serviceunit_id__in=unit_ids.values()).delete()
    area_through.objects.filter(serviceunit_id__in=unit_ids.values()).delete()
    district_through.objects.bulk_create(
        district_through(serviceunit_id=unit_ids[plan.code], district_id=district_ids[code])
        for plan in plans
        for code in plan.catchment_districts
    )
    area_through.objects.bulk_create(
        area_through(serviceunit_id=unit_ids[plan.code], subdistrict_id=area_ids[code])
        for plan in plans
        for code in plan.catchment_sub_districts
    )
    build_institutions(districts, unit_ids, area_ids)
    return {
        "sub_districts": SubDistrict.objects.count(),
        "organisations": Organisation.objects.count(),
        "units": ServiceUnit.objects.count(),
        "institutions": Institution.objects.count(),
    }


def social_workers(plan: UnitPlan) -> int | None:
    """The demo districts' pre-primary teams have social workers; no other unit has."""
    if plan.unit_type != "PPSW" or plan.district not in INSTITUTION_DISTRICTS:
        return None
    return PPSW_SOCIAL_WORKERS[plan.number - 1]


def build_institutions(districts: list[District], unit_ids: dict, area_ids: dict) -> int:
    """Invented kindergartens and child care centres in the demo districts, matched to their
    pre-primary teams (``TEAM_OF_INSTITUTION``); neighbours share a sub-district, so each
    team is present in a few. Returns how many there are."""
    rows = []
    for district in districts:
        if district.code not in INSTITUTION_DISTRICTS:
            continue
        d = district.code
        for index, team in enumerate(TEAM_OF_INSTITUTION):
            code = f"kg-{d.lower()}-{index + 1:02d}"
            name_en, name_zh = INSTITUTION_NAMES[index % len(INSTITUTION_NAMES)]
            kind, kind_en, kind_zh = INSTITUTION_KINDS[(index + index // 12) % 3]
            area = f"{d}{index // 2 + 1:02d}"
            rows.append(
                Institution(
                    code=code,
                    kind=kind,
                    name_en=f"{district.name_en} {name_en} {kind_en} (demo)",
                    name_zh=f"{short_zh(district)}{name_zh}{kind_zh}（示範）",
                    district=district,
                    sub_district_id=area_ids[area],
                    enrolment=random.Random(code).randint(60, 200),  # noqa: S311 - demo only
                    matched_team_id=unit_ids[f"ppsw-{d.lower()}-{team:02d}"] if team else None,
                    is_active=True,
                    is_demo_data=True,
                )
            )
    Institution.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=[
            "kind",
            "name_en",
            "name_zh",
            "district",
            "sub_district",
            "enrolment",
            "matched_team",
            "is_active",
            "is_demo_data",
        ],
    )
    return len(rows)
