"""Routing: which unit a referral goes to and why, for every rule, catchment and tie-break.

Most tables call the pure ``decide`` on facts built by hand; the shipped default rules and
the selectors that read the database are tested against PostgreSQL.
"""

import json
import zlib
from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.translation import override

from referrals.models import ReferralEvent, Status
from referrals.routing import (
    Reason,
    ReferralFacts,
    RuleFacts,
    UnitFacts,
    decide,
    reasons_from_json,
)
from referrals.routing_inputs import (
    routing_decision_for,
    routing_inputs,
    units_released_by,
    units_serving_household,
)
from services.models import NeedCategory
from tests import factories

# A district with two sub-districts, and a district next door with one.
DISTRICT, OTHER_DISTRICT = 1, 2
AREA, NEIGHBOUR_AREA, FAR_AREA = 11, 12, 21
DISTRICT_OF = {AREA: DISTRICT, NEIGHBOUR_AREA: DISTRICT, FAR_AREA: OTHER_DISTRICT}
AREA_NAME = {"en": "Shek Kip Mei", "zh": "石硤尾"}
DISTRICT_NAME = {"en": "Sham Shui Po", "zh": "深水埗區"}
UNIT_TYPES = [
    "IFSC", "ISC", "FCPSU", "ICCMW", "DECC", "NEC", "DE", "DSC", "PRC",
    "CARE_TEAM", "CARER_HOTLINE", "PPSW", "DSWO",
]  # fmt: skip


def _id(code: str) -> int:
    return zlib.crc32(code.encode())


def label(code: str) -> dict[str, str]:
    return {"en": f"Centre {code}", "zh": f"中心{code}"}


def unit(
    code,
    unit_type="IFSC",
    *,
    located=DISTRICT,
    areas=(),
    districts=(),
    capacity=100,
    load=10,
    active=True,
) -> UnitFacts:
    """A unit located in ``located`` whose catchment names ``areas`` and whole ``districts``."""
    return UnitFacts(
        id=_id(code),
        code=code,
        name_en=label(code)["en"],
        name_zh=label(code)["zh"],
        unit_type=unit_type,
        district_id=located,
        catchment_district_ids=frozenset(districts),
        catchment_sub_district_ids=frozenset(areas),
        catchment_sub_district_district_ids=frozenset(DISTRICT_OF[area] for area in areas),
        is_active=active,
        capacity=capacity,
        current_load=load,
    )


def rule(
    code,
    priority=50,
    unit_types=("IFSC",),
    *,
    needs=(),
    levels=(),
    factors=(),
    households=(),
    district=None,
    escalate=False,
    active=True,
) -> RuleFacts:
    return RuleFacts(
        id=_id(code),
        code=code,
        name_en=f"Rule {code}",
        name_zh=f"規則{code}",
        priority=priority,
        unit_types=tuple(unit_types),
        needs=frozenset(needs),
        risk_levels=frozenset(levels),
        risk_factors=frozenset(factors),
        households=frozenset(households),
        district_id=district,
        escalate_at_once=escalate,
        is_active=active,
    )


def referral(
    needs=("financial_hardship",),
    *,
    level="routine",
    factors=(),
    household="",
    district=DISTRICT,
    area=AREA,
    excluded=(),
    serving=(),
) -> ReferralFacts:
    """Facts of a referral; ``excluded`` and ``serving`` name units by code."""
    return ReferralFacts(
        district_id=district,
        sub_district_id=area,
        needs=frozenset(needs),
        risk_level=level,
        risk_factors=frozenset(factors),
        household=household,
        excluded_unit_ids=frozenset(_id(code) for code in excluded),
        serving_unit_refs=tuple((_id(code), reference) for code, reference in serving),
    )


MONEY = rule("money", 60, ("IFSC", "ISC"), needs={"financial_hardship"})


def route(facts, units, rules=(MONEY,)):
    return decide(facts, list(units), list(rules), area=AREA_NAME, district=DISTRICT_NAME)


def codes(decision) -> list[str]:
    return [candidate.unit.code for candidate in decision.candidates]


# --- Rule criteria and priority ----------------------------------------------------------

ALL_CRITERIA = {
    "needs": {"child_family"},
    "levels": {"urgent"},
    "factors": {"abuse_or_neglect"},
    "households": {"young_children"},
    "district": DISTRICT,
}
CRITERIA_CASES = [
    pytest.param({}, referral(("housing",)), True, id="no-criteria"),
    pytest.param(
        {"needs": {"housing", "financial_hardship"}},
        referral(("housing", "elderly_care")),
        True,
        id="one-need-shared",
    ),
    pytest.param({"needs": {"housing"}}, referral(("elderly_care",)), False, id="no-need-shared"),
    pytest.param({"needs": {"housing"}}, referral(()), False, id="no-needs-named"),
    pytest.param({"levels": {"urgent"}}, referral(level="urgent"), True, id="level"),
    pytest.param({"levels": {"urgent"}}, referral(level="priority"), False, id="other-level"),
    pytest.param(
        {"factors": {"abuse_or_neglect"}},
        referral(factors=("unsafe_home", "abuse_or_neglect")),
        True,
        id="risk-factor",
    ),
    pytest.param(
        {"factors": {"abuse_or_neglect"}},
        referral(factors=("unsafe_home",)),
        False,
        id="other-risk-factor",
    ),
    pytest.param({"factors": {"abuse_or_neglect"}}, referral(), False, id="no-risk-factor"),
    pytest.param(
        {"households": {"young_children"}},
        referral(household="young_children"),
        True,
        id="household",
    ),
    pytest.param(
        {"households": {"young_children"}},
        referral(household="lives_alone"),
        False,
        id="other-household",
    ),
    pytest.param(
        {"households": {"young_children"}}, referral(household=""), False, id="no-household"
    ),
    pytest.param({"district": DISTRICT}, referral(), True, id="district"),
    pytest.param({"district": OTHER_DISTRICT}, referral(), False, id="other-district"),
    pytest.param(
        ALL_CRITERIA,
        referral(
            ("child_family",),
            level="urgent",
            factors=("abuse_or_neglect",),
            household="young_children",
        ),
        True,
        id="all-criteria",
    ),
    pytest.param(
        ALL_CRITERIA,
        referral(
            ("child_family",), level="urgent", factors=("abuse_or_neglect",), household="other"
        ),
        False,
        id="all-but-household",
    ),
    pytest.param(
        {"needs": {"housing"}, "active": False}, referral(("housing",)), False, id="inactive"
    ),
]


