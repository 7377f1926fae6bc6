"""Synthetic referrals for the demo and the benchmarks (``seed_demo --referrals N``).

Every record is invented and flagged ``is_demo_data``: names are "Demo case 000123" /
"示範個案 000123", no phone numbers, no identity numbers, addresses say "(demo)". The command
tops up to N demo referrals, so running it twice adds nothing. On PostgreSQL rows go in with
``COPY`` in chunks (a million in a few minutes); elsewhere with ``bulk_create``.
"""

import json
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from districts.models import District
from referrals.models import (
    OPEN_TASK_STATUSES,
    RISK_OF,
    ConsentBasis,
    Household,
    ReferenceSequence,
    Referral,
    ReferralEvent,
    ReferralTask,
    Status,
    risk_level_of,
)
from referrals.models.lead_organisation import fill_lead_organisations
from services.models import NeedCategory, ServiceUnit

CHUNK = 20_000
DAYS_BACK = 540
DEMO_REFERRER = "referrer.ssp"
DEMO_TEAM = "care-team-f01"

# How a year of referrals is spread over the lifecycle (weights, roughly).
STATUS_WEIGHTS = {
    Status.SUBMITTED: 1,
    Status.TRIAGE: 3,
    Status.ASSIGNED: 8,
    Status.ACCEPTED: 6,
    Status.REJECTED: 1,
    Status.IN_PROGRESS: 25,
    Status.ON_HOLD: 4,
    Status.COMPLETED: 42,
    Status.FAILED: 3,
    Status.CANCELLED: 6,
    Status.ENTERED_IN_ERROR: 1,
}
WITH_UNIT = {
    Status.ASSIGNED,
    Status.ACCEPTED,
    Status.REJECTED,
    Status.IN_PROGRESS,
    Status.ON_HOLD,
    Status.COMPLETED,
    Status.FAILED,
}
NEEDS_REASON = {
    Status.REJECTED,
    Status.ON_HOLD,
    Status.FAILED,
    Status.CANCELLED,
    Status.ENTERED_IN_ERROR,
}

REFERRAL_COLUMNS = [
    "id",
    "public_id",
    "reference",
    "status",
    "version",
    "referrer_id",
    "referring_team_id",
    "referrer_contact",
    "district_id",
    "sub_district_id",
    "subject_name_zh",
    "subject_name_en",
    "sex",
    "age",
    "phone",
    "address",
    "preferred_language",
    "id_type",
    "id_number_encrypted",
    "id_number_hash",
    "id_number_masked",
    "household",
    "risk_factors",
    "risk_level",
    "situation",
    "consent_basis",
    "consent_given_by",
    "consent_method",
    "consent_given_at",
    "consent_exemption_reason",
    "assigned_unit_id",
    "outcome_summary",
    "duplicate_note",
    "created_at",
    "updated_at",
    "submitted_at",
    "is_demo_data",
    "due_at",
    "services_provided",
]
EVENT_COLUMNS = ["referral_id", "actor_id", "at", "from_status", "to_status", "reason", "note"]
EVENT_COLUMNS += ["unit_id", "kind", "details", "task_id"]
NEED_COLUMNS = ["referral_id", "needcategory_id"]
# A held referral's task (issue 16), as migration 0016 gives: the lead, in its status.
TASK_COLUMNS = ["id", "public_id", "referral_id", "unit_id", "is_lead", "part_of_id", "status"]
TASK_COLUMNS += ["version", "due_at", "outcome_summary", "services_provided", "created_at"]
TASK_COLUMNS += ["updated_at", "closed_at", "shared_contact"]
TASK_NEED_COLUMNS = ["referraltask_id", "needcategory_id"]


@dataclass
class Directory:
    """What the generator draws from, read once."""

    districts: list[District]
    weights: list[int]
    teams: dict[int, list[tuple[int, int | None]]]  # district → [(team id, sub-district id)]
    units: dict[int, list[int]]  # district → ids of active units (not caring teams)
    referrers: dict[int, int]  # district → referrer user id
    demo_referrer: tuple[int, int, int | None] | None  # (user, team, sub-district)
    needs: list[int]


def build_referrals(
    target: int, *, log: Callable[[str], None] = print, use_copy: bool | None = None
) -> int:
    """Top up the demo referrals to ``target``; returns how many were added."""
    # The generator's own: the demo's urgent notice opens two more (``build_notice``), and
    # the demo's stories, filed through the form's service, carry its token (``demo_history``).
    existing = Referral.objects.filter(
        is_demo_data=True, notice__isnull=True, submission_token__isnull=True
    ).count()
    missing = max(0, target - existing)
    if not missing:
        return 0
    directory = _read_directory()
    use_copy = connection.vendor == "postgresql" if use_copy is None else use_copy
    rng = random.Random(existing)  # noqa: S311 - synthetic data, not security
    added = 0
    while added < missing:
        size = min(CHUNK, missing - added)
        with transaction.atomic():
            tables = _generate_chunk(size, directory, rng)
            (_copy_chunk if use_copy else _orm_chunk)(*tables)
        added += size
        log(f"  referrals: {existing + added:,} of {target:,}")
    # The bulk load names only the unit; its organisation (the partner sync's key) in one
    # UPDATE, as the migration filled it (save() keeps it for every other write).
    fill_lead_organisations(Referral.objects.all())
    if connection.vendor == "postgresql":
        _analyze()
    return added


