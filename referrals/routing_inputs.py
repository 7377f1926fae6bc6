"""Reads for routing: what ``routing.decide`` and ``routing.plan`` need for a referral (the
rules, the units of its district, the household's units now, the units it released), read
in a fixed number of queries, and the units' true loads. Moved out of
``referrals/selectors.py`` (issue 17), which keeps the visibility rules.
"""

from django.db.models import Count

from referrals.models import Referral, ReferralEvent, ReferralTask, Status
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
    """What ``routing.decide`` needs for ``referral``, read in a fixed number of queries (one
    more for a named institution: its matched team is read among the units, wherever)."""
    from referrals import routing
    from referrals.models import RoutingRule
    from services.models import Institution

    named = Institution.objects.filter(pk=referral.institution_id, is_active=True)
    team_id, institution_en, institution_zh = (
        referral.institution_id
        and named.values_list("matched_team_id", "name_en", "name_zh").first()
    ) or (None, "", "")
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
            match_institution=rule.match_institution,
        )
        for rule in RoutingRule.objects.filter(is_active=True).prefetch_related(
            "needs", "unit_types"
        )
    ]
    unit_types = {code for rule in rules for code in rule.unit_types}
    candidates = ServiceUnit.objects.serving_district(referral.district_id)
    if team_id is not None:
        candidates |= ServiceUnit.objects.filter(pk=team_id)
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
        for unit in candidates.filter(unit_type__code__in=unit_types)
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
        institution_team_id=team_id,
        institution_name_en=institution_en,
        institution_name_zh=institution_zh,
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
