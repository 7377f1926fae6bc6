"""The demo's living workspaces (issue 19): thirteen weeks of referrals for the units and
offices the demo logins work in, told through the services (``demo_history``), then the
overdue sweep the beat runs, so that every demo login finds work in every tab: Sham Shui
Po's dashboard with weeks of history and medians, each demo unit's inbox with new, open,
on-hold, overdue and closed cases, the queues of Sham Shui Po and Kwun Tong.

The demo offices' rules. The territory's default rules move an overdue case on to the next
unit; the demo's two offices keep their family, elderly and disability cases with the unit
and take them up themselves (a copy of each default rule for their district, one step
ahead of it, "when overdue: escalate"), so an overdue case stays in the unit's Overdue tab
after the sweep, escalated to the office, as a district may decide in the routing admin.

Also the urgent notice of the hotline's tour (``build_notice``), sent through the intake.
"""

import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, User
from districts.models import District, SubDistrict
from referrals.demo import caring_team_member
from referrals.demo_history import Cast, Step, Story, mail_kept_back, tell
from referrals.models import Household, Referral, RoutingRule, UrgentNotice
from referrals.task_steps import reconcile_unit_loads
from referrals.tasks import sweep_overdue
from services.models import NeedCategory, ServiceUnit

WEEKS = 13
OFFICERS = {"F": "officer.ssp", "J": "officer.kt"}
REFERRERS = {"F01": ("referrer.ssp", "care-team-f01")}  # the others: the district's member
# The default rules the demo offices copy with "when overdue: escalate" (module docstring).
ESCALATING = ("financial-hardship", "elderly-care", "disability-carer")


@dataclass(frozen=True)
class Lane:
    """One unit's stream of cases: where they come from, what they need, how many a week."""

    unit: str
    areas: tuple[str, ...]
    needs: tuple[str, ...]
    households: tuple[str, ...]
    per_week: float
    ages: tuple[int, int] = (25, 85)
    risk_factors: tuple[str, ...] = ()  # every case's (the hotline's: a carer in hospital)
    urgent_overdue: tuple[str, ...] = ()  # the overdue case's, for a rule that escalates


LANES = (
    Lane("ifsc-f-01", ("F01", "F02", "F03"), ("financial_hardship",), ("other", "lives_alone"), 2),
    Lane(
        "iccmw-f-01",
        ("F01", "F02"),
        ("mental_health",),
        ("other", "lives_alone"),
        1,
        urgent_overdue=("suicidal_talk",),
    ),
    Lane(
        "decc-f-01",
        ("F01", "F02", "F03"),
        ("elderly_care",),
        (Household.LIVES_ALONE, Household.ELDERLY_COUPLE),
        1.5,
        ages=(65, 96),
    ),
    Lane("prc-ssp", ("F01", "F02"), ("disability_support",), (Household.CARER_OF_DISABLED,), 0.7),
    Lane(
        "carer-hotline-01",
        ("F01", "F03"),
        ("carer_support",),
        (Household.CARER_OF_ELDER,),
        0.5,
        ages=(60, 90),
        risk_factors=("carer_hospitalised",),
    ),
    Lane("ifsc-j-01", ("J01", "J02"), ("financial_hardship",), ("other", "lives_alone"), 2),
)


def build_workspaces(*, log: Callable[[str], None] = print) -> tuple[int, int]:
    """Tell the demo stories not told yet, then run the overdue sweep once; returns
    (stories told now, assignments the sweep marked). Nothing when the demo users are
    missing."""
    cast = _cast()
    if cast is None:
        return 0, 0
    _office_rules()
    true_loads()  # routing ranks units by their true loads, not the directory's invented ones
    stories = list(_stories(timezone.now(), cast))
    told_before = set(
        Referral.objects.filter(
            submission_token__in=[story.token for story in stories]
        ).values_list("submission_token", flat=True)
    )
    told = 0
    # The stories' follow-ups (notifications of days past) wait in the outbox, as with the
    # broker down, and each story is one transaction: the seed stays a matter of seconds.
    with mail_kept_back(), _tasks_in_process(False):
        for story in stories:
            if story.token in told_before:
                continue
            with transaction.atomic():
                told += tell(story, cast) is not None
            if told and told % 50 == 0:
                log(f"  demo stories: {told:,} told")
    if not told:
        return 0, 0  # told before: the sweep ran then (the embedded demo has no beat)
    with mail_kept_back(), _tasks_in_process(False), transaction.atomic():
        marked = sweep_as_the_beat()  # its follow-ups, too, are queued at the commit
    return told, marked


@contextlib.contextmanager
def _tasks_in_process(eager: bool) -> Iterator[None]:
    """Celery runs tasks in this process (``eager``, as the embedded demo does) or queues
    them, inside the block."""
    conf = current_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = eager, True
    try:
        yield
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved


def true_loads() -> int:
    """Every unit's load counter set to its open cases (``reconcile_unit_loads``), without
    the drift warning: the demo directory invents the counters, the seed knows it."""
    logger = logging.getLogger(reconcile_unit_loads.__module__)
    saved, logger.disabled = logger.disabled, True
    try:
        with transaction.atomic():  # one commit, not one per unit: nothing else runs yet
            return len(reconcile_unit_loads())
    finally:
        logger.disabled = saved


