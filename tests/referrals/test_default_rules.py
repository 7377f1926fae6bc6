"""The default rules of migration 0014 (issue 16, the carer-admitted pathway), through the real
routing on saved referrals: a carer admitted to hospital goes to the Carer Support Hotline
182183 at once, on the 24 x 7 clock; families with young children go to the pre-primary
social work team, carers of elders to day care; the generic rules still take the rest.
Reversing the migration removes these rules and nothing else."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from districts.models import District
from referrals import services
from referrals.models import RiskLevel, RoutingRule, risk_level_of
from referrals.routing_inputs import routing_decision_for
from referrals.selectors import units_assignable_to
from services import demo
from services.models import NeedCategory, ServiceUnit
from tests import factories

pytestmark = pytest.mark.django_db

HK = ZoneInfo("Asia/Hong_Kong")
NEW_RULES = {"carer-hospitalised-hotline", "pre-primary-child-family", "elderly-day-care"}
BEFORE = ("referrals", "0013_office_closure")
THIS = ("referrals", "0014_hotline_preprimary_daycare_rules")


@pytest.fixture
def units(ssp_area):
    """One unit of each type the cases reach, in Sham Shui Po, and the hotline located in
    another district but serving every district, as the demo directory builds it."""
    ssp = ssp_area.district
    whole_district = {"catchment_districts": [ssp]}
    made = {
        "hotline": factories.ServiceUnitFactory(
            code="carer-hotline-01",
            unit_type=factories.unit_type("CARER_HOTLINE"),
            district=factories.district("A"),
            catchment_districts=list(District.objects.all()),
        ),
        "fcpsu": factories.ServiceUnitFactory(
            code="fcpsu-ssp", unit_type=factories.unit_type("FCPSU"), **whole_district
        ),
        "ifsc": factories.ServiceUnitFactory(code="ifsc-f-01", catchment_sub_districts=[ssp_area]),
        "ppsw": factories.ServiceUnitFactory(
            code="ppsw-f-01", unit_type=factories.unit_type("PPSW"), **whole_district
        ),
        # Day care has room, the DECC is nearly full: the day-care rule picks DE by load.
        "de": factories.ServiceUnitFactory(
            code="de-f-01", unit_type=factories.unit_type("DE"), current_load=10, **whole_district
        ),
        "decc": factories.ServiceUnitFactory(
            code="decc-f-01",
            unit_type=factories.unit_type("DECC"),
            current_load=90,
            catchment_sub_districts=[ssp_area],
        ),
    }
    return made


def saved_referral(ssp_area, caring_team, needs, factors=(), household="lives_alone"):
    referral = factories.ReferralFactory(
        referring_team=caring_team,
        district=ssp_area.district,
        sub_district=ssp_area,
        risk_factors=list(factors),
        risk_level=risk_level_of(factors),
        household=household,
    )
    referral.needs.set(NeedCategory.objects.filter(code__in=needs))
    return referral


# case, needs, risk factors, household, rule that wins, unit it chooses, office alerted
CASES = [
    ("carer-admitted", ["elderly_care"], ["carer_hospitalised"], "lives_alone",
     "carer-hospitalised-hotline", "hotline", True),
    ("carer-admitted-no-need-ticked", [], ["carer_hospitalised"], "elderly_couple",
     "carer-hospitalised-hotline", "hotline", True),
    ("carer-admitted-beats-day-care", ["elderly_care"], ["carer_hospitalised"],
     "carer_of_elder", "carer-hospitalised-hotline", "hotline", True),
    ("child-protection-still-first", ["child_protection"], ["carer_hospitalised"],
     "young_children", "child-protection", "fcpsu", True),
    ("young-children", ["child_family"], [], "young_children", "pre-primary-child-family",
     "ppsw", False),
    ("young-children-money-first", ["child_family", "financial_hardship"], [],
     "young_children", "financial-hardship", "ifsc", False),
    ("family-without-young-children", ["child_family"], [], "other", "child-family", "ifsc",
     False),
    ("carer-of-elder", ["elderly_care"], [], "carer_of_elder", "elderly-day-care", "de", False),
    ("elder-alone", ["elderly_care"], [], "lives_alone", "elderly-care", "decc", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("needs", "factors", "household", "rule", "unit", "escalate"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_the_migrated_rules_route(
    ssp_area, caring_team, units, needs, factors, household, rule, unit, escalate
):
    referral = saved_referral(ssp_area, caring_team, needs, factors, household)

    decision = routing_decision_for(referral)

    assert decision.rule.code == rule
    assert decision.unit.code == units[unit].code
    assert decision.escalate is escalate


def test_a_carer_admitted_is_urgent_and_due_on_the_clock(ssp_area, caring_team, units):
    """Friday 19:00 is after office hours; the hotline's two hours still run to 21:00."""
    referral = saved_referral(ssp_area, caring_team, ["elderly_care"], ["carer_hospitalised"])
    friday_evening = datetime(2026, 12, 4, 19, 0, tzinfo=HK)

    decision = routing_decision_for(referral)

    assert referral.risk_level == RiskLevel.URGENT
    assert decision.rule.code == "carer-hospitalised-hotline"
    assert (decision.rule.sla_amount, decision.rule.sla_unit) == (2, "business_hours")
    assert decision.rule.when_overdue == "escalate"
    assert services.due_at(decision.rule, friday_evening, referral.risk_level) == datetime(
        2026, 12, 4, 21, 0, tzinfo=HK
    )