@pytest.mark.parametrize(("criteria", "facts", "matches"), CRITERIA_CASES)
def test_rule_matches_when_every_criterion_it_names_matches(criteria, facts, matches):
    only = rule("only", 10, ("IFSC",), **criteria)
    decision = route(facts, [unit("a", districts=(DISTRICT,))], [only])
    assert (decision.rule == only) is matches
    assert (decision.unit is not None) is matches
    first = Reason("rule_matched", {"rule": only.label()})
    assert (decision.reasons[0] == first) is matches
    assert (decision.reasons[-1] == Reason("to_triage")) is not matches


MONEY_TO_IFSC = rule("money", 60, ("IFSC",), needs={"financial_hardship"})
HOUSING_TO_ISC = rule("housing", 80, ("ISC",), needs={"housing"})
PRIORITY_CASES = [
    pytest.param([MONEY_TO_IFSC, HOUSING_TO_ISC], "money", "ifsc", id="lower-number-first"),
    pytest.param([HOUSING_TO_ISC, MONEY_TO_IFSC], "money", "ifsc", id="whatever-the-list-order"),
    pytest.param(
        [MONEY_TO_IFSC, rule("broad", 5, ("ISC",))], "broad", "isc", id="priority-over-detail"
    ),
    pytest.param(
        [rule("b-rule", 10, ("IFSC",)), rule("a-rule", 10, ("ISC",))],
        "a-rule",
        "isc",
        id="same-priority-by-code",
    ),
    pytest.param(
        [MONEY_TO_IFSC, rule("off", 1, ("ISC",), active=False)],
        "money",
        "ifsc",
        id="inactive-rule-skipped",
    ),
]


@pytest.mark.parametrize(("rules", "rule_code", "unit_code"), PRIORITY_CASES)
def test_matching_rules_are_tried_in_priority_order(rules, rule_code, unit_code):
    facts = referral(("financial_hardship", "housing"))
    decision = route(facts, [unit("ifsc", "IFSC"), unit("isc", "ISC")], rules)
    assert decision.rule.code == rule_code
    assert decision.unit.code == unit_code
    assert decision.reasons[0] == Reason("rule_matched", {"rule": decision.rule.label()})


# --- Catchment ---------------------------------------------------------------------------

LOCATED = unit("located", load=0)  # in the district, catchment names nothing
NAMED = unit("named", areas=(AREA,), load=90)
WHOLE = unit("whole", districts=(DISTRICT,), load=50)
NEIGHBOUR = unit("neighbour", areas=(NEIGHBOUR_AREA,), load=20)
OUTSIDER = unit("outsider", located=OTHER_DISTRICT, areas=(AREA,), load=30)
FAR = unit("far", located=OTHER_DISTRICT, areas=(FAR_AREA,), load=0)
REACHING = unit("reaching", located=OTHER_DISTRICT, areas=(NEIGHBOUR_AREA,), load=0)
SUB_DISTRICT, WHOLE_DISTRICT = "catchment_sub_district", "catchment_district"
CATCHMENT_CASES = [
    pytest.param([LOCATED, NAMED], AREA, ["named"], SUB_DISTRICT, id="named-beats-located"),
    pytest.param([LOCATED, WHOLE], AREA, ["whole"], SUB_DISTRICT, id="whole-district-covers"),
    pytest.param([NAMED, LOCATED, WHOLE], AREA, ["whole", "named"], SUB_DISTRICT, id="both-cover"),
    pytest.param(
        [NEIGHBOUR, LOCATED], AREA, ["located", "neighbour"], WHOLE_DISTRICT, id="fallback"
    ),
    pytest.param([LOCATED, OUTSIDER], AREA, ["outsider"], SUB_DISTRICT, id="from-next-door"),
    pytest.param([FAR, LOCATED], AREA, ["located"], WHOLE_DISTRICT, id="far-unit-not-serving"),
    pytest.param([FAR, REACHING], AREA, ["reaching"], WHOLE_DISTRICT, id="reaching-in"),
    pytest.param([LOCATED, WHOLE], None, ["whole"], SUB_DISTRICT, id="no-sub-district"),
    pytest.param(
        [LOCATED, NEIGHBOUR], None, ["located", "neighbour"], WHOLE_DISTRICT, id="none-covers"
    ),
]


@pytest.mark.parametrize(("units", "area", "expected", "coverage"), CATCHMENT_CASES)
def test_catchment(units, area, expected, coverage):
    """Units whose catchment covers the sub-district first; else units serving the district."""
    decision = route(referral(area=area), units)
    assert codes(decision) == expected
    place = AREA_NAME if coverage == SUB_DISTRICT else DISTRICT_NAME
    assert decision.reasons[1] == Reason(coverage, {"unit": label(expected[0]), "area": place})
    assert {candidate.coverage for candidate in decision.candidates} == {
        "sub_district" if coverage == SUB_DISTRICT else "district"
    }


def test_no_unit_serving_the_district_means_no_candidate():
    decision = route(referral(), [FAR, unit("elsewhere", located=OTHER_DISTRICT)])
    assert decision.unit is None
    assert decision.reasons == (
        Reason("rule_no_unit", {"rule": MONEY.label()}),
        Reason("to_triage"),
    )


# --- Continuity, capacity, load, code ----------------------------------------------------