def sweep_as_the_beat() -> int:
    """The beat's overdue sweep (``tasks.sweep_overdue``), its marks made in-process, as
    the embedded demo runs every task; returns how many it marked."""
    with _tasks_in_process(True):
        return sweep_overdue()


def _cast() -> Cast | None:
    areas = {
        area.code: area
        for area in SubDistrict.objects.select_related("district").filter(
            code__in={code for lane in LANES for code in lane.areas}
        )
    }
    officers = {
        district: user
        for district, name in OFFICERS.items()
        if (user := User.objects.filter(username=name).first())
    }
    if len(officers) < len(OFFICERS) or len(areas) < len({a for lane in LANES for a in lane.areas}):
        return None
    units = {unit.code: unit for unit in ServiceUnit.objects.filter(code__in=_unit_codes())}
    workers = {}
    for membership in (
        Membership.objects.filter(
            service_unit__code__in=[lane.unit for lane in LANES],
            role=Membership.Role.UNIT_STAFF,
            user__is_active=True,
        )
        .select_related("user", "service_unit")
        .order_by("user__username")
    ):
        workers.setdefault(membership.service_unit.code, membership.user)
    return Cast(
        referrers={code: _referrer(area) for code, area in areas.items()},
        officers=officers,
        workers=workers,
        units=units,
        areas=areas,
        needs={need.code: need for need in NeedCategory.objects.all()},
    )


def _unit_codes() -> list[str]:
    return [lane.unit for lane in LANES]


def _referrer(area: SubDistrict) -> tuple[User, ServiceUnit]:
    """The caring-team member who files the area's stories: ``referrer.ssp`` for F01, the
    district's demo member elsewhere (a member of the area's team from now on)."""
    username, team_code = REFERRERS.get(area.code, ("", f"care-team-{area.code.lower()}"))
    team = ServiceUnit.objects.get(code=team_code)
    user = User.objects.filter(username=username).first() if username else None
    user = user or caring_team_member(area.district)
    Membership.objects.get_or_create(user=user, role=Membership.Role.REFERRER, service_unit=team)
    return user, team


def _office_rules() -> None:
    """The demo offices' copies of ``ESCALATING`` (module docstring), kept as the defaults."""
    bases = RoutingRule.objects.filter(code__in=ESCALATING).prefetch_related("needs", "unit_types")
    for district in District.objects.filter(code__in=OFFICERS):
        for base in bases:
            rule, _created = RoutingRule.objects.update_or_create(
                code=f"demo-{district.code.lower()}-{base.code}",
                defaults={
                    "name_en": f"{base.name_en}; overdue: the office decides "
                    f"({district.name_en}, demo)",
                    "name_zh": f"{base.name_zh}；逾期由辦事處處理（{district.name_zh}，示範）",
                    "priority": base.priority - 1,
                    "is_active": True,
                    "risk_levels": base.risk_levels,
                    "risk_factors": base.risk_factors,
                    "households": base.households,
                    "district": district,
                    "match_institution": base.match_institution,
                    "sla_amount": base.sla_amount,
                    "sla_unit": base.sla_unit,
                    "escalate_at_once": base.escalate_at_once,
                    "when_overdue": RoutingRule.WhenOverdue.ESCALATE,
                },
            )
            rule.needs.set(base.needs.all())
            rule.unit_types.set(base.unit_types.all())


def _stories(now: datetime, cast: Cast) -> Iterator[Story]:
    for lane in LANES:
        if lane.unit not in cast.workers or lane.unit not in cast.units:
            continue  # no demo login works there
        yield from _workspace(lane, now)
        yield from _history(lane, now)
    for district, area in (("F", "F02"), ("J", "J01")):
        # Waiting for the office: sent back to its triage queue by the officer.
        yield Story(
            key=f"triage-{district}",
            number=9000,
            sub_district=area,
            unit="",
            needs=("housing",),
            household="other",
            submitted=now - timedelta(hours=3),
            steps=(Step("triage", now - timedelta(hours=2)),),
        )


# What each demo unit's inbox holds now: (story, days since it was filed, its steps as
# (action, hours after filing)). The new ones are younger than the shortest deadline (the
# hotline's two hours); the overdue one is past every deadline and never acknowledged.
WORKSPACE = (
    ("new-1", 40 / 1440, ()),
    ("new-2", 90 / 1440, ()),
    ("accepted", 2, (("accept", 3),)),
    ("in-progress", 9, (("accept", 4), ("start", 28))),
    ("on-hold", 12, (("accept", 2), ("start", 26), ("hold", 98))),
    ("overdue", 8, ()),
    ("completed", 20, (("accept", 5), ("start", 30), ("complete", 240))),
    ("failed", 25, (("accept", 6), ("start", 30), ("fail", 200))),
)


