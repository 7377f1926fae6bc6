"""Reads that encode rules: who sees which referral, possible duplicates, the timeline.

Every list, page, export and API endpoint starts from ``referrals_visible_to``; a referral
outside it is a 404 for that user.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
)
from django.utils import timezone

from accounts.models import Membership, User
from accounts.selectors import user_scope
from referrals.models import (
    LEFT_TASK_STATUSES,
    OfficeClosure,
    Referral,
    ReferralEvent,
    ReferralTask,
    Status,
)
from services.models import ServiceUnit


def referrals_visible_to(user: User) -> QuerySet[Referral]:
    """Drafts: only their author. Otherwise: the referrer, the assigned unit's staff, the
    district officers of the office covering the referral's district, and administrators.

    The user's memberships are read first (``accounts.selectors.user_scope``, one query) so
    that the query holds only the clauses that apply: a referrer's list is then a plain index
    scan on ``referrer``, an officer's an index scan on the district ids (values, not a
    subquery: OR-ed with the referrer, a subquery made PostgreSQL read every referral).
    """
    if not (user.is_authenticated and user.is_active):
        return Referral.objects.none()
    own = Q(referrer=user)
    if user.is_administrator:
        return Referral.objects.filter(own | ~Q(status=Status.DRAFT))
    scope = user_scope(user)
    in_scope = Q()
    if scope.unit_ids:
        # The lead unit, and every unit holding a task on the referral that it has not
        # declined or been relieved of (issue 16).
        in_scope |= Q(assigned_unit_id__in=scope.unit_ids) | Exists(
            tasks_seen_by(Q(unit_id__in=scope.unit_ids)).filter(referral=OuterRef("pk"))
        )
    if scope.district_ids:
        in_scope |= Q(district_id__in=scope.district_ids)
    if not in_scope:
        return Referral.objects.filter(own)
    return Referral.objects.filter(own | ~Q(status=Status.DRAFT) & in_scope)


def tasks_seen_by(units: Q) -> QuerySet:
    """The tasks through which ``units`` (a filter) see their referrals: all but those they
    left. One rule for staff and partner systems, asked per referral (``EXISTS``: an ``IN``
    over a large organisation's tasks made a read by key 150 ms at a million referrals)."""
    return ReferralTask.objects.filter(units).exclude(status__in=LEFT_TASK_STATUSES)


def referrals_visible_to_partner(partner) -> QuerySet[Referral]:
    """A partner system (``accounts.PartnerClient``): referrals assigned to its
    organisation's units (as lead, or through a task of theirs, ``tasks_seen_by``), and
    those the client itself filed. Never drafts."""
    theirs = Q(assigned_unit__organisation_id=partner.organisation_id) | Exists(
        tasks_seen_by(Q(unit__organisation_id=partner.organisation_id)).filter(
            referral=OuterRef("pk")
        )
    )
    if partner.service_user_id is not None:
        theirs |= Q(referrer_id=partner.service_user_id)
    return Referral.objects.exclude(status=Status.DRAFT).filter(theirs)


def referral_for_page(*, user: User, public_id) -> Referral:
    """One visible referral with what its page shows, or ``Referral.DoesNotExist``."""
    return (
        referrals_visible_to(user)
        .select_related(
            "district__welfare_office",
            "sub_district",
            "assigned_unit__organisation",
            "referring_team",
            "referrer",
        )
        .prefetch_related(
            "needs",
            Prefetch(
                "tasks",
                queryset=ReferralTask.objects.select_related("unit")
                .prefetch_related("needs")
                .order_by("created_at", "pk"),
            ),
            Prefetch(
                "events",
                queryset=ReferralEvent.objects.select_related("actor", "unit").order_by("at", "pk"),
            ),
            Prefetch(
                "possible_duplicates",
                queryset=Referral.objects.select_related("assigned_unit"),
            ),
        )
        .annotate(
            is_overdue=ExpressionWrapper(overdue_q(timezone.now()), output_field=BooleanField())
        )
        .get(public_id=public_id)
    )


@dataclass(frozen=True)
class DuplicateHint:
    """What a referrer may learn about another open referral: nothing personal."""

    reference: str
    status: str
    unit: str


# --- The same person ---------------------------------------------------------------------


def person_match(
    *, id_hash: str = "", phone="", names: tuple[str, ...] = (), household: bool = False
) -> Q | None:
    """The one rule for "a referral about the same person", as a filter; None when the
    details given can match nothing.

    The same person: the same identity number (its keyed hash), or the same phone number
    (E.164, or a stored ``PhoneNumber``) together with one of the same names (Chinese
    exactly, English in any case). With ``household`` the same phone line alone is enough:
    that finds the household, and is meant only where the household is the point.

    Who asks which, on purpose:

    * possible duplicates (``possible_duplicates``, at submission and on the form) and data
      access requests (``access_requests.access_request_referrals``): the person;
    * the units already serving the household (``units_serving_household``, for routing):
      the household;
    * consent withdrawal (``privacy.referral_withdraw_consent``): neither; consent is a
      person's, so it reaches only the same identity number (a phone line is shared by
      relatives whose consent stands), and only referrals the recorder may see.
    """
    match = Q()
    if id_hash:
        match |= Q(id_number_hash=id_hash)
    names = tuple(name.strip() for name in names if name and name.strip())
    if phone and household:
        match |= Q(phone=phone)
    elif phone and names:
        same_name = Q()
        for name in names:
            same_name |= Q(subject_name_zh=name) | Q(subject_name_en__iexact=name)
        match |= Q(phone=phone) & same_name
    return match or None


def same_person(referral: Referral, *, household: bool = False) -> Q | None:
    """``person_match`` for the person (or, with ``household``, the household) of
    ``referral``; the referral itself matches too, callers exclude it. The household needs
    no names: they are not read (a caller may have loaded only the hash and the phone).
    Consent withdrawal does not use it: it matches the identity hash alone."""
    return person_match(
        id_hash=referral.id_number_hash,
        phone=referral.phone or "",  # the stored value: compared as stored, valid or not
        names=() if household else (referral.subject_name_zh, referral.subject_name_en),
        household=household,
    )


def possible_duplicates(
    *,
    id_hash: str = "",
    phone: str = "",
    names: tuple[str, ...] = (),
    exclude_pk: int | None = None,
) -> list[Referral]:
    """Open referrals of the last DUPLICATE_WINDOW_DAYS about the same person
    (``person_match``)."""
    match = person_match(id_hash=id_hash, phone=phone, names=names)
    if match is None:
        return []
    return _recent_open(match, exclude_pk=exclude_pk)


def possible_duplicates_of(referral: Referral) -> list[Referral]:
    """``possible_duplicates`` for a referral being submitted (itself excluded)."""
    match = same_person(referral)
    if match is None:
        return []
    return _recent_open(match, exclude_pk=referral.pk)


def _recent_open(match: Q, *, exclude_pk: int | None) -> list[Referral]:
    since = timezone.now() - timedelta(days=settings.DUPLICATE_WINDOW_DAYS)
    candidates = (
        Referral.objects.open()
        .filter(match, submitted_at__gte=since)
        .select_related("assigned_unit")
        .order_by("-submitted_at")
    )
    if exclude_pk:
        candidates = candidates.exclude(pk=exclude_pk)
    return list(candidates[:10])


def duplicate_hints(referrals: list[Referral]) -> list[DuplicateHint]:
    return [
        DuplicateHint(
            reference=r.reference,
            status=r.get_status_display(),
            unit=r.assigned_unit.name if r.assigned_unit else "",
        )
        for r in referrals
    ]


def referrer_teams(*, user: User) -> QuerySet[ServiceUnit]:
    """The caring teams (or other referring units) the user files referrals for."""
    return ServiceUnit.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.REFERRER
    ).order_by("code")


