"""Which unit a referral should go to, and why: a pure function.

``decide(facts, units, rules)`` takes plain values (built from the database by
``referrals.routing_inputs.routing_inputs``) and returns a ``Decision``: the chosen unit, the
runners-up and the reasons in plain words. No ORM, no Celery, no clock, so every rule and
tie-break can be tested with a table.

How a unit is chosen:

1. Active rules are tried in priority order; a rule matches when every criterion it names
   matches the referral (needs, risk levels, risk factors, household, district). A rule
   asking for the institution's team (``match_institution``) matches only a referral naming
   an active kindergarten or child care centre that has a matched team.
2. The candidates of a matching rule are the units of its unit types that are active,
   have not declined (or let lapse) this referral, and whose catchment covers the
   subject's sub-district. Only when none does, units serving the district are used. For a
   rule asking for the institution's team, the one candidate is that team (the pairing
   is its coverage); if it is inactive or declined, the next rule is tried.
3. Among candidates: a unit already serving this household first (continuity of care),
   then units with spare capacity, then the lowest load relative to capacity, then code.
4. A rule with no candidate passes to the next matching rule. No rule with a candidate:
   the referral goes to the district office's triage queue, with the reasons.

Reasons are stored as codes with parameters (``Reason``) and rendered in the reader's
language; names carry both languages.
"""

from dataclasses import dataclass, field, replace

from django.utils.translation import gettext_lazy as _

from welfare_portal.bilingual import prefers_chinese


@dataclass(frozen=True)
class UnitFacts:
    id: int
    code: str
    name_en: str
    name_zh: str
    unit_type: str
    district_id: int
    catchment_district_ids: frozenset[int] = frozenset()
    catchment_sub_district_ids: frozenset[int] = frozenset()
    # Districts the unit's named sub-districts belong to (for the district fallback).
    catchment_sub_district_district_ids: frozenset[int] = frozenset()
    is_active: bool = True
    capacity: int = 0
    current_load: int = 0
    # The needs its unit type serves (``UnitType.needs``): what a lead unit takes on.
    needs_served: frozenset[str] = frozenset()

    @property
    def spare(self) -> int:
        return max(self.capacity - self.current_load, 0)

    @property
    def load_ratio(self) -> float:
        return self.current_load / self.capacity if self.capacity else float("inf")

    def covers_sub_district(self, district_id: int, sub_district_id: int | None) -> bool:
        return district_id in self.catchment_district_ids or (
            sub_district_id is not None and sub_district_id in self.catchment_sub_district_ids
        )

    def serves_district(self, district_id: int) -> bool:
        return (
            self.district_id == district_id
            or district_id in self.catchment_district_ids
            or district_id in self.catchment_sub_district_district_ids
        )

    def label(self) -> dict[str, str]:
        return {"en": self.name_en, "zh": self.name_zh}


@dataclass(frozen=True)
class RuleFacts:
    id: int
    code: str
    name_en: str
    name_zh: str
    priority: int
    unit_types: tuple[str, ...]
    needs: frozenset[str] = frozenset()
    risk_levels: frozenset[str] = frozenset()
    risk_factors: frozenset[str] = frozenset()
    households: frozenset[str] = frozenset()
    district_id: int | None = None
    sla_amount: int = 2
    sla_unit: str = "business_days"
    escalate_at_once: bool = False
    when_overdue: str = "reroute"
    is_active: bool = True
    # Only referrals naming an institution with a matched team, and only to that team.
    match_institution: bool = False

    def matches(self, facts: "ReferralFacts") -> bool:
        return (
            self.is_active
            and (not self.match_institution or facts.institution_team_id is not None)
            and (not self.needs or bool(self.needs & facts.needs))
            and (not self.risk_levels or facts.risk_level in self.risk_levels)
            and (not self.risk_factors or bool(self.risk_factors & facts.risk_factors))
            and (not self.households or facts.household in self.households)
            and (self.district_id is None or self.district_id == facts.district_id)
        )

    def label(self) -> dict[str, str]:
        return {"en": self.name_en, "zh": self.name_zh}


