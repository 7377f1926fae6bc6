"""The demo's history, lived through the services (issue 19): each demo story is a referral
filed by a caring-team member, routed, and worked by the unit's staff, step by step, at the
hours it happened: the same services the pages call, with the clock moved back to each
step's time (``demo_clock``), so the timeline, the task, the deadlines, the load counters
and the dashboard's figures are the ones the real steps leave, not rows written past them.

What ``demo_clock`` moves: ``django.utils.timezone.now``, which every service, model
default (``default=timezone.now``, ``auto_now``) and deadline reads. The model fields hold
the function itself, so patching the module's ``now`` would miss them; the function reads
``datetime`` from its module at each call, so that is the name swapped, for the seed's
own thread, only inside the ``with`` block. Nothing else in the process runs meanwhile.

The follow-up jobs (``referrals/outbox.py``: notifications, e-mails) run as they always do:
in-process in the embedded demo, queued to the worker elsewhere, never inside a test's
transaction. The routing job is also called here at once (it is idempotent), so a story
is routed however the tasks run. E-mails of a history long past are not sent.
"""

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils import timezone as django_timezone

from accounts.models import User
from districts.models import District, SubDistrict
from referrals import assignment, services
from referrals.models import ConsentBasis, Referral, Status
from referrals.submission import referral_submit
from services.models import NeedCategory, ServiceUnit

STORY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "welfare-portal-demo-story")
_REAL_DATETIME = datetime


class _AnyDatetime(type):
    """The stand-in class answers ``isinstance`` as ``datetime`` does (templates ask it)."""

    def __instancecheck__(cls, value) -> bool:
        return isinstance(value, _REAL_DATETIME)

    def __subclasscheck__(cls, subclass) -> bool:
        return issubclass(subclass, _REAL_DATETIME)


def _clock_behind_by(offset: timedelta) -> type:
    class Behind(_REAL_DATETIME, metaclass=_AnyDatetime):
        @classmethod
        def now(cls, tz=None):
            return _REAL_DATETIME.now(tz) - offset

    return Behind


@contextlib.contextmanager
def demo_clock(moment: datetime) -> Iterator[None]:
    """``timezone.now()`` is ``moment`` (and runs on from it) inside the block."""
    saved = django_timezone.datetime
    django_timezone.datetime = _clock_behind_by(_REAL_DATETIME.now(moment.tzinfo) - moment)
    try:
        yield
    finally:
        django_timezone.datetime = saved


@contextlib.contextmanager
def mail_kept_back() -> Iterator[None]:
    """E-mails sent inside the block are dropped (the history's would tell of days past)."""
    saved = settings.EMAIL_BACKEND
    settings.EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
    try:
        yield
    finally:
        settings.EMAIL_BACKEND = saved


@dataclass(frozen=True)
class Step:
    """A step of a story: a unit's (``UNIT_STEPS``), or the office's ``triage``, at ``at``."""

    action: str
    at: datetime


@dataclass(frozen=True)
class Story:
    key: str  # names the story: its submission token comes from it, so it is told once
    number: int  # in the person's invented name
    sub_district: str  # code, e.g. "F01": the district is its district
    unit: str  # the unit that works it; "" leaves it where routing sends it
    needs: tuple[str, ...]
    household: str
    submitted: datetime
    steps: tuple[Step, ...] = ()
    risk_factors: tuple[str, ...] = ()
    age: int = 70

    @property
    def token(self) -> uuid.UUID:
        return uuid.uuid5(STORY_NAMESPACE, self.key)


@dataclass
class Cast:
    """Who acts in the stories: the referrer and caring team of each sub-district, an
    officer per district, a staff member per unit (only the units the stories name)."""

    referrers: dict[str, tuple[User, ServiceUnit]]  # sub-district code → (member, team)
    officers: dict[str, User]  # district code → officer
    workers: dict[str, User]  # unit code → staff member
    units: dict[str, ServiceUnit]
    areas: dict[str, SubDistrict]
    needs: dict[str, NeedCategory]