# --- Routing inputs ----------------------------------------------------------------------


def units_serving_household(referral: Referral) -> list[tuple[int, str]]:
    """(unit id, reference) of other open referrals for the same identity number or the
    same phone line that a unit holds now, most recent first: the units already serving
    this household."""
    match = same_person(referral, household=True)
    if match is None:
        return []
    # A unit serves the household while it holds an open task on one of its referrals.
    return list(
        ReferralTask.objects.open()
        .filter(referral__in=Referral.objects.filter(match).exclude(pk=referral.pk))
        .order_by("-referral__submitted_at", "-pk")
        .values_list("unit_id", "referral__reference")[:10]
    )


def unit_loads(*, unit_ids: list[int] | None = None) -> dict[int, int]:
    """Each unit's true load, ``ServiceUnit.current_load`` as it should be: its open tasks
    (``OPEN_TASK_STATUSES``, the ones ``services`` counts in and out). A unit holding none
    is absent."""
    serving = ReferralTask.objects.open()
    if unit_ids is not None:
        serving = serving.filter(unit_id__in=unit_ids)
    return dict(
        serving.order_by()
        .values("unit_id")
        .annotate(load=Count("pk"))
        .values_list("unit_id", "load")
    )


def units_released_by(referral: Referral) -> set[int]:
    """Units that declined this referral, or let it pass its deadline and lost it."""
    released = set()
    for to_status, kind, unit_id, details in ReferralEvent.objects.filter(
        referral=referral, unit__isnull=False
    ).values_list("to_status", "kind", "unit_id", "details"):
        if to_status == Status.REJECTED or (
            kind == ReferralEvent.Kind.OVERDUE and (details or {}).get("released")
        ):
            released.add(unit_id)
    return released