@dataclass(frozen=True)
class ReferralFacts:
    district_id: int
    sub_district_id: int | None
    needs: frozenset[str]
    risk_level: str
    risk_factors: frozenset[str] = frozenset()
    household: str = ""
    # Units that declined this referral or let it pass its deadline.
    excluded_unit_ids: frozenset[int] = frozenset()
    # Units serving this household now, most recent first, with the referral that shows it.
    serving_unit_refs: tuple[tuple[int, str], ...] = ()
    # The kindergarten or child care centre the referral names (issue 17), if it is active
    # and has a matched team: that team, and the institution's name for the reasons.
    institution_team_id: int | None = None
    institution_name_en: str = ""
    institution_name_zh: str = ""

    def institution_label(self) -> dict[str, str]:
        return {"en": self.institution_name_en, "zh": self.institution_name_zh}


@dataclass(frozen=True)
class Reason:
    code: str
    params: dict = field(default_factory=dict)

    def text(self) -> str:
        template = REASON_TEXTS.get(self.code)
        if template is None:
            return self.code
        return str(template) % {key: _localise(value) for key, value in self.params.items()}

    def as_json(self) -> dict:
        return {"code": self.code, "params": self.params}


def _localise(value):
    if isinstance(value, dict) and {"en", "zh"} <= value.keys():
        return value["zh"] if prefers_chinese() else value["en"]
    return value


REASON_TEXTS = {
    "rule_matched": _("Rule “%(rule)s” matches this referral."),
    "rule_no_unit": _("Rule “%(rule)s” matches, but no active unit of its types serves here."),
    "no_rule": _("No routing rule matches these needs and this situation."),
    "no_needs": _("No needs were named, so no rule can choose a unit."),
    "catchment_sub_district": _("%(unit)s’s catchment covers the sub-district %(area)s."),
    "catchment_district": _(
        "No unit of this type covers the sub-district; %(unit)s serves the district %(area)s."
    ),
    "continuity": _("%(unit)s already serves this household (referral %(reference)s)."),
    "institution_match": _(
        "%(unit)s is the pre-primary social work team matched to %(institution)s, the "
        "kindergarten or child care centre named in the referral."
    ),
    "spare_capacity": _(
        "%(unit)s has spare capacity (%(spare)s of %(capacity)s places free) and the lowest "
        "load relative to capacity among %(count)s candidates."
    ),
    "lowest_load": _(
        "No candidate has spare capacity; %(unit)s has the lowest load relative to capacity "
        "(%(percent)s%%)."
    ),
    "only_candidate": _("%(unit)s is the only candidate."),
    "excluded_declined": _("%(unit)s is excluded: it declined or let this referral lapse."),
    "excluded_inactive": _("%(unit)s is excluded: it is not taking referrals."),
    "escalate_at_once": _("The rule asks for the district office to be alerted at once."),
    "overdue": _("Not acknowledged in time; the rule asks for the district office to step in."),
    "to_triage": _("The referral waits in the district office's triage queue."),
    "manual": _("Assigned by the district office."),
    "override": _("The district office chose another unit than the suggested one."),
    "lead_chosen": _("The district office made %(unit)s the lead unit."),
    "on_call": _(
        "Urgent and not acknowledged in time: %(unit)s, on call day and night, is asked at once."
    ),
    "not_reached": _("The person could not be reached after the set number of tries."),
    "need_unrouted": _(
        "No unit was found for the need “%(need)s”; the district office will route it."
    ),
}


@dataclass(frozen=True)
class Candidate:
    unit: UnitFacts
    coverage: str  # "sub_district", "district" or "institution" (the matched team)
    serving_reference: str = ""

    @property
    def has_spare(self) -> bool:
        return self.unit.spare > 0

    def sort_key(self) -> tuple:
        return (
            not self.serving_reference,
            not self.has_spare,
            self.unit.load_ratio,
            self.unit.code,
        )