LOADED_TABLES = (
    Referral,
    Referral.needs.through,
    ReferralEvent,
    ReferralTask,
    ReferralTask.needs.through,
)


def _analyze() -> None:
    """Give the planner statistics for the tables just loaded. Autovacuum would, in time, if
    it is on; until then a million rows look like none, and the queue, the dashboard and
    the partner API's sync page get plans that take seconds."""
    with connection.cursor() as cursor:
        for model in LOADED_TABLES:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _read_directory() -> Directory:
    districts = list(District.objects.select_related("welfare_office").order_by("code"))
    teams: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    through = ServiceUnit.catchment_sub_districts.through.objects.filter(
        serviceunit__unit_type__code="CARE_TEAM"
    ).values_list("serviceunit_id", "subdistrict_id", "serviceunit__district_id")
    for team_id, sub_district_id, district_id in through:
        teams[district_id].append((team_id, sub_district_id))
    units: dict[int, list[int]] = defaultdict(list)
    for unit_id, district_id in (
        ServiceUnit.objects.active()
        .exclude(unit_type__code="CARE_TEAM")
        .values_list("pk", "district_id")
    ):
        units[district_id].append(unit_id)
    missing_teams = [d.code for d in districts if not teams[d.pk]]
    if missing_teams:
        raise RuntimeError(f"No caring teams in districts {missing_teams}: build the directory.")
    referrers = {district.pk: caring_team_member(district).pk for district in districts}
    demo_referrer = None
    user = get_user_model().objects.filter(username=DEMO_REFERRER).first()
    team = ServiceUnit.objects.filter(code=DEMO_TEAM).first()
    if user and team:
        area = team.catchment_sub_districts.values_list("pk", flat=True).first()
        demo_referrer = (user.pk, team.pk, area)
    return Directory(
        districts=districts,
        weights=[len(teams[d.pk]) for d in districts],
        teams=teams,
        units=units,
        referrers=referrers,
        demo_referrer=demo_referrer,
        needs=list(NeedCategory.objects.values_list("pk", flat=True)),
    )


def caring_team_member(district: District):
    """The district's invented caring-team member who files its synthetic referrals (no
    password: nobody signs in as them)."""
    user, created = get_user_model().objects.get_or_create(
        username=f"demo.caring-team.{district.code.lower()}",
        defaults={"first_name": "Demo", "last_name": f"caring team {district.code}"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _reserve_references(keys: Counter) -> dict[tuple[str, int], int]:
    """Take a block of numbers from each (office, year) counter; returns the first of each."""
    first = {}
    for (office_id, year), count in sorted(keys.items()):
        sequence, _created = ReferenceSequence.objects.select_for_update().get_or_create(
            office_id=office_id, year=year
        )
        first[(office_id, year)] = sequence.last_value + 1
        sequence.last_value += count
        sequence.save(update_fields=["last_value"])
    return first


def _next_ids(size: int, model=Referral) -> int:
    """The first of ``size`` fresh primary keys of ``model``'s table (locked on PostgreSQL)."""
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 - a model's table
            start = cursor.fetchone()[0] + 1
            if size:
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, start + size - 1]
                )
        return start
    last = model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return last + 1


