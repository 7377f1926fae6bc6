"""Reads that encode rules: who sees which referral, possible duplicates, the timeline.

Every list, page, export and API endpoint starts from ``referrals_visible_to``; a referral
outside it is a 404 for that user.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
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
    TransferCase,
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
        in_scope |= (
            Q(assigned_unit_id__in=scope.unit_ids)
            | Exists(tasks_seen_by(Q(unit_id__in=scope.unit_ids)).filter(referral=OuterRef("pk")))
            | Exists(transfers_overlapping(Q(from_unit_id__in=scope.unit_ids)))
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


def transfers_in_overlap(units: Q) -> QuerySet:
    """The overlap window of a planned transfer (issue 17): a case moved away from ``units``
    that the receiving unit has yet to accept is still seen by the sending unit."""
    return TransferCase.objects.filter(units, state="moved")


def transfers_overlapping(units: Q) -> QuerySet:
    """``transfers_in_overlap`` of the outer query's referral (for ``EXISTS``)."""
    return transfers_in_overlap(units).filter(referral=OuterRef("pk"))


def visible_sources(user: User) -> list[QuerySet[Referral]] | None:
    """``referrals_visible_to`` as the reads it is the union of, for a reader who sees
    referrals through a unit's tasks: OR-ed with the rest, the tasks' ``EXISTS`` leaves
    PostgreSQL one plan, reading every referral in turn (a unit worker's list counted
    634,000 rows to find 1,001 at a million referrals), while each part alone is read from
    an index. The same rows (``tests/referrals/test_visible_sources.py``). None for a
    reader whose visibility the plain query already reads from indexes."""
    if not (user.is_authenticated and user.is_active) or user.is_administrator:
        return None
    scope = user_scope(user)
    if not scope.unit_ids:
        return None
    units = scope.unit_ids
    shown = Referral.objects.exclude(status=Status.DRAFT)
    sources = [
        Referral.objects.filter(referrer=user),
        shown.filter(assigned_unit_id__in=units),
        shown.filter(pk__in=tasks_seen_by(Q(unit_id__in=units)).values("referral_id")),
        shown.filter(pk__in=transfers_in_overlap(Q(from_unit_id__in=units)).values("referral_id")),
    ]
    if scope.district_ids:
        sources.append(shown.filter(district_id__in=scope.district_ids))
    return sources


def referrals_visible_to_partner(partner) -> QuerySet[Referral]:
    """A partner system (``accounts.PartnerClient``): referrals assigned to its
    organisation's units (as lead, or through a task of theirs, ``tasks_seen_by``), and
    those the client itself filed. Never drafts."""
    organisation = partner.organisation_id
    theirs = (
        Q(assigned_unit__organisation_id=organisation)
        | Exists(
            tasks_seen_by(Q(unit__organisation_id=organisation)).filter(referral=OuterRef("pk"))
        )
        | Exists(transfers_overlapping(Q(from_unit__organisation_id=organisation)))
    )
    if partner.service_user_id is not None:
        theirs |= Q(referrer_id=partner.service_user_id)
    return Referral.objects.exclude(status=Status.DRAFT).filter(theirs)


def partner_sync_sources(partner) -> list[QuerySet[Referral]]:
    """``referrals_visible_to_partner`` as the sources it is the union of, each one a read
    PostgreSQL can serve in (updated_at, id) order from an index, so that a sync page reads
    each source from the cursor on and stops after a page (``api/pagination.py``):

    * the organisation leads it (``organisation``, kept with the lead unit:
      ``referral_partner_sync``);
    * a part its unit serves (a task not the lead, ``tasks_seen_by``: ``task_part_seen``);
    * a lead task of its unit on a referral whose lead has since moved to another
      organisation (only where ``lead_moved`` is set: ``referral_lead_moved_sync``);
    * a case moved away from its unit in a transfer's overlap window;
    * what its client filed (``referral_referrer_sync``).

    A lead task of the organisation's unit on a referral it still leads is in the first.
    """
    organisation = partner.organisation_id
    ours = Q(unit__organisation_id=organisation)
    rows = Referral.objects.exclude(status=Status.DRAFT)
    sources = [
        rows.filter(organisation_id=organisation),
        rows.filter(pk__in=tasks_seen_by(ours).filter(is_lead=False).values("referral_id")),
        rows.filter(Exists(tasks_seen_by(ours).filter(referral=OuterRef("pk"))), lead_moved=True),
        rows.filter(
            pk__in=transfers_in_overlap(Q(from_unit__organisation_id=organisation)).values(
                "referral_id"
            )
        ),
    ]
    if partner.service_user_id is not None:
        sources.append(rows.filter(referrer_id=partner.service_user_id))
    return sources


def referrals_with_organisation_drift() -> QuerySet[Referral]:
    """Referrals whose ``organisation`` is not their lead unit's: none, unless a write went
    round ``models/lead_organisation.py`` (or a unit changed organisation). The check a
    test and an operator run: a partner's sync would miss or wrongly show them."""
    return Referral.objects.filter(
        Q(assigned_unit__isnull=True, organisation__isnull=False)
        | Q(assigned_unit__isnull=False)
        & (Q(organisation__isnull=True) | ~Q(organisation_id=F("assigned_unit__organisation_id")))
    )


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
    return may_assign_in(referral.district_id, unit.pk)


def may_assign_in(district_id: int, unit_id: int) -> bool:
    """``may_assign`` for every referral of a district at once (a transfer plan's cases)."""
    return units_taking_referrals().serving_district(district_id).filter(pk=unit_id).exists()


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
