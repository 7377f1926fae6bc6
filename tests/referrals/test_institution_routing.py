"""Referrals naming a kindergarten or child care centre (issue 17): migration 0021's rule
sends them to the pre-primary social work team matched to the institution, even when
another team covers the sub-district; without a matched team (or with the institution or
its team out of action) the existing pre-primary rule decides. The referral form offers the
institution, and only one of the referral's district."""

from dataclasses import replace

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.translation import override

from referrals import services
from referrals.models import Referral, RoutingRule
from referrals.routing import Reason, decide
from referrals.routing_inputs import routing_decision_for, routing_inputs
from services.models import Institution, NeedCategory
from tests import factories

pytestmark = pytest.mark.django_db

RULE = "pre-primary-institution"
BEFORE = ("referrals", "0020_case_owners")


@pytest.fixture
def teams(ssp_area):
    """Two PPSW teams: ``covering`` has the referral's sub-district in its catchment; the
    kindergarten's ``matched`` team is located in another district and covers none of
    Sham Shui Po. An IFSC takes child and family work otherwise."""
    return {
        "covering": factories.ServiceUnitFactory(
            code="ppsw-f-01",
            unit_type=factories.unit_type("PPSW"),
            catchment_sub_districts=[ssp_area],
            current_load=0,
        ),
        "matched": factories.ServiceUnitFactory(
            code="ppsw-e-02",
            name_en="Yau Tsim Mong pre-primary team",
            name_zh="油尖旺學前社工隊",
            unit_type=factories.unit_type("PPSW"),
            district=factories.district("E"),
            current_load=90,
        ),
        "ifsc": factories.ServiceUnitFactory(code="ifsc-f-01", catchment_sub_districts=[ssp_area]),
    }


@pytest.fixture
def kindergarten(ssp_area, teams):
    return Institution.objects.create(
        code="kg-f-test",
        name_en="Little Acorn Kindergarten (test)",
        name_zh="小橡果幼稚園（測試）",
        district=ssp_area.district,
        sub_district=ssp_area,
        enrolment=120,
        matched_team=teams["matched"],
    )


def saved_referral(ssp_area, caring_team, *, institution=None, household="young_children"):
    referral = factories.ReferralFactory(
        referring_team=caring_team,
        district=ssp_area.district,
        sub_district=ssp_area,
        household=household,
        institution=institution,
    )
    referral.needs.set(NeedCategory.objects.filter(code="child_family"))
    return referral


def test_a_referral_naming_a_kindergarten_goes_to_its_matched_team(
    ssp_area, caring_team, teams, kindergarten
):
    referral = saved_referral(ssp_area, caring_team, institution=kindergarten)

    decision = routing_decision_for(referral)

    assert decision.rule.code == RULE
    assert decision.unit.code == "ppsw-e-02"  # not the team covering the sub-district
    assert [c.unit.code for c in decision.candidates] == ["ppsw-e-02"]
    team = {"en": "Yau Tsim Mong pre-primary team", "zh": "油尖旺學前社工隊"}
    school = {"en": "Little Acorn Kindergarten (test)", "zh": "小橡果幼稚園（測試）"}
    assert decision.reasons[1] == Reason("institution_match", {"unit": team, "institution": school})
    assert decision.reasons[1].text() == (
        "Yau Tsim Mong pre-primary team is the pre-primary social work team matched to Little "
        "Acorn Kindergarten (test), the kindergarten or child care centre named in the referral."
    )
    with override("zh-hant"):
        text = decision.reasons[1].text()
    assert "油尖旺學前社工隊" in text and "小橡果幼稚園（測試）" in text


def test_routing_assigns_it_to_the_matched_team_on_the_rules_clock(
    ssp_area, caring_team, teams, kindergarten
):
    referral = saved_referral(ssp_area, caring_team, institution=kindergarten)

    services.referral_route(referral_id=referral.pk)

    referral = Referral.objects.get(pk=referral.pk)
    assert referral.assigned_unit == teams["matched"]
    assert referral.routing_rule.code == RULE
    lead = referral.tasks.get(is_lead=True)
    assert lead.unit == teams["matched"]


def test_naming_the_institution_is_enough_whatever_household_was_ticked(
    ssp_area, caring_team, teams, kindergarten
):
    """The rule names no household: the kindergarten says the family has a young child."""
    referral = saved_referral(ssp_area, caring_team, institution=kindergarten, household="other")

    decision = routing_decision_for(referral)

    assert (decision.rule.code, decision.unit.code) == (RULE, "ppsw-e-02")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"matched_team": None}, id="no-matched-team"),
        pytest.param({"is_active": False}, id="institution-not-active"),
    ],
)
def test_without_a_matched_team_the_pre_primary_rule_decides(
    ssp_area, caring_team, teams, kindergarten, change
):
    Institution.objects.filter(pk=kindergarten.pk).update(**change)
    referral = saved_referral(ssp_area, caring_team, institution=kindergarten)

    decision = routing_decision_for(referral)

    assert decision.rule.code == "pre-primary-child-family"
    assert decision.unit.code == "ppsw-f-01"


def test_without_an_institution_nothing_changes(ssp_area, caring_team, teams):
    decision = routing_decision_for(saved_referral(ssp_area, caring_team))

    assert decision.rule.code == "pre-primary-child-family"
    assert decision.unit.code == "ppsw-f-01"