def _unit_step(action: str, **texts: tuple[str, ...]) -> Callable:
    """A unit's step; each text (a reason, an outcome) one of its choices, by the story."""
    function = getattr(services, f"referral_{action}")

    def take(referral_id: int, actor: User, number: int):
        chosen = {name: choices[number % len(choices)] for name, choices in texts.items()}
        return function(referral_id=referral_id, actor=actor, **chosen)

    return take


UNIT_STEPS = {
    "accept": _unit_step("accept"),
    "decline": _unit_step(
        "decline",
        reason=(
            "Demo: the family is already with another centre.",
            "Demo: outside our catchment; the family moved.",
        ),
    ),
    "start": _unit_step("start"),
    "hold": _unit_step(
        "hold",
        reason=(
            "Demo: waiting for the family's documents.",
            "Demo: the person is in hospital for a few weeks.",
        ),
    ),
    "resume": _unit_step("resume"),
    "complete": _unit_step(
        "complete",
        outcome=(
            "Demo: services arranged; the family knows whom to call.",
            "Demo: counselling done; the case is closed with the person's agreement.",
        ),
        services_provided=("Demo: counselling, a home visit, a referral to meals.",),
    ),
    "fail": _unit_step(
        "fail",
        reason=(
            "Demo: the family could not be reached after 3 tries.",
            "Demo: the person declined the service.",
            "Demo: the person moved out of the district.",
        ),
    ),
}


def tell(story: Story, cast: Cast) -> Referral | None:
    """File, route and work ``story``'s referral through the services, each step at its
    time; ``None`` when it was told before (its token names a submitted referral)."""
    referrer, team = cast.referrers[story.sub_district]
    area = cast.areas[story.sub_district]
    with demo_clock(story.submitted):
        referral, created = referral_submit(
            referrer=referrer,
            team=team,
            token=story.token,
            values=_values(story, area),
            needs=[cast.needs[code] for code in story.needs],
        )
        if not created:
            return None
        services.referral_route(referral_id=referral.pk)  # the routing job, at once
        _to_the_unit(referral.pk, story, cast, district=area.district)
    for step in story.steps:
        with demo_clock(step.at):
            _take(step, referral.pk, story, cast, district=area.district)
    return referral


def _values(story: Story, area: SubDistrict) -> dict:
    district = area.district
    return {
        "district": district,
        "sub_district": area,
        "subject_name_zh": f"示範個案 {district.code}{story.number:04d}",
        "subject_name_en": f"Demo case {district.code}{story.number:04d}",
        "sex": "female" if story.number % 2 else "male",
        "age": story.age,
        "address": f"(demo) {district.name_en} block {story.number % 40 + 1}",
        "household": story.household,
        "risk_factors": list(story.risk_factors),
        "situation": "Invented for the demo; not a real person.",
        "consent_basis": ConsentBasis.CONSENT,
        "consent_given_by": "subject",
        "consent_method": "verbal",
        "consent_given_at": timezone.now(),
        "is_demo_data": True,
    }


def _to_the_unit(referral_id: int, story: Story, cast: Cast, *, district: District) -> None:
    """Where routing did not send it to the story's unit, the office does, by hand."""
    if not story.unit:
        return
    referral = Referral.objects.get(pk=referral_id)
    unit = cast.units[story.unit]
    if referral.status == Status.ASSIGNED and referral.assigned_unit_id == unit.pk:
        return
    assignment.referral_assign(
        referral_id=referral_id,
        actor=cast.officers[district.code],
        unit=unit,
        reason="Demo: this centre already knows the family.",
    )


def _take(step: Step, referral_id: int, story: Story, cast: Cast, *, district) -> None:
    if step.action == "triage":
        services.referral_send_to_triage(
            referral_id=referral_id, actor=cast.officers[district.code]
        )
        return
    UNIT_STEPS[step.action](referral_id, cast.workers[story.unit], story.number)
    if step.action == "decline":
        services.referral_route(referral_id=referral_id)  # on to the next unit, at once