# long: every input of the routing decision read in one pass, query by query.
def routing_inputs(referral: Referral):
    """What ``routing.decide`` needs for ``referral``, read in a fixed number of queries."""
    from referrals import routing
    from referrals.models import RoutingRule

    rules = [
        routing.RuleFacts(
            id=rule.pk,
            code=rule.code,
            name_en=rule.name_en,
            name_zh=rule.name_zh,
            priority=rule.priority,
            unit_types=tuple(unit_type.code for unit_type in rule.unit_types.all()),
            needs=frozenset(need.code for need in rule.needs.all()),
            risk_levels=frozenset(rule.risk_levels),
            risk_factors=frozenset(rule.risk_factors),
            households=frozenset(rule.households),
            district_id=rule.district_id,
            sla_amount=rule.sla_amount,
            sla_unit=rule.sla_unit,
            escalate_at_once=rule.escalate_at_once,
            when_overdue=rule.when_overdue,
        )
        for rule in RoutingRule.objects.filter(is_active=True).prefetch_related(
            "needs", "unit_types"
        )
    ]
    unit_types = {code for rule in rules for code in rule.unit_types}
    units = [
        routing.UnitFacts(
            id=unit.pk,
            code=unit.code,
            name_en=unit.name_en,
            name_zh=unit.name_zh,
            unit_type=unit.unit_type.code,
            district_id=unit.district_id,
            catchment_district_ids=frozenset(d.pk for d in unit.catchment_districts.all()),
            catchment_sub_district_ids=frozenset(s.pk for s in unit.catchment_sub_districts.all()),
            catchment_sub_district_district_ids=frozenset(
                s.district_id for s in unit.catchment_sub_districts.all()
            ),
            is_active=unit.is_active,
            capacity=unit.capacity,
            current_load=unit.current_load,
            needs_served=frozenset(need.code for need in unit.unit_type.needs.all()),
        )
        for unit in ServiceUnit.objects.serving_district(referral.district_id)
        .filter(unit_type__code__in=unit_types)
        .select_related("unit_type")
        .prefetch_related("catchment_districts", "catchment_sub_districts", "unit_type__needs")
    ]
    facts = routing.ReferralFacts(
        district_id=referral.district_id,
        sub_district_id=referral.sub_district_id,
        needs=frozenset(need.code for need in referral.needs.all()),
        risk_level=referral.risk_level,
        risk_factors=frozenset(referral.risk_factors),
        household=referral.household,
        excluded_unit_ids=frozenset(units_released_by(referral)),
        serving_unit_refs=tuple(units_serving_household(referral)),
    )
    district = referral.district
    sub_district = referral.sub_district
    place = {"en": district.name_en, "zh": district.name_zh}
    area = {"en": sub_district.name_en, "zh": sub_district.name_zh} if sub_district else place
    return facts, units, rules, {"area": area, "district": place}


def routing_decision_for(referral: Referral, *, needs: set[str] | None = None, lead: bool = True):
    """The routing decision for ``referral``; with ``needs`` (codes), for those alone (a
    declined task's), as its lead (every rule) or as a part (``routing.decide_part``)."""
    from dataclasses import replace

    from referrals import routing

    facts, units, rules, places = routing_inputs(referral)
    if needs is None:
        return routing.decide(facts, units, rules, **places)
    if not lead:
        return routing.decide_part(facts, units, rules, needs, **places)
    return routing.decide(replace(facts, needs=frozenset(needs)), units, rules, **places)


def routing_plan_for(referral: Referral):
    """A unit per need for ``referral`` (``routing.plan``), from the same inputs."""
    from referrals import routing

    facts, units, rules, places = routing_inputs(referral)
    return routing.plan(facts, units, rules, **places)


# --- Whom the district office may assign to ----------------------------------------------

# Unit types that file referrals or coordinate rather than take cases. The Carer Support
# Hotline 182183 takes cases: it gives the emergency support of the carer-admitted pathway.
NOT_ROUTABLE_TYPES = ("CARE_TEAM", "DSWO")


def units_taking_referrals() -> QuerySet[ServiceUnit]:
    """Active units of the types that take cases, wherever they serve."""
    return ServiceUnit.objects.active().exclude(unit_type__code__in=NOT_ROUTABLE_TYPES)