ROOMY = unit("roomy", load=10)  # 90 places free
TIGHT = unit("tight", load=95)  # 5 places free
FULL = unit("full", capacity=10, load=15)  # none free
CONTINUITY_CASES = [
    pytest.param(
        [ROOMY, TIGHT],
        [("tight", "SSP-2026-000101")],
        (),
        ["tight", "roomy"],
        "SSP-2026-000101",
        id="less-spare",
    ),
    pytest.param(
        [ROOMY, FULL],
        [("full", "SSP-2026-000102")],
        (),
        ["full", "roomy"],
        "SSP-2026-000102",
        id="no-spare",
    ),
    pytest.param(
        [ROOMY, TIGHT],
        [("tight", "SSP-2026-000200"), ("roomy", "SSP-2026-000150"), ("tight", "SSP-2026-000100")],
        (),
        ["roomy", "tight"],
        "SSP-2026-000150",
        id="two-serving-then-capacity",
    ),
    pytest.param(
        [ROOMY, TIGHT],
        [("tight", "SSP-2026-000200"), ("tight", "SSP-2026-000100")],
        (),
        ["tight", "roomy"],
        "SSP-2026-000200",
        id="most-recent-reference",
    ),
    pytest.param(
        [ROOMY, TIGHT, unit("elderly", "DECC", load=0)],
        [("elderly", "SSP-2026-000103")],
        (),
        ["roomy", "tight"],
        None,
        id="serving-unit-of-other-type",
    ),
    pytest.param(
        [ROOMY, TIGHT],
        [("tight", "SSP-2026-000104")],
        ("tight",),
        ["roomy"],
        None,
        id="serving-unit-declined",
    ),
    pytest.param(
        [ROOMY, TIGHT],
        [("ghost", "SSP-2026-000105")],
        (),
        ["roomy", "tight"],
        None,
        id="serving-unit-not-known",
    ),
]


@pytest.mark.parametrize(
    ("units", "serving", "excluded", "expected", "reference"), CONTINUITY_CASES
)
def test_continuity_of_care(units, serving, excluded, expected, reference):
    """A unit already serving the household comes first, even with less room."""
    decision = route(referral(serving=serving, excluded=excluded), units)
    assert codes(decision) == expected
    continuity = [reason for reason in decision.reasons if reason.code == "continuity"]
    if reference is None:
        assert continuity == []
        assert decision.chosen.serving_reference == ""
    else:
        chosen = label(expected[0])
        assert continuity == [Reason("continuity", {"unit": chosen, "reference": reference})]
        assert decision.chosen.serving_reference == reference
        assert decision.reasons[1:3] == (
            Reason(WHOLE_DISTRICT, {"unit": chosen, "area": DISTRICT_NAME}),
            continuity[0],
        )


CAPACITY_CASES = [
    pytest.param(
        [unit("a", capacity=10, load=12), unit("b", capacity=10, load=9)],
        ["b", "a"],
        Reason("spare_capacity", {"unit": label("b"), "spare": 1, "capacity": 10, "count": 2}),
        id="spare-over-none",
    ),
    pytest.param(
        [unit("a", capacity=100, load=60), unit("c", capacity=10, load=10), unit("b", load=30)],
        ["b", "a", "c"],
        Reason("spare_capacity", {"unit": label("b"), "spare": 70, "capacity": 100, "count": 3}),
        id="lowest-load-among-spare",
    ),
    pytest.param(
        [
            unit("a", capacity=10, load=12),
            unit("b", capacity=100, load=110),
            unit("c", capacity=0, load=0),
        ],
        ["b", "a", "c"],
        Reason("lowest_load", {"unit": label("b"), "percent": 110}),
        id="lowest-load-none-spare",
    ),
    pytest.param(
        [unit("b", capacity=0, load=0), unit("a", capacity=0, load=3)],
        ["a", "b"],
        Reason("lowest_load", {"unit": label("a"), "percent": "∞"}),
        id="no-capacity-by-code",
    ),
    pytest.param(
        [unit("c", load=40), unit("a", load=40), unit("b", load=40)],
        ["a", "b", "c"],
        Reason("spare_capacity", {"unit": label("a"), "spare": 60, "capacity": 100, "count": 3}),
        id="tie-by-code",
    ),
    pytest.param(
        [unit("b", capacity=10, load=20), unit("a", capacity=20, load=40)],
        ["a", "b"],
        Reason("lowest_load", {"unit": label("a"), "percent": 200}),
        id="tie-overloaded-by-code",
    ),
    pytest.param(
        [unit("a", capacity=5, load=9)],
        ["a"],
        Reason("only_candidate", {"unit": label("a")}),
        id="only-candidate",
    ),
]


@pytest.mark.parametrize(("units", "expected", "why"), CAPACITY_CASES)
def test_capacity_then_load_then_code(units, expected, why):
    decision = route(referral(), units)
    assert codes(decision) == expected
    assert decision.reasons[2] == why


def test_spare_capacity_reason_tells_the_truth_about_the_most_free_places():
    """The reason says the chosen unit has the most free places among the candidates; a
    small centre with a low load ratio is chosen over a large one with more places free."""
    small = unit("small", capacity=10, load=1)  # 9 free, 10 % loaded
    large = unit("large", capacity=100, load=20)  # 80 free, 20 % loaded
    decision = route(referral(), [small, large])
    reason = next(reason for reason in decision.reasons if reason.code == "spare_capacity")
    most_free = max(candidate.unit.spare for candidate in decision.candidates)
    with override("en"):
        claims_the_most = "the most" in reason.text()
    assert not claims_the_most or reason.params["spare"] == most_free


def test_runners_up_in_order():
    units = [
        unit("full", capacity=10, load=10),
        unit("busy", load=80),
        unit("quiet", load=5),
        unit("no-places", capacity=0),
        unit("held", load=99),
        unit("closed", load=0, active=False),
        unit("elderly", "DECC", load=0),
    ]
    decision = route(referral(serving=[("held", "SSP-2026-000001")]), units)
    assert decision.unit.code == "held"
    assert [candidate.unit.code for candidate in decision.runners_up] == [
        "quiet",
        "busy",
        "full",
        "no-places",
    ]
    assert decision.as_json()["candidates"] == ["held", "quiet", "busy", "full", "no-places"]