@dataclass(frozen=True)
class Decision:
    rule: RuleFacts | None
    chosen: Candidate | None
    runners_up: tuple[Candidate, ...]
    reasons: tuple[Reason, ...]
    escalate: bool = False

    @property
    def unit(self) -> UnitFacts | None:
        return self.chosen.unit if self.chosen else None

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return ((self.chosen,) if self.chosen else ()) + self.runners_up

    def as_json(self) -> dict:
        return {
            "rule": self.rule.code if self.rule else None,
            "unit": self.unit.code if self.unit else None,
            "escalate": self.escalate,
            "reasons": [reason.as_json() for reason in self.reasons],
            "candidates": [candidate.unit.code for candidate in self.candidates],
        }


def _candidates(
    rule: RuleFacts, facts: ReferralFacts, units: list[UnitFacts]
) -> tuple[list[Candidate], list[Reason]]:
    of_type = [unit for unit in units if unit.unit_type in rule.unit_types]
    if rule.match_institution:
        # The pairing is the team's coverage, wherever its catchment lies.
        of_type = [unit for unit in of_type if unit.id == facts.institution_team_id]
    excluded: list[Reason] = []
    eligible = []
    for unit in of_type:
        if not rule.match_institution and not unit.serves_district(facts.district_id):
            continue
        if not unit.is_active:
            excluded.append(Reason("excluded_inactive", {"unit": unit.label()}))
        elif unit.id in facts.excluded_unit_ids:
            excluded.append(Reason("excluded_declined", {"unit": unit.label()}))
        else:
            eligible.append(unit)
    serving = {}
    for unit_id, reference in facts.serving_unit_refs:
        serving.setdefault(unit_id, reference)
    if rule.match_institution:
        matched = [
            Candidate(unit=unit, coverage="institution", serving_reference=serving.get(unit.id, ""))
            for unit in eligible
        ]
        return matched, excluded
    covering = [
        unit
        for unit in eligible
        if unit.covers_sub_district(facts.district_id, facts.sub_district_id)
    ]
    coverage = "sub_district" if covering else "district"
    chosen_pool = covering or eligible
    candidates = [
        Candidate(unit=unit, coverage=coverage, serving_reference=serving.get(unit.id, ""))
        for unit in chosen_pool
    ]
    return sorted(candidates, key=Candidate.sort_key), excluded


def _why_chosen(
    chosen: Candidate,
    others: list[Candidate],
    area: dict[str, str],
    district: dict[str, str],
    institution: dict[str, str],
) -> list[Reason]:
    unit = chosen.unit.label()
    if chosen.coverage == "institution":
        reasons = [Reason("institution_match", {"unit": unit, "institution": institution})]
        if chosen.serving_reference:
            reasons.append(
                Reason("continuity", {"unit": unit, "reference": chosen.serving_reference})
            )
        return reasons
    reasons = [
        Reason("catchment_sub_district", {"unit": unit, "area": area})
        if chosen.coverage == "sub_district"
        else Reason("catchment_district", {"unit": unit, "area": district})
    ]
    if chosen.serving_reference:
        reasons.append(Reason("continuity", {"unit": unit, "reference": chosen.serving_reference}))
    elif not others:
        reasons.append(Reason("only_candidate", {"unit": unit}))
    elif chosen.has_spare:
        reasons.append(
            Reason(
                "spare_capacity",
                {
                    "unit": unit,
                    "spare": chosen.unit.spare,
                    "capacity": chosen.unit.capacity,
                    "count": len(others) + 1,
                },
            )
        )
    else:
        percent = round(chosen.unit.load_ratio * 100) if chosen.unit.capacity else "∞"
        reasons.append(Reason("lowest_load", {"unit": unit, "percent": percent}))
    return reasons