def units_assignable_to(referral: Referral) -> QuerySet[ServiceUnit]:
    """The one rule for where the district office may send ``referral`` by hand: a unit
    taking referrals that serves the referral's district (located in it, or with a catchment
    reaching into it). ``referral_assign`` refuses any other; the routing panel offers only
    these; the queue's bulk reassignment goes through ``referral_assign``."""
    return units_taking_referrals().serving_district(referral.district_id)


def may_assign(referral: Referral, unit: ServiceUnit) -> bool:
    return units_assignable_to(referral).filter(pk=unit.pk).exists()


@dataclass(frozen=True)
class RoutingChoice:
    """A unit the district office may route to, with what the routing function knows."""

    unit: ServiceUnit
    suggested: bool = False
    coverage: str = ""
    serving_reference: str = ""
    spare: int = 0
    capacity: int = 0
    load_percent: int | None = None


def routing_choices(
    referral: Referral, decision
) -> tuple[list[RoutingChoice], list[RoutingChoice]]:
    """The decision's candidates (best first) and every other unit the office may assign the
    referral to (``units_assignable_to``, for an override), as units; two queries."""
    candidate_ids = [candidate.unit.id for candidate in decision.candidates]
    units = units_assignable_to(referral).select_related("unit_type")
    by_id = {unit.pk: unit for unit in units.filter(pk__in=candidate_ids)}
    candidates = [
        RoutingChoice(
            unit=by_id[candidate.unit.id],
            suggested=index == 0,
            coverage=candidate.coverage,
            serving_reference=candidate.serving_reference,
            spare=candidate.unit.spare,
            capacity=candidate.unit.capacity,
            load_percent=round(candidate.unit.load_ratio * 100)
            if candidate.unit.capacity
            else None,
        )
        for index, candidate in enumerate(decision.candidates)
        if candidate.unit.id in by_id
    ]
    others = [
        RoutingChoice(unit=unit, spare=unit.spare_capacity, capacity=unit.capacity)
        for unit in units.exclude(pk__in=candidate_ids).order_by("unit_type__code", "code")
    ]
    return candidates, others


# --- Work the sweeps pick up -------------------------------------------------------------


def referrals_to_reroute(*, older_than_seconds: int) -> list[int]:
    """Submitted (or declined) referrals nobody has routed for a while."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Referral.objects.filter(
            Q(status=Status.SUBMITTED, submitted_at__lt=cutoff)
            | Q(status=Status.REJECTED, updated_at__lt=cutoff)
        ).values_list("pk", flat=True)[:1000]
    )


def overdue_q(now: datetime) -> Q:
    """The one definition of "overdue" (issue 14 item 15): assigned and past its
    acknowledge-by time at ``now``, whether or not ``sweep_overdue`` has marked it yet. The
    queue's badge and views, the inbox, the dashboard and the sweep all ask this; the
    sweep's mark (``overdue_at``) only says that the office was told and the rule applied."""
    return Q(status=Status.ASSIGNED, due_at__lte=now)


def referrals_past_due(*, now: datetime | None = None) -> list[int]:
    """Overdue referrals the sweep has not marked (told the office about) yet."""
    now = now or timezone.now()
    return list(
        Referral.objects.filter(overdue_q(now), overdue_at__isnull=True).values_list(
            "pk", flat=True
        )[:1000]
    )


def tasks_past_due(*, now: datetime | None = None) -> list[int]:
    """Tasks past their deadline that ``referrals_past_due`` (the referral's status and the
    lead's deadline) misses: parts, and leads of referrals another unit accepted."""
    now = now or timezone.now()
    return list(
        ReferralTask.objects.filter(status=Status.ASSIGNED, due_at__lte=now, overdue_at=None)
        .filter(Q(is_lead=False) | ~Q(referral__status=Status.ASSIGNED))
        .values_list("pk", flat=True)[:1000]
    )


def routing_past_due_q(now: datetime) -> Q:
    """Submitted and still not routed ``ROUTING_SWEEP_AFTER_SECONDS`` after submission: the
    routing job was lost (``sweep_unrouted`` queues it again) and the district office must
    see it (issue 14 item 19)."""
    cutoff = now - timedelta(seconds=settings.ROUTING_SWEEP_AFTER_SECONDS)
    return Q(status=Status.SUBMITTED, submitted_at__lt=cutoff)


def office_closures_from(start: datetime) -> list[tuple[datetime, datetime]]:
    """Closures (typhoon signal No. 8, black rainstorm) not over by ``start``: the ones a
    business-time clock started then may have to pause through (``sla.add_business_time``)."""
    return list(
        OfficeClosure.objects.filter(ends_at__gt=start)
        .order_by("starts_at")
        .values_list("starts_at", "ends_at")
    )