# --- Exclusions, falling through, triage, escalation -------------------------------------

BEST = unit("best", load=0)
NEXT = unit("next", load=50)
EXCLUSION_CASES = [
    pytest.param(
        [unit("best", load=0, active=False), NEXT],
        (),
        ["next"],
        [Reason("excluded_inactive", {"unit": label("best")})],
        id="inactive",
    ),
    pytest.param(
        [BEST, NEXT],
        ("best",),
        ["next"],
        [Reason("excluded_declined", {"unit": label("best")})],
        id="declined",
    ),
    pytest.param(
        [unit("best", load=0, active=False), NEXT],
        ("best",),
        ["next"],
        [Reason("excluded_inactive", {"unit": label("best")})],
        id="inactive-and-declined",
    ),
    pytest.param(
        [BEST, NEXT, unit("away", located=OTHER_DISTRICT, active=False)],
        ("best", "away"),
        ["next"],
        [Reason("excluded_declined", {"unit": label("best")})],
        id="units-elsewhere-not-named",
    ),
    pytest.param(
        [BEST, unit("next", load=50, active=False)],
        ("best",),
        [],
        [
            Reason("excluded_declined", {"unit": label("best")}),
            Reason("excluded_inactive", {"unit": label("next")}),
        ],
        id="all-excluded",
    ),
]


@pytest.mark.parametrize(("units", "excluded", "expected", "exclusions"), EXCLUSION_CASES)
def test_inactive_and_declined_units_are_excluded(units, excluded, expected, exclusions):
    decision = route(referral(excluded=excluded), units)
    assert codes(decision) == expected
    assert [reason for reason in decision.reasons if reason.code.startswith("excluded_")] == (
        exclusions
    )
    if expected:
        assert decision.reasons[0] == Reason("rule_matched", {"rule": MONEY.label()})
    else:
        assert decision.reasons == (
            Reason("rule_no_unit", {"rule": MONEY.label()}),
            *exclusions,
            Reason("to_triage"),
        )


def test_rule_without_candidates_falls_through_to_the_next_matching_rule():
    protect = rule("protect", 10, ("FCPSU",), needs={"child_protection"})
    units = [unit("fcpsu", "FCPSU", active=False), unit("ifsc", "IFSC")]
    decision = route(referral(("child_protection", "financial_hardship")), units, [MONEY, protect])
    assert decision.rule == MONEY
    assert decision.unit.code == "ifsc"
    assert decision.reasons[:4] == (
        Reason("rule_no_unit", {"rule": protect.label()}),
        Reason("excluded_inactive", {"unit": label("fcpsu")}),
        Reason("rule_matched", {"rule": MONEY.label()}),
        Reason(WHOLE_DISTRICT, {"unit": label("ifsc"), "area": DISTRICT_NAME}),
    )


TRIAGE_CASES = [
    pytest.param(referral(()), [MONEY], [unit("a")], ["no_needs"], id="no-needs"),
    pytest.param(referral(("housing",)), [MONEY], [unit("a")], ["no_rule"], id="no-rule"),
    pytest.param(
        referral(),
        [rule("money", 60, needs={"financial_hardship"}, active=False)],
        [unit("a")],
        ["no_rule"],
        id="rule-inactive",
    ),
    pytest.param(referral(), [MONEY], [], ["rule_no_unit"], id="no-unit"),
    pytest.param(
        referral(("financial_hardship", "housing")),
        [MONEY, rule("housing", 80, ("ISC",), needs={"housing"})],
        [unit("a", "DECC")],
        ["rule_no_unit", "rule_no_unit"],
        id="no-unit-for-any-rule",
    ),
]


@pytest.mark.parametrize(("facts", "rules", "units", "first_codes"), TRIAGE_CASES)
def test_no_rule_with_a_unit_goes_to_triage(facts, rules, units, first_codes):
    decision = route(facts, units, rules)
    assert decision.unit is None
    assert decision.rule is None
    assert decision.candidates == ()
    assert decision.escalate is False
    assert [reason.code for reason in decision.reasons] == [*first_codes, "to_triage"]
    assert decision.as_json()["unit"] is None
    assert decision.as_json()["rule"] is None


URGENT = rule("urgent", 10, ("FCPSU",), needs={"child_protection"}, escalate=True)
ESCALATION_CASES = [
    pytest.param(
        referral(("child_protection",)),
        [unit("fcpsu", "FCPSU")],
        "fcpsu",
        True,
        True,
        id="escalating-rule",
    ),
    pytest.param(
        referral(),
        [unit("fcpsu", "FCPSU"), unit("ifsc")],
        "ifsc",
        False,
        False,
        id="plain-rule",
    ),
    pytest.param(
        referral(("child_protection",)),
        [unit("ifsc")],
        None,
        True,
        False,
        id="escalating-rule-without-unit",
    ),
]


@pytest.mark.parametrize(("facts", "units", "chosen", "escalate", "says_so"), ESCALATION_CASES)
def test_escalate_at_once(facts, units, chosen, escalate, says_so):
    decision = route(facts, units, [URGENT, MONEY])
    assert (decision.unit.code if decision.unit else None) == chosen
    assert decision.escalate is escalate
    assert decision.as_json()["escalate"] is escalate
    assert (decision.reasons[-1] == Reason("escalate_at_once")) is says_so


def test_escalation_survives_falling_through_to_another_rule():
    """A child-protection referral the protection unit cannot take still alerts the office
    at once, as it does when it goes to triage, when another of its needs finds a unit."""
    facts = referral(("child_protection", "financial_hardship"))
    decision = route(facts, [unit("ifsc")], [URGENT, MONEY])
    assert decision.unit.code == "ifsc"
    assert decision.reasons[0] == Reason("rule_no_unit", {"rule": URGENT.label()})
    assert decision.escalate is True


# --- Serialising and rendering reasons ----------------------------------------------------