def test_the_district_office_may_send_to_the_hotline_by_hand(ssp_area, caring_team, units):
    referral = saved_referral(ssp_area, caring_team, ["elderly_care"])

    assert units["hotline"] in units_assignable_to(referral)


def test_the_demo_hotline_serves_every_district():
    demo.build_directory()
    hotlines = ServiceUnit.objects.filter(unit_type__code="CARER_HOTLINE")

    assert hotlines.count() == 1
    for district in District.objects.all():
        assert hotlines.get() in ServiceUnit.objects.serving_district(district), district.code


def test_the_rules_are_bilingual_and_checked_by_their_model():
    for rule in RoutingRule.objects.filter(code__in=NEW_RULES):
        assert rule.name_en and rule.name_zh and rule.name_zh != rule.name_en
        assert rule.unit_types.exists()
        rule.full_clean()


def migrate(target):
    """Migrate inside the test's transaction, then check the deferred foreign keys: PostgreSQL
    alters a table (0019, 0020 add columns to the rules) only with no check pending."""
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    connection.check_constraints()


def test_reversing_the_migration_removes_only_its_rules():
    leaf = MigrationExecutor(connection).loader.graph.leaf_nodes("referrals")[0]
    local = RoutingRule.objects.create(
        code="local-rule", priority=5, name_en="Local", name_zh="本地", sla_amount=1
    )
    before = set(RoutingRule.objects.values_list("code", flat=True))
    assert before >= NEW_RULES

    migrate(BEFORE)

    # 0021's rule (pre-primary institutions, issue 17) is later than 0013, so it goes too.
    assert set(RoutingRule.objects.values_list("code", flat=True)) == (
        before - NEW_RULES - {"pre-primary-institution"}
    )
    assert RoutingRule.objects.filter(pk=local.pk).exists()

    # Headquarters' own version of a rule of the same code is kept when migrating again. It
    # is written as the table is at 0013 (the model has columns added since, issue 17).
    then = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    then.get_model("referrals", "RoutingRule").objects.create(
        code="elderly-day-care", priority=66, name_en="Edited", name_zh="已改", sla_amount=1
    )
    migrate(THIS)  # its rules written, and checked, before 0019 alters the table
    migrate(leaf)

    assert set(RoutingRule.objects.values_list("code", flat=True)) == before
    assert RoutingRule.objects.get(code="elderly-day-care").name_en == "Edited"