# long: one synthetic referral per loop, every field chosen in one place.
def _generate_chunk(size: int, directory: Directory, rng: random.Random):
    now = timezone.now()
    plans = sorted(
        (
            (
                now - timedelta(seconds=rng.randrange(DAYS_BACK * 86400)),
                rng.choices(directory.districts, directory.weights)[0],
            )
            for _ in range(size)
        ),
        key=lambda plan: plan[0],
    )
    keys = Counter(
        (district.welfare_office_id, timezone.localtime(at).year) for at, district in plans
    )
    numbers = _reserve_references(keys)
    offices = {d.welfare_office_id: d.welfare_office.code.upper() for d in directory.districts}
    first_id = _next_ids(size)
    statuses, status_weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    factors = list(RISK_OF)
    rows, needs, events, held = [], [], [], []
    for offset, (submitted_at, district) in enumerate(plans):
        pk = first_id + offset
        key = (district.welfare_office_id, timezone.localtime(submitted_at).year)
        number = numbers[key]
        numbers[key] += 1
        status = rng.choices(statuses, status_weights)[0]
        team_id, area_id = rng.choice(directory.teams[district.pk])
        referrer_id = directory.referrers[district.pk]
        if directory.demo_referrer and district.code == "F" and rng.random() < 0.02:
            referrer_id, team_id, area_id = directory.demo_referrer
        unit_id = None
        if status in WITH_UNIT and directory.units[district.pk]:
            unit_id = rng.choice(directory.units[district.pk])
        ticked = sorted(rng.sample(factors, k=rng.choice([0, 0, 0, 1, 1, 2])))
        changed_at = min(now, submitted_at + timedelta(hours=rng.randrange(1, 24 * 14)))
        reason = "Synthetic demo reason." if status in NEEDS_REASON else ""
        rows.append(
            (
                pk,
                uuid.uuid4(),
                f"{offices[district.welfare_office_id]}-{key[1]}-{number:06d}",
                status,
                2,
                referrer_id,
                team_id,
                "",
                district.pk,
                area_id,
                f"示範個案 {pk:07d}",
                f"Demo case {pk:07d}",
                rng.choice(["female", "male"]),
                rng.randrange(18, 99),
                "",
                f"(demo) {district.name_en} block {rng.randrange(1, 60)}",
                "yue",
                "",
                "",
                "",
                "",
                rng.choice(Household.values),
                json.dumps([str(code) for code in ticked]),
                risk_level_of(ticked),
                "Synthetic referral generated for the demo; not a real person.",
                ConsentBasis.CONSENT,
                "subject",
                "verbal",
                submitted_at,
                "",
                unit_id,
                "Synthetic outcome." if status == Status.COMPLETED else "",
                "",
                submitted_at,
                changed_at,
                submitted_at,
                True,
                changed_at + timedelta(days=2) if unit_id else None,
                "Synthetic services." if status == Status.COMPLETED else "",
            )
        )
        chosen = rng.sample(directory.needs, k=rng.choice([1, 1, 2]))
        needs.extend((pk, need) for need in chosen)
        events.append(
            (
                pk,
                referrer_id,
                submitted_at,
                "draft",
                "submitted",
                "",
                "",
                None,
                "status",
                "{}",
                None,
            )
        )
        if status != Status.SUBMITTED:
            held.append((pk, unit_id, status, submitted_at, changed_at, reason, chosen, rows[-1]))
    tasks, task_needs = _tasks_of(held, events)
    return rows, needs, events, tasks, task_needs


def _tasks_of(held, events):
    """The task of each referral a unit holds, its needs, and the referral's step after
    submission (on that task when there is one)."""
    first_task = _next_ids(sum(1 for _pk, unit_id, *_rest in held if unit_id), ReferralTask)
    tasks, task_needs = [], []
    for pk, unit_id, status, submitted_at, changed_at, reason, chosen, row in held:
        task_id = None
        if unit_id:
            task_id = first_task + len(tasks)
            values = dict(zip(REFERRAL_COLUMNS, row, strict=True))
            closed = None if status in OPEN_TASK_STATUSES else changed_at
            tasks.append(
                (
                    task_id,
                    uuid.uuid4(),
                    pk,
                    unit_id,
                    True,
                    None,
                    status,
                    1,
                    values["due_at"],
                    values["outcome_summary"],
                    values["services_provided"],
                    submitted_at,
                    changed_at,
                    closed,
                    "",
                )
            )
            task_needs.extend((task_id, need) for need in chosen)
        events.append(
            (
                pk,
                None,
                changed_at,
                "submitted",
                status,
                reason,
                "",
                unit_id,
                "status",
                "{}",
                task_id,
            )
        )
    return tasks, task_needs


def _copy_chunk(rows, needs, events, tasks, task_needs) -> None:
    with connection.cursor() as cursor:
        for table, columns, data in (
            ("referrals_referral", REFERRAL_COLUMNS, rows),
            ("referrals_referral_needs", NEED_COLUMNS, needs),
            ("referrals_referraltask", TASK_COLUMNS, tasks),
            ("referrals_referraltask_needs", TASK_NEED_COLUMNS, task_needs),
            ("referrals_referralevent", EVENT_COLUMNS, events),
        ):
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            with cursor.cursor.copy(statement) as copy:
                for row in data:
                    copy.write_row(row)


def _orm_chunk(rows, needs, events, tasks, task_needs) -> None:
    referrals = []
    for row in rows:
        values = dict(zip(REFERRAL_COLUMNS, row, strict=True))
        values["risk_factors"] = json.loads(values["risk_factors"])
        referrals.append(Referral(**values))
    Referral.objects.bulk_create(referrals, batch_size=500)
    Referral.needs.through.objects.bulk_create(
        [Referral.needs.through(referral_id=r, needcategory_id=n) for r, n in needs],
        batch_size=1000,
    )
    ReferralTask.objects.bulk_create(
        [ReferralTask(**dict(zip(TASK_COLUMNS, t, strict=True))) for t in tasks], batch_size=500
    )
    ReferralTask.needs.through.objects.bulk_create(
        [ReferralTask.needs.through(referraltask_id=t, needcategory_id=n) for t, n in task_needs],
        batch_size=1000,
    )
    ReferralEvent.objects.bulk_create(
        [
            ReferralEvent(**dict(zip(EVENT_COLUMNS, e, strict=True)) | {"details": {}})
            for e in events
        ],
        batch_size=1000,
    )