ROUND_TRIP_CASES = [
    pytest.param(
        referral(serving=[("held", "SSP-2026-000009")], excluded=("declined",)),
        [unit("held", load=99), unit("quiet"), unit("declined"), unit("closed", active=False)],
        [rule("money", 60, needs={"financial_hardship"}, escalate=True)],
        id="continuity-exclusions-escalation",
    ),
    pytest.param(
        referral(), [unit("b", capacity=0), unit("a", capacity=0)], [MONEY], id="infinite-load"
    ),
    pytest.param(referral(()), [unit("a")], [MONEY], id="triage"),
]


@pytest.mark.parametrize(("facts", "units", "rules"), ROUND_TRIP_CASES)
def test_decision_as_json_round_trips(facts, units, rules):
    decision = route(facts, units, rules)
    stored = json.loads(json.dumps(decision.as_json()))
    assert stored["rule"] == (decision.rule.code if decision.rule else None)
    assert stored["unit"] == (decision.unit.code if decision.unit else None)
    assert stored["escalate"] is decision.escalate
    assert stored["candidates"] == codes(decision)
    assert reasons_from_json(stored["reasons"]) == list(decision.reasons)
    for language in ("en", "zh-hant"):
        with override(language):
            assert [reason.text() for reason in reasons_from_json(stored["reasons"])] == [
                reason.text() for reason in decision.reasons
            ]


def test_round_trip_of_a_full_decision():
    decision = route(
        referral(serving=[("held", "SSP-2026-000009")], excluded=("declined",)),
        [unit("held", load=99), unit("declined")],
        [rule("money", 60, needs={"financial_hardship"}, escalate=True)],
    )
    assert json.loads(json.dumps(decision.as_json())) == {
        "rule": "money",
        "unit": "held",
        "escalate": True,
        "reasons": [
            {"code": "rule_matched", "params": {"rule": {"en": "Rule money", "zh": "規則money"}}},
            {"code": WHOLE_DISTRICT, "params": {"unit": label("held"), "area": DISTRICT_NAME}},
            {
                "code": "continuity",
                "params": {"unit": label("held"), "reference": "SSP-2026-000009"},
            },
            {"code": "excluded_declined", "params": {"unit": label("declined")}},
            {"code": "escalate_at_once", "params": {}},
        ],
        "candidates": ["held"],
    }


@pytest.mark.parametrize("data", [None, []])
def test_reasons_from_nothing(data):
    assert reasons_from_json(data) == []


IFSC_NAME = {"en": "Sham Shui Po IFSC", "zh": "深水埗綜合家庭服務中心"}
RULE_NAME = {"en": "Financial hardship → IFSC", "zh": "經濟困難 → 綜合家庭服務中心"}
TEXT_CASES = [
    pytest.param(
        Reason("rule_matched", {"rule": RULE_NAME}),
        "Rule “Financial hardship → IFSC” matches this referral.",
        id="rule_matched",
    ),
    pytest.param(
        Reason("rule_no_unit", {"rule": RULE_NAME}),
        "Rule “Financial hardship → IFSC” matches, but no active unit of its types serves here.",
        id="rule_no_unit",
    ),
    pytest.param(
        Reason("catchment_sub_district", {"unit": IFSC_NAME, "area": AREA_NAME}),
        "Sham Shui Po IFSC’s catchment covers the sub-district Shek Kip Mei.",
        id="catchment_sub_district",
    ),
    pytest.param(
        Reason("catchment_district", {"unit": IFSC_NAME, "area": DISTRICT_NAME}),
        "No unit of this type covers the sub-district; Sham Shui Po IFSC serves the district "
        "Sham Shui Po.",
        id="catchment_district",
    ),
    pytest.param(
        Reason("continuity", {"unit": IFSC_NAME, "reference": "SSP-2026-000042"}),
        "Sham Shui Po IFSC already serves this household (referral SSP-2026-000042).",
        id="continuity",
    ),
    pytest.param(
        Reason("spare_capacity", {"unit": IFSC_NAME, "spare": 9, "capacity": 10, "count": 3}),
        "Sham Shui Po IFSC has spare capacity (9 of 10 places free) and the lowest load "
        "relative to capacity among 3 candidates.",
        id="spare_capacity",
    ),
    pytest.param(
        Reason("lowest_load", {"unit": IFSC_NAME, "percent": 120}),
        "No candidate has spare capacity; Sham Shui Po IFSC has the lowest load relative to "
        "capacity (120%).",
        id="lowest_load",
    ),
    pytest.param(
        Reason("only_candidate", {"unit": IFSC_NAME}),
        "Sham Shui Po IFSC is the only candidate.",
        id="only_candidate",
    ),
    pytest.param(
        Reason("excluded_declined", {"unit": IFSC_NAME}),
        "Sham Shui Po IFSC is excluded: it declined or let this referral lapse.",
        id="excluded_declined",
    ),
    pytest.param(
        Reason("excluded_inactive", {"unit": IFSC_NAME}),
        "Sham Shui Po IFSC is excluded: it is not taking referrals.",
        id="excluded_inactive",
    ),
    pytest.param(
        Reason("no_needs"), "No needs were named, so no rule can choose a unit.", id="no_needs"
    ),
    pytest.param(
        Reason("to_triage"),
        "The referral waits in the district office's triage queue.",
        id="triage",
    ),
    pytest.param(Reason("not_a_known_code"), "not_a_known_code", id="unknown-code"),
]


@pytest.mark.parametrize(("reason", "text"), TEXT_CASES)
def test_reason_text_in_english(reason, text):
    with override("en"):
        assert reason.text() == text


ZH_CASES = [
    pytest.param(Reason("rule_matched", {"rule": RULE_NAME}), [RULE_NAME], id="rule"),
    pytest.param(
        Reason("catchment_sub_district", {"unit": IFSC_NAME, "area": AREA_NAME}),
        [IFSC_NAME, AREA_NAME],
        id="unit-and-area",
    ),
    pytest.param(
        Reason("catchment_district", {"unit": IFSC_NAME, "area": DISTRICT_NAME}),
        [IFSC_NAME, DISTRICT_NAME],
        id="unit-and-district",
    ),
    pytest.param(
        Reason("continuity", {"unit": IFSC_NAME, "reference": "SSP-2026-000042"}),
        [IFSC_NAME],
        id="continuity",
    ),
    pytest.param(
        Reason("lowest_load", {"unit": IFSC_NAME, "percent": 120}), [IFSC_NAME], id="load"
    ),
]


