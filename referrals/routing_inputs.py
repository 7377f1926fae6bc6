"""Reads for routing: what ``routing.decide`` and ``routing.plan`` need for a referral (the
rules, the units of its district, the household's units now, the units it released), read
in a fixed number of queries, and the units' true loads. Moved out of
``referrals/selectors.py`` (issue 17), which keeps the visibility rules.
"""

from dataclasses import replace

from django.db.models import Count

from referrals.models import Referral, ReferralEvent, ReferralTask, Status
from referrals.routing_directory import routing_directory
from referrals.selectors import same_person
from services.models import ServiceUnit


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
    return units_released([referral.pk]).get(referral.pk, set())


def units_released(referral_ids) -> dict[int, set[int]]:
    """``units_released_by`` for many referrals in one query: {referral id: unit ids}."""
    released: dict[int, set[int]] = {}
    for referral_id, to_status, kind, unit_id, details in ReferralEvent.objects.filter(
        referral_id__in=referral_ids, unit__isnull=False
    ).values_list("referral_id", "to_status", "kind", "unit_id", "details"):
        if to_status == Status.REJECTED or (
            kind == ReferralEvent.Kind.OVERDUE and (details or {}).get("released")
        ):
            released.setdefault(referral_id, set()).add(unit_id)
    return released


def routing_inputs(referral: Referral, *, batch: "RoutingBatch | None" = None):
    """What ``routing.decide`` needs for ``referral``: the rules and the units serving its
    district from the directory (``routing_directory``: read once per version), and the
    referral's own facts and the units' loads in four small indexed queries (one more for a
    named institution: its matched team is taken among the units, wherever it serves); in
    a ``batch``, the loads and released units are the batch's, so one query is left."""
    from referrals import routing
    from services.models import Institution

    directory = batch.directory if batch else routing_directory()
    named = Institution.objects.filter(pk=referral.institution_id, is_active=True)
    team_id, institution_en, institution_zh = (
        referral.institution_id
        and named.values_list("matched_team_id", "name_en", "name_zh").first()
    ) or (None, "", "")
    units = directory.units_serving(referral.district_id, team_id=team_id)
    if batch or directory.version:  # kept: its loads are not read with it
        loads = batch.loads if batch else _loads(unit.id for unit in units)
        units = [replace(unit, current_load=loads.get(unit.id, 0)) for unit in units]
    released = batch.released.get(referral.pk, set()) if batch else units_released_by(referral)
    facts = routing.ReferralFacts(
        district_id=referral.district_id,
        sub_district_id=referral.sub_district_id,
        needs=frozenset(need.code for need in referral.needs.all()),
        risk_level=referral.risk_level,
        risk_factors=frozenset(referral.risk_factors),
        household=referral.household,
        excluded_unit_ids=frozenset(released),
        serving_unit_refs=tuple(units_serving_household(referral)),
        institution_team_id=team_id,
        institution_name_en=institution_en,
        institution_name_zh=institution_zh,
    )
    district = referral.district
    sub_district = referral.sub_district
    place = {"en": district.name_en, "zh": district.name_zh}
    area = {"en": sub_district.name_en, "zh": sub_district.name_zh} if sub_district else place
    return facts, units, list(directory.rules), {"area": area, "district": place}


def routing_decision_for(referral: Referral, *, needs: set[str] | None = None, lead: bool = True):
    """The routing decision for ``referral``; with ``needs`` (codes), for those alone (a
    declined task's), as its lead (every rule) or as a part (``routing.decide_part``)."""
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


def _loads(unit_ids) -> dict[int, int]:
    """The units' load counters (``current_load``), which routing ranks by."""
    return dict(ServiceUnit.objects.filter(pk__in=list(unit_ids)).values_list("pk", "current_load"))


class RoutingBatch:
    """Submitted referrals routed together (``services.referrals_route``), locked in the
    caller's transaction (``SKIP LOCKED``: those another holds are left to their own job):
    the directory, the units' loads and the units each referral released read once for
    all, then each referral planned on the loads the plans before it added. Its needs come
    with it; the household's units are read per referral, so a referral sees the tasks an
    earlier one of the same household was given."""

    def __init__(self, ids) -> None:
        waiting = Referral.objects.select_for_update(of=("self",), skip_locked=True)
        locked = waiting.select_related("district", "sub_district").prefetch_related("needs")
        by_id = {r.pk: r for r in locked.filter(pk__in=list(ids), status=Status.SUBMITTED)}
        self.referrals = [by_id[pk] for pk in ids if pk in by_id]
        self.directory = routing_directory()
        self.loads = _loads(unit.id for unit in self.directory.units)
        self.released = units_released(list(by_id))

    def plan(self, referral: Referral):
        """The referral's plan, its units' loads counted up as the caller applies it (a
        submitted referral's parts are each a new task for another unit)."""
        from referrals import routing

        facts, units, rules, places = routing_inputs(referral, batch=self)
        plan = routing.plan(facts, units, rules, **places)
        for part in plan.parts:
            if part.decision.unit is not None:
                self.loads[part.decision.unit.id] = self.loads.get(part.decision.unit.id, 0) + 1
        return plan