def test_a_matched_team_that_declined_or_closed_passes_to_the_next_rule(
    ssp_area, caring_team, teams, kindergarten
):
    facts, units, rules, places = routing_inputs(
        saved_referral(ssp_area, caring_team, institution=kindergarten)
    )
    matched = teams["matched"].pk

    declined = decide(replace(facts, excluded_unit_ids=frozenset({matched})), units, rules)
    closed = decide(
        facts, [replace(u, is_active=False) if u.id == matched else u for u in units], rules
    )

    for decision, why in ((declined, "excluded_declined"), (closed, "excluded_inactive")):
        assert decision.rule.code == "pre-primary-child-family"
        assert decision.unit.code == "ppsw-f-01"
        assert decision.reasons[0].code == "rule_no_unit"
        assert decision.reasons[1].code == why


def test_a_money_need_still_goes_to_the_ifsc_as_its_own_part(
    ssp_area, caring_team, teams, kindergarten
):
    """Priority 59 puts the institution's team ahead of financial hardship (60) as the lead;
    the money need is planned on its own, to the IFSC."""
    from referrals.routing_inputs import routing_plan_for

    referral = saved_referral(ssp_area, caring_team, institution=kindergarten)
    referral.needs.add(NeedCategory.objects.get(code="financial_hardship"))

    plan = routing_plan_for(referral)

    assert plan.lead.decision.unit.code == "ppsw-e-02"
    units = {part.decision.unit.code: set(part.needs) for part in plan.parts}
    assert units["ifsc-f-01"] == {"financial_hardship"}
    assert "child_family" in units["ppsw-e-02"]


def test_reading_the_institution_costs_one_query(ssp_area, caring_team, teams, kindergarten):
    plain = saved_referral(ssp_area, caring_team)
    named = saved_referral(ssp_area, caring_team, institution=kindergarten)
    counts = []
    for referral in (plain, named):
        referral = Referral.objects.get(pk=referral.pk)
        with CaptureQueriesContext(connection) as queries:
            routing_inputs(referral)
        counts.append(len(queries))

    assert counts[1] == counts[0] + 1


def test_the_shipped_rule():
    rule = RoutingRule.objects.get(code=RULE)
    pre_primary = RoutingRule.objects.get(code="pre-primary-child-family")

    assert rule.match_institution is True
    assert rule.is_active
    assert list(rule.unit_types.values_list("code", flat=True)) == ["PPSW"]
    assert list(rule.needs.values_list("code", flat=True)) == ["child_family"]
    assert rule.households == []
    assert (rule.sla_amount, rule.sla_unit, rule.when_overdue, rule.escalate_at_once) == (
        pre_primary.sla_amount,
        pre_primary.sla_unit,
        pre_primary.when_overdue,
        pre_primary.escalate_at_once,
    )
    assert rule.name_en and rule.name_zh and rule.name_zh != rule.name_en
    rule.full_clean()
    # Tried right before the pre-primary rule, after every rule of a lower priority.
    order = list(RoutingRule.objects.order_by("priority", "code").values_list("code", "priority"))
    codes = [code for code, _priority in order]
    assert codes.index(RULE) < codes.index("pre-primary-child-family")
    assert all(priority < 59 for code, priority in order[: codes.index(RULE)])
    assert rule.priority == pre_primary.priority - 1


def migrate(target):
    MigrationExecutor(connection).migrate([target])


def test_reversing_0021_removes_only_its_rule_and_keeps_an_edited_one():
    leaf = MigrationExecutor(connection).loader.graph.leaf_nodes("referrals")[0]
    before = set(RoutingRule.objects.values_list("code", flat=True))

    migrate(BEFORE)

    assert set(RoutingRule.objects.values_list("code", flat=True)) == before - {RULE}
    RoutingRule.objects.create(
        code=RULE, priority=58, name_en="Edited", name_zh="已改", sla_amount=1
    )
    migrate(leaf)

    assert set(RoutingRule.objects.values_list("code", flat=True)) == before
    assert RoutingRule.objects.get(code=RULE).name_en == "Edited"


# --- The referral form -------------------------------------------------------------------

NEW = reverse("referrals:new")


def test_the_form_offers_active_institutions_with_their_district(
    client, referrer, kindergarten, ssp_area
):
    Institution.objects.create(
        code="kg-closed", name_en="Closed KG", name_zh="已停辦", district=ssp_area.district,
        is_active=False,
    )  # fmt: skip
    client.force_login(referrer)

    html = client.get(NEW).content.decode()

    assert 'name="institution"' in html
    assert "Little Acorn Kindergarten (test)" in html
    assert f'value="{kindergarten.pk}" data-district="{ssp_area.district_id}"' in html
    assert "Closed KG" not in html


def test_the_form_stores_the_institution_of_the_district(
    client, referrer, referral_form, kindergarten
):
    client.force_login(referrer)
    data = referral_form(
        household="young_children", needs=[NeedCategory.objects.get(code="child_family").pk]
    )

    response = client.post(NEW, {**data, "institution": kindergarten.pk})

    assert response.status_code == 302
    assert Referral.objects.get().institution == kindergarten


def test_an_institution_of_another_district_is_a_field_error(
    client, referrer, referral_form, teams
):
    elsewhere = Institution.objects.create(
        code="kg-e", name_en="Far KG", name_zh="遠方幼稚園", district=factories.district("E")
    )
    client.force_login(referrer)

    response = client.post(NEW, {**referral_form(), "institution": elsewhere.pk})

    assert response.status_code == 400
    assert response.context["form"].errors["institution"] == [
        "Choose a kindergarten or child care centre in the referral's district."
    ]
    assert not Referral.objects.exists()