def decide(
    facts: ReferralFacts,
    units: list[UnitFacts],
    rules: list[RuleFacts],
    *,
    area: dict[str, str] | None = None,
    district: dict[str, str] | None = None,
) -> Decision:
    """The routing decision for ``facts``; ``area``/``district`` name the place in reasons."""
    area = area or {"en": "", "zh": ""}
    district = district or {"en": "", "zh": ""}
    reasons: list[Reason] = []
    matching = [
        rule for rule in sorted(rules, key=lambda r: (r.priority, r.code)) if rule.matches(facts)
    ]
    if not matching:
        reasons.append(Reason("no_needs" if not facts.needs else "no_rule"))
    for tried, rule in enumerate(matching):
        candidates, excluded = _candidates(rule, facts, units)
        if not candidates:
            reasons.append(Reason("rule_no_unit", {"rule": rule.label()}))
            reasons.extend(excluded)
            continue
        chosen, others = candidates[0], candidates[1:]
        reasons.append(Reason("rule_matched", {"rule": rule.label()}))
        reasons.extend(_why_chosen(chosen, others, area, district, facts.institution_label()))
        reasons.extend(excluded)
        # A more urgent rule that found no unit still asks for the office to be alerted.
        escalate = any(earlier.escalate_at_once for earlier in matching[: tried + 1])
        if escalate:
            reasons.append(Reason("escalate_at_once"))
        return Decision(
            rule=rule,
            chosen=chosen,
            runners_up=tuple(others),
            reasons=tuple(reasons),
            escalate=escalate,
        )
    reasons.append(Reason("to_triage"))
    escalate = any(rule.escalate_at_once for rule in matching)
    return Decision(
        rule=None, chosen=None, runners_up=(), reasons=tuple(reasons), escalate=escalate
    )


@dataclass(frozen=True)
class Part:
    """One unit's share of a referral: the needs it serves and the decision that chose it."""

    decision: Decision
    needs: frozenset[str]
    is_lead: bool = False


@dataclass(frozen=True)
class Plan:
    """A unit per need (issue 16): the lead first, then the others; ``unrouted`` are the
    needs no rule found a unit for, which the district office routes by hand."""

    parts: tuple[Part, ...]
    unrouted: tuple[str, ...] = ()

    @property
    def lead(self) -> Part:
        return self.parts[0]


def decide_part(
    facts: ReferralFacts,
    units: list[UnitFacts],
    rules: list[RuleFacts],
    needs,
    *,
    area: dict[str, str] | None = None,
    district: dict[str, str] | None = None,
) -> Decision:
    """The unit for some of a referral's ``needs`` beside its lead: decided on those needs
    alone, by the rules that name needs (``plan``; and again when that unit declines)."""
    return decide(
        replace(facts, needs=frozenset(needs)),
        units,
        [rule for rule in rules if rule.needs],
        area=area,
        district=district,
    )


def plan(
    facts: ReferralFacts,
    units: list[UnitFacts],
    rules: list[RuleFacts],
    *,
    area: dict[str, str] | None = None,
    district: dict[str, str] | None = None,
) -> Plan:
    """Which unit serves which of the referral's needs.

    The lead is the unit ``decide`` chooses for the whole referral (the most pressing rule
    that found a unit, so the main need's unit); it takes every need its unit type serves
    and the needs its rule names. Each need left is decided on its own, in code order, by
    the rules that name needs (a rule matching on the situation alone, such as "carer
    admitted to hospital → the hotline", is about the whole referral: it chose the lead); a
    need whose unit is already chosen joins that unit's part, so one unit gets one task for
    all the needs it serves. No lead (no rule found a unit): the whole referral goes to
    triage, as one part without a unit."""
    lead = decide(facts, units, rules, area=area, district=district)
    if lead.unit is None:
        return Plan(parts=(Part(lead, facts.needs, is_lead=True),))
    covered = facts.needs & (lead.unit.needs_served | (lead.rule.needs if lead.rule else set()))
    parts: dict[int, Part] = {lead.unit.id: Part(lead, frozenset(covered), is_lead=True)}
    unrouted = []
    for need in sorted(facts.needs - covered):
        decision = decide_part(facts, units, rules, {need}, area=area, district=district)
        if decision.unit is None:
            unrouted.append(need)
            continue
        known = parts.get(decision.unit.id)
        parts[decision.unit.id] = (
            Part(known.decision, known.needs | {need}, known.is_lead)
            if known
            else Part(decision, frozenset({need}))
        )
    return Plan(parts=tuple(parts.values()), unrouted=tuple(unrouted))


def reasons_from_json(data: list[dict]) -> list[Reason]:
    return [Reason(item.get("code", ""), item.get("params", {})) for item in data or []]