@pytest.mark.parametrize(("reason", "names"), ZH_CASES)
def test_reason_text_picks_chinese_names_in_chinese(reason, names):
    with override("zh-hant"):
        text = reason.text()
    for name in names:
        assert name["zh"] in text
        assert name["en"] not in text
    if reason.code == "continuity":
        assert "SSP-2026-000042" in text


# --- The shipped default rules (from the data migration) ---------------------------------


@pytest.fixture
def default_rules(ssp_area, caring_team):
    """The default rules in the database, read as routing reads them."""
    saved = factories.ReferralFactory(referring_team=caring_team, sub_district=ssp_area)
    return routing_inputs(saved)[2]


EVERY_TYPE = [unit(code.lower(), code, areas=(AREA,)) for code in UNIT_TYPES]
HOURS, DAYS = "business_hours", "business_days"
# code, priority, a referral the rule takes, its unit types, SLA, alert at once, when overdue.
DEFAULT_RULES = [
    ("child-protection", 10, referral(("child_protection",)), {"FCPSU"}, (4, HOURS), True,
     "escalate"),
    ("abuse-signs-children", 11,
     referral((), level="urgent", factors=("abuse_or_neglect",), household="young_children"),
     {"FCPSU"}, (4, HOURS), True, "escalate"),
    ("carer-hospitalised-hotline", 15,
     referral(("elderly_care",), level="urgent", factors=("carer_hospitalised",)),
     {"CARER_HOTLINE"}, (2, HOURS), True, "escalate"),
    ("mental-health-urgent", 20,
     referral(("mental_health",), level="urgent", factors=("suicidal_talk",)), {"ICCMW"},
     (4, HOURS), True, "escalate"),
    ("emergency-relief", 25,
     referral(("emergency_relief",), level="urgent", factors=("no_food_or_money",)),
     {"IFSC", "ISC"}, (4, HOURS), False, "reroute"),
    ("disability-carer", 30, referral(("carer_support",), household="carer_of_disabled"),
     {"DSC", "PRC"}, (2, DAYS), False, "reroute"),
    ("disability-support", 31, referral(("disability_support",), household="other"),
     {"DSC", "PRC"}, (2, DAYS), False, "reroute"),
    ("mental-health", 40, referral(("mental_health",), level="priority"), {"ICCMW"}, (2, DAYS),
     False, "reroute"),
    ("carer-support", 50,
     referral(("carer_support",), level="priority", factors=("carer_breaking_point",),
              household="carer_of_elder"),
     {"DECC", "NEC", "PRC"}, (2, DAYS), False, "reroute"),
    ("financial-hardship", 60, referral(("financial_hardship",)), {"IFSC", "ISC"}, (2, DAYS),
     False, "reroute"),
    ("pre-primary-institution", 59,
     replace(referral(("child_family",), household="young_children"),
             institution_team_id=_id("ppsw")),
     {"PPSW"}, (3, DAYS), False, "reroute"),
    ("pre-primary-child-family", 60, referral(("child_family",), household="young_children"),
     {"PPSW"}, (3, DAYS), False, "reroute"),
    ("child-family", 61, referral(("child_family",), household="other"),
     {"IFSC", "ISC"}, (3, DAYS), False, "reroute"),
    ("elderly-day-care", 65, referral(("elderly_care",), household="carer_of_elder"),
     {"DE", "DECC"}, (2, DAYS), False, "reroute"),
    ("elderly-care", 70, referral(("elderly_care",), household="lives_alone"), {"DECC", "NEC"},
     (3, DAYS), False, "reroute"),
    ("housing", 80, referral(("housing",)), {"IFSC", "ISC"}, (3, DAYS), False, "reroute"),
]  # fmt: skip


@pytest.mark.django_db
def test_every_default_rule_is_in_the_table(default_rules):
    assert sorted(rule.code for rule in default_rules) == sorted(row[0] for row in DEFAULT_RULES)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "priority", "facts", "unit_types", "sla", "escalate", "when_overdue"),
    [pytest.param(*row, id=row[0]) for row in DEFAULT_RULES],
)
def test_default_rule(
    default_rules, code, priority, facts, unit_types, sla, escalate, when_overdue
):
    """Each shipped rule takes its referral to a unit of its types, and says so."""
    shipped = next(rule for rule in default_rules if rule.code == code)
    assert shipped.priority == priority
    assert set(shipped.unit_types) == unit_types
    assert (shipped.sla_amount, shipped.sla_unit) == sla
    assert shipped.when_overdue == when_overdue
    decision = route(facts, EVERY_TYPE, default_rules)
    assert decision.rule == shipped
    assert decision.unit.unit_type in unit_types
    assert {candidate.unit.unit_type for candidate in decision.candidates} == unit_types
    assert decision.reasons[0] == Reason("rule_matched", {"rule": shipped.label()})
    assert shipped.label()["en"] and shipped.label()["zh"]
    assert decision.escalate is escalate