def _workspace(lane: Lane, now: datetime) -> Iterator[Story]:
    urgent = bool(lane.risk_factors)
    for number, (name, days, steps) in enumerate(WORKSPACE, start=1):
        overdue = name == "overdue"
        if overdue and (urgent or lane.urgent_overdue):
            days = 9 / 24  # past an urgent case's hours, on the 24-hour clock
        submitted = now - timedelta(days=days)
        yield Story(
            key=f"{lane.unit}-{name}",
            number=_number(lane, number),
            sub_district=lane.areas[0],
            unit=lane.unit,
            needs=lane.needs,
            household=lane.households[0],
            submitted=submitted,
            steps=tuple(Step(action, submitted + timedelta(hours=h)) for action, h in steps),
            risk_factors=(overdue and lane.urgent_overdue) or lane.risk_factors,
            age=sum(lane.ages) // 2,
        )


def _history(lane: Lane, now: datetime) -> Iterator[Story]:
    """``per_week`` cases a week for ``WEEKS`` weeks, each at a working hour, worked as
    cases of that age are: the old ones closed (most completed, some failed, a few declined
    and gone on to another unit), the younger ones open, some on hold."""
    rng = random.Random(lane.unit)  # noqa: S311 - synthetic data, not security
    number = 100
    for week in range(1, WEEKS + 1):
        count = int(lane.per_week) + (rng.random() < lane.per_week % 1)
        for index in range(count):
            number += 1
            day = now - timedelta(weeks=week) + timedelta(days=rng.uniform(-3, 3))
            submitted = timezone.localtime(day).replace(
                hour=rng.randrange(9, 18), minute=rng.randrange(60), second=0, microsecond=0
            )
            steps = _steps_of(rng, submitted, now, urgent=bool(lane.risk_factors))
            yield Story(
                key=f"{lane.unit}-w{week}-{index}",
                number=_number(lane, number),
                sub_district=rng.choice(lane.areas),
                unit=lane.unit,
                needs=lane.needs,
                household=rng.choice(lane.households),
                submitted=submitted,
                steps=steps,
                risk_factors=lane.risk_factors,
                age=rng.randrange(*lane.ages),
            )


def _steps_of(rng: random.Random, submitted: datetime, now: datetime, *, urgent: bool):
    accepted = submitted + timedelta(hours=rng.uniform(0.2, 1.5) if urgent else rng.uniform(1, 30))
    started = accepted + timedelta(days=rng.uniform(0.5, 3))
    age = (now - submitted).days
    roll = rng.random()
    if roll < 0.08:
        plan = [("decline", accepted)]
    elif age > 21 and roll < 0.2:
        plan = [("accept", accepted), ("start", started), ("fail", started + _days(rng, 3, 12))]
    elif age > 21 or roll > 0.85:
        closed = started + _days(rng, 2, 18)
        plan = [("accept", accepted), ("start", started), ("complete", closed)]
    elif roll < 0.3:
        plan = [("accept", accepted), ("start", started), ("hold", started + _days(rng, 1, 4))]
    else:
        plan = [("accept", accepted), ("start", started)]
    steps = []
    for action, at in plan:
        if at > now - timedelta(minutes=10):
            break  # not happened yet
        steps.append(Step(action, at))
    return tuple(steps)


def _days(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(days=rng.uniform(low, high))


def _number(lane: Lane, number: int) -> int:
    return LANES.index(lane) * 1000 + number


DEMO_NOTICE_KEY = "demo-notice-0001"
DEMO_NOTICE_PEOPLE = (("示範長者甲", "Demo elder A", 86), ("示範長者乙", "Demo elder B", 79))


def build_notice() -> int:
    """One urgent notice for the tour (issue 16), sent once through the real intake by the
    demo's SWD relay client: a Sham Shui Po carer admitted to hospital who cares for two
    elders. Routing gives each person a task for the carers' hotline and one for the local
    unit. Returns how many referrals it opened (0 when it was sent before)."""
    from accounts.models import PartnerClient
    from referrals.notices import Person, notice_receive

    partner = (
        PartnerClient.objects.select_related("intake_team")
        .filter(application__client_id="demo-swd-notices")
        .first()
    )
    if partner is None or UrgentNotice.objects.filter(client=partner, key=DEMO_NOTICE_KEY).exists():
        return 0
    district = District.objects.get(code="F")
    area = district.sub_districts.filter(code="F01").first()
    needs = list(NeedCategory.objects.filter(code="elderly_care"))
    people = [
        Person(
            values={
                "district": district,
                "sub_district": area,
                "subject_name_zh": name_zh,
                "subject_name_en": name_en,
                "age": age,
                "address": "(demo) Sham Shui Po block 12",
                "is_demo_data": True,
            },
            needs=needs,
        )
        for name_zh, name_en, age in DEMO_NOTICE_PEOPLE
    ]
    intake = notice_receive(
        partner=partner,
        key=DEMO_NOTICE_KEY,
        fingerprint="demo",
        carer_name="示範照顧者 (demo carer)",
        hospital="(demo) Caritas Medical Centre",
        people=people,
        token_for=lambda index: uuid.uuid5(uuid.NAMESPACE_URL, f"demo-notice:{index}"),
    )
    return len(intake.referrals)
