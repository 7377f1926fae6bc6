"""Reads that encode rules: who sees which referral, possible duplicates, the timeline.

Every list, page, export and API endpoint starts from ``referrals_visible_to``; a referral
outside it is a 404 for that user.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import Membership, User
from referrals.models import SERVING_STATUSES, Referral, ReferralEvent, Status
from services.models import ServiceUnit


def referrals_visible_to(user: User) -> QuerySet[Referral]:
    """Drafts: only their author. Otherwise: the referrer, the assigned unit's staff, the
    district officers of the office covering the referral's district, and administrators.

    The user's memberships are read first so that the query holds only the clauses that
    apply: a referrer's list is then a plain index scan on ``referrer``.
    """
    if not (user.is_authenticated and user.is_active):
        return Referral.objects.none()
    own = Q(referrer=user)
    if user.is_administrator:
        return Referral.objects.filter(own | ~Q(status=Status.DRAFT))
    unit_ids, district_ids = set(), set()
    # One row per membership, and per district of an officer's office: the districts come as
    # values, so the query below can use the district index (a subquery, OR-ed with the
    # referrer, made PostgreSQL read every referral).
    for role, unit_id, district_id in Membership.objects.filter(user=user).values_list(
        "role", "service_unit_id", "welfare_office__districts__id"
    ):
        if role in Membership.STAFF_ROLES:
            unit_ids.add(unit_id)
        elif role == Membership.Role.DISTRICT_OFFICER and district_id is not None:
            district_ids.add(district_id)
    in_scope = Q()
    if unit_ids:
        in_scope |= Q(assigned_unit_id__in=sorted(unit_ids))
    if district_ids:
        in_scope |= Q(district_id__in=sorted(district_ids))
    if not in_scope:
        return Referral.objects.filter(own)
    return Referral.objects.filter(own | ~Q(status=Status.DRAFT) & in_scope)


def referrals_visible_to_partner(partner) -> QuerySet[Referral]:
    """A partner system (``accounts.PartnerClient``): referrals assigned to its
    organisation's units, and those the client itself filed. Never drafts."""
    theirs = Q(assigned_unit__organisation_id=partner.organisation_id)
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
                "events",
                queryset=ReferralEvent.objects.select_related("actor", "unit").order_by("at", "pk"),
            ),
            Prefetch(
                "possible_duplicates",
                queryset=Referral.objects.select_related("assigned_unit"),
            ),
        )
        .get(public_id=public_id)
    )


@dataclass(frozen=True)
class DuplicateHint:
    """What a referrer may learn about another open referral: nothing personal."""

    reference: str
    status: str
    unit: str


def possible_duplicates(
    *,
    id_hash: str = "",
    phone: str = "",
    names: tuple[str, ...] = (),
    exclude_pk: int | None = None,
) -> list[Referral]:
    """Open referrals of the last DUPLICATE_WINDOW_DAYS for the same identity number, or for
    the same phone number and name."""
    match = Q()
    if id_hash:
        match |= Q(id_number_hash=id_hash)
    names = tuple(name.strip() for name in names if name and name.strip())
    if phone and names:
        same_name = Q()
        for name in names:
            same_name |= Q(subject_name_zh=name) | Q(subject_name_en__iexact=name)
        match |= Q(phone=phone) & same_name
    if not match:
        return []
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


def possible_duplicates_of(referral: Referral) -> list[Referral]:
    """``possible_duplicates`` for a referral being submitted (itself excluded)."""
    return possible_duplicates(
        id_hash=referral.id_number_hash,
        phone=referral.phone.as_e164 if referral.phone else "",
        names=(referral.subject_name_zh, referral.subject_name_en),
        exclude_pk=referral.pk,
    )


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
    match = Q()
    if referral.id_number_hash:
        match |= Q(id_number_hash=referral.id_number_hash)
    if referral.phone:
        match |= Q(phone=referral.phone)
    if not match:
        return []
    return list(
        Referral.objects.filter(match, status__in=SERVING_STATUSES, assigned_unit__isnull=False)
        .exclude(pk=referral.pk)
        .order_by("-submitted_at")
        .values_list("assigned_unit_id", "reference")[:10]
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
        )
        for unit in ServiceUnit.objects.serving_district(referral.district_id)
        .filter(unit_type__code__in=unit_types)
        .select_related("unit_type")
        .prefetch_related("catchment_districts", "catchment_sub_districts")
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


def routing_decision_for(referral: Referral):
    from referrals import routing

    facts, units, rules, places = routing_inputs(referral)
    return routing.decide(facts, units, rules, **places)


def latest_routing_event(referral: Referral) -> ReferralEvent | None:
    """The newest routing event among the referral's (already fetched) events."""
    routed = [e for e in referral.events.all() if e.kind == ReferralEvent.Kind.ROUTING]
    return routed[-1] if routed else None


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
    """The decision's candidates (best first) and every other active unit serving the
    district (for an override), as units; two queries."""
    candidate_ids = [candidate.unit.id for candidate in decision.candidates]
    units = ServiceUnit.objects.active().select_related("unit_type")
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
        for unit in units.serving_district(referral.district_id)
        .exclude(pk__in=candidate_ids)
        .exclude(unit_type__code__in=NOT_ROUTABLE_TYPES)
        .order_by("unit_type__code", "code")
    ]
    return candidates, others


# Unit types that file referrals or coordinate rather than take cases.
NOT_ROUTABLE_TYPES = ("CARE_TEAM", "DSWO", "CARER_HOTLINE")


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


def referrals_past_due(*, now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(
        Referral.objects.filter(
            status=Status.ASSIGNED, due_at__lte=now, overdue_at__isnull=True
        ).values_list("pk", flat=True)[:1000]
    )