DEFAULT_CHOICES = [
    pytest.param(
        referral(("child_protection", "financial_hardship")), "child-protection", id="protection"
    ),
    pytest.param(
        referral(
            ("financial_hardship",), factors=("abuse_or_neglect",), household="young_children"
        ),
        "abuse-signs-children",
        id="abuse-signs-with-young-children",
    ),
    pytest.param(
        referral(("financial_hardship",), factors=("abuse_or_neglect",), household="lives_alone"),
        "financial-hardship",
        id="abuse-signs-without-young-children",
    ),
    pytest.param(
        referral(("mental_health",), level="urgent"), "mental-health-urgent", id="mental-urgent"
    ),
    pytest.param(
        referral(("mental_health",), level="routine"), "mental-health", id="mental-routine"
    ),
    pytest.param(
        referral(("mental_health", "emergency_relief")), "emergency-relief", id="relief-first"
    ),
    pytest.param(
        referral(("disability_support", "carer_support"), household="carer_of_disabled"),
        "disability-carer",
        id="disability-carer",
    ),
    pytest.param(
        referral(("carer_support",), household="carer_of_elder"),
        "carer-support",
        id="carer-of-elder",
    ),
    pytest.param(
        referral(("housing", "elderly_care")), "elderly-care", id="elderly-before-housing"
    ),
    pytest.param(
        referral(("child_family", "financial_hardship")),
        "financial-hardship",
        id="money-before-family",
    ),
    pytest.param(referral(()), None, id="no-needs"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("facts", "expected"), DEFAULT_CHOICES)
def test_default_rules_between_them(default_rules, facts, expected):
    decision = route(facts, EVERY_TYPE, default_rules)
    assert (decision.rule.code if decision.rule else None) == expected


# --- Selectors: what routing reads from the database --------------------------------------


def _needs(referral_row, *codes):
    referral_row.needs.set(NeedCategory.objects.filter(code__in=codes))


def _unit_facts(row, *, areas=(), districts=()) -> UnitFacts:
    return UnitFacts(
        id=row.pk,
        code=row.code,
        name_en=row.name_en,
        name_zh=row.name_zh,
        unit_type=row.unit_type.code,
        district_id=row.district_id,
        catchment_district_ids=frozenset(d.pk for d in districts),
        catchment_sub_district_ids=frozenset(s.pk for s in areas),
        catchment_sub_district_district_ids=frozenset(s.district_id for s in areas),
        is_active=row.is_active,
        capacity=row.capacity,
        current_load=row.current_load,
        needs_served=frozenset(row.unit_type.needs.values_list("code", flat=True)),
    )


@pytest.mark.django_db
def test_saved_referral_routes_as_the_pure_function(ssp_area, caring_team, ifsc_unit):
    """``routing_inputs`` reads the facts as they would be written by hand, and
    ``routing_decision_for`` chooses as ``decide`` does on those."""
    ssp, kowloon_city = ssp_area.district, factories.district("G")
    located = factories.ServiceUnitFactory(code="ifsc-f-02", current_load=0)
    isc = factories.ServiceUnitFactory(
        code="isc-g-01",
        unit_type=factories.unit_type("ISC"),
        district=kowloon_city,
        catchment_sub_districts=[ssp_area],
        current_load=50,
    )
    closed = factories.ServiceUnitFactory(
        code="ifsc-f-03", catchment_sub_districts=[ssp_area], current_load=0, is_active=False
    )
    factories.ServiceUnitFactory(code="ifsc-g-01", district=kowloon_city)  # serves elsewhere
    saved = factories.ReferralFactory(
        referring_team=caring_team, sub_district=ssp_area, phone="+85261230000"
    )
    _needs(saved, "financial_hardship")

    facts, units, rules, places = routing_inputs(saved)

    by_hand = ReferralFacts(
        district_id=ssp.pk,
        sub_district_id=ssp_area.pk,
        needs=frozenset({"financial_hardship"}),
        risk_level="routine",
        household="lives_alone",
    )
    assert facts == by_hand
    units_by_hand = [
        _unit_facts(ifsc_unit, areas=[ssp_area]),
        _unit_facts(located),
        _unit_facts(closed, areas=[ssp_area]),
        _unit_facts(isc, areas=[ssp_area]),
    ]
    assert sorted(units, key=lambda u: u.code) == units_by_hand
    area = {"en": ssp_area.name_en, "zh": ssp_area.name_zh}
    assert places == {"area": area, "district": {"en": ssp.name_en, "zh": ssp.name_zh}}

    decision = routing_decision_for(saved)
    expected = decide(by_hand, units_by_hand, rules, area=area, district=places["district"])
    assert decision.as_json() == expected.as_json()
    ifsc = {"en": ifsc_unit.name_en, "zh": ifsc_unit.name_zh}
    assert decision.rule.code == "financial-hardship"
    assert codes(decision) == ["ifsc-f-01", "isc-g-01"]
    assert decision.reasons == (
        Reason(
            "rule_matched",
            {"rule": {"en": "Financial hardship → IFSC", "zh": "經濟困難 → 綜合家庭服務中心"}},
        ),
        Reason("catchment_sub_district", {"unit": ifsc, "area": area}),
        Reason("spare_capacity", {"unit": ifsc, "spare": 90, "capacity": 100, "count": 2}),
        Reason("excluded_inactive", {"unit": {"en": closed.name_en, "zh": closed.name_zh}}),
    )


@pytest.mark.django_db
def test_saved_referral_skips_released_units_and_keeps_continuity(ssp_area, caring_team, ifsc_unit):
    phone = "+85261234567"
    declined = factories.ServiceUnitFactory(
        code="ifsc-f-02", catchment_sub_districts=[ssp_area], current_load=0
    )
    lapsed = factories.ServiceUnitFactory(
        code="ifsc-f-03", catchment_sub_districts=[ssp_area], current_load=0
    )
    factories.ServiceUnitFactory(
        code="ifsc-f-04", catchment_sub_districts=[ssp_area], current_load=1
    )
    saved = factories.ReferralFactory(
        referring_team=caring_team,
        sub_district=ssp_area,
        status=Status.REJECTED,
        assigned_unit=declined,
        phone=phone,
    )
    _needs(saved, "financial_hardship")
    ReferralEvent.objects.create(
        referral=saved,
        kind=ReferralEvent.Kind.OVERDUE,
        to_status=Status.ASSIGNED,
        unit=lapsed,
        details={"released": True},
    )
    ReferralEvent.objects.create(referral=saved, to_status=Status.REJECTED, unit=declined)
    factories.ReferralFactory(
        referring_team=caring_team,
        status=Status.ACCEPTED,
        assigned_unit=ifsc_unit,
        phone=phone,
        reference="SSP-2026-000011",
    )

    decision = routing_decision_for(saved)

    assert codes(decision) == ["ifsc-f-01", "ifsc-f-04"]
    ifsc = {"en": ifsc_unit.name_en, "zh": ifsc_unit.name_zh}
    assert Reason("continuity", {"unit": ifsc, "reference": "SSP-2026-000011"}) in (
        decision.reasons
    )
    assert [reason for reason in decision.reasons if reason.code.startswith("excluded_")] == [
        Reason("excluded_declined", {"unit": {"en": row.name_en, "zh": row.name_zh}})
        for row in (declined, lapsed)
    ]


RELEASE_CASES = [
    pytest.param(ReferralEvent.Kind.STATUS, Status.REJECTED, {}, True, id="declined"),
    pytest.param(
        ReferralEvent.Kind.OVERDUE, Status.ASSIGNED, {"released": True}, True, id="lapsed"
    ),
    pytest.param(
        ReferralEvent.Kind.OVERDUE, Status.ASSIGNED, {"released": False}, False, id="kept"
    ),
    pytest.param(ReferralEvent.Kind.OVERDUE, Status.ASSIGNED, {}, False, id="overdue-no-details"),
    pytest.param(
        ReferralEvent.Kind.ROUTING, Status.ASSIGNED, {"released": True}, False, id="routed"
    ),
    pytest.param(ReferralEvent.Kind.STATUS, Status.ACCEPTED, {}, False, id="accepted"),
    pytest.param(ReferralEvent.Kind.STATUS, Status.TRIAGE, {}, False, id="to-triage"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "to_status", "details", "released"), RELEASE_CASES)
def test_units_released_by(caring_team, ifsc_unit, kind, to_status, details, released):
    saved = factories.ReferralFactory(
        referring_team=caring_team, status=Status.ASSIGNED, assigned_unit=ifsc_unit
    )
    ReferralEvent.objects.create(
        referral=saved, kind=kind, to_status=to_status, unit=ifsc_unit, details=details
    )
    # Neither another referral's decline nor a step without a unit counts.
    elsewhere = factories.ServiceUnitFactory(code="ifsc-f-09")
    other = factories.ReferralFactory(referring_team=caring_team, assigned_unit=elsewhere)
    ReferralEvent.objects.create(referral=other, to_status=Status.REJECTED, unit=elsewhere)
    ReferralEvent.objects.create(referral=saved, to_status=Status.REJECTED, unit=None)

    assert units_released_by(saved) == ({ifsc_unit.pk} if released else set())


SAME_ID, OTHER_ID = "a" * 64, "b" * 64
SAME_PHONE, OTHER_PHONE = "+85261234567", "+85298765432"
SERVING_CASES = [
    pytest.param(Status.ASSIGNED, SAME_ID, OTHER_PHONE, True, True, id="same-identity"),
    pytest.param(Status.ACCEPTED, OTHER_ID, SAME_PHONE, True, True, id="same-phone"),
    pytest.param(Status.IN_PROGRESS, "", SAME_PHONE, True, True, id="in-progress"),
    pytest.param(Status.ON_HOLD, SAME_ID, "", True, True, id="on-hold"),
    pytest.param(Status.SUBMITTED, SAME_ID, SAME_PHONE, False, False, id="not-yet-held"),
    pytest.param(Status.TRIAGE, SAME_ID, SAME_PHONE, False, False, id="in-triage"),
    pytest.param(Status.REJECTED, SAME_ID, SAME_PHONE, True, False, id="declined"),
    pytest.param(Status.COMPLETED, SAME_ID, SAME_PHONE, True, False, id="completed"),
    pytest.param(Status.CANCELLED, SAME_ID, SAME_PHONE, True, False, id="cancelled"),
    pytest.param(Status.ASSIGNED, OTHER_ID, OTHER_PHONE, True, False, id="someone-else"),
    pytest.param(Status.ASSIGNED, "", "", True, False, id="nothing-to-match"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "id_hash", "phone", "held", "serving"), SERVING_CASES)
def test_units_serving_household(caring_team, other_unit, status, id_hash, phone, held, serving):
    saved = factories.ReferralFactory(
        referring_team=caring_team, id_number_hash=SAME_ID, phone=SAME_PHONE
    )
    factories.ReferralFactory(
        referring_team=caring_team,
        reference="SSP-2026-000077",
        status=status,
        id_number_hash=id_hash,
        phone=phone,
        assigned_unit=other_unit if held else None,
    )
    expected = [(other_unit.pk, "SSP-2026-000077")] if serving else []
    assert units_serving_household(saved) == expected


@pytest.mark.django_db
def test_units_serving_household_most_recent_first_and_not_itself(
    caring_team, ifsc_unit, other_unit
):
    now = timezone.now()
    saved = factories.ReferralFactory(
        referring_team=caring_team,
        status=Status.ASSIGNED,
        assigned_unit=ifsc_unit,
        phone=SAME_PHONE,
        id_number_hash=SAME_ID,
    )
    factories.ReferralFactory(
        referring_team=caring_team,
        status=Status.ACCEPTED,
        assigned_unit=ifsc_unit,
        phone=SAME_PHONE,
        reference="SSP-2026-000001",
        submitted_at=now - timedelta(days=30),
    )
    factories.ReferralFactory(
        referring_team=caring_team,
        status=Status.IN_PROGRESS,
        assigned_unit=other_unit,
        id_number_hash=SAME_ID,
        phone="",
        reference="SSP-2026-000002",
        submitted_at=now - timedelta(days=1),
    )
    assert units_serving_household(saved) == [
        (other_unit.pk, "SSP-2026-000002"),
        (ifsc_unit.pk, "SSP-2026-000001"),
    ]


@pytest.mark.django_db
def test_no_phone_and_no_identity_matches_nobody(caring_team, ifsc_unit):
    """Blank phone numbers and identity hashes are not a household."""
    saved = factories.ReferralFactory(referring_team=caring_team, phone="", id_number_hash="")
    factories.ReferralFactory(
        referring_team=caring_team,
        status=Status.ASSIGNED,
        assigned_unit=ifsc_unit,
        phone="",
        id_number_hash="",
    )
    assert units_serving_household(saved) == []
