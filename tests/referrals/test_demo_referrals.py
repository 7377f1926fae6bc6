"""seed_demo --referrals N: synthetic, valid, topped up (never duplicated), both write paths."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from referrals.demo import LOADED_TABLES, build_referrals
from referrals.models import (
    OPEN_STATUSES,
    ReferenceSequence,
    Referral,
    ReferralEvent,
    ReferralTask,
    UrgentNotice,
)
from services.models import ServiceUnit
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def directory():
    call_command("seed_demo", "--allow-production", verbosity=0)


def check_consistent():
    referrals = Referral.objects.filter(is_demo_data=True)
    assert referrals.filter(reference__isnull=True).count() == 0
    assert referrals.values("reference").distinct().count() == referrals.count()
    assert referrals.filter(subject_name_en__startswith="Demo case").count() == referrals.count()
    assert referrals.exclude(id_number_encrypted="").count() == 0
    assert referrals.exclude(phone="").count() == 0
    assert not referrals.filter(needs__isnull=True).exists()
    assert ReferralEvent.objects.filter(referral__in=referrals, to_status="submitted").count() == (
        referrals.count()
    )
    for referral in referrals.exclude(status="submitted").select_related("district"):
        assert referral.events.count() == 2
        assert referral.events.last().to_status == referral.status
        # Held by a unit: its one task, as migration 0016 gives one, the step linked to it.
        if referral.assigned_unit_id:
            task = referral.tasks.get()
            assert (task.unit_id, task.status, task.is_lead) == (
                referral.assigned_unit_id,
                referral.status,
                True,
            )
            assert set(task.needs.all()) == set(referral.needs.all())
            assert referral.events.last().task == task
        else:
            assert not referral.tasks.exists()
        assert referral.district.welfare_office.code.upper() in referral.reference
        assert referral.sub_district.district_id == referral.district_id
    for sequence in ReferenceSequence.objects.select_related("office"):
        prefix = f"{sequence.office.code.upper()}-{sequence.year}-"
        numbers = [
            int(r.rsplit("-", 1)[1])
            for r in Referral.objects.filter(reference__startswith=prefix).values_list(
                "reference", flat=True
            )
        ]
        assert max(numbers) == sequence.last_value


@pytest.mark.parametrize("use_copy", [False, True])
def test_builds_and_tops_up_without_duplicates(directory, use_copy):
    if use_copy and connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's; CI runs this on PostgreSQL")
    assert build_referrals(120, log=lambda line: None, use_copy=use_copy) == 120
    assert build_referrals(120, log=lambda line: None, use_copy=use_copy) == 0
    assert build_referrals(150, log=lambda line: None, use_copy=use_copy) == 30
    assert Referral.objects.filter(is_demo_data=True).count() == 150
    check_consistent()
    assert Referral.objects.filter(status__in=OPEN_STATUSES).exists()
    # A referral filed through the app afterwards gets a fresh primary key (sequence moved on),
    # and so does its task.
    highest = Referral.objects.order_by("-pk").values_list("pk", flat=True).first()
    highest_task = ReferralTask.objects.order_by("-pk").values_list("pk", flat=True).first()
    later = factories.ReferralFactory(status="assigned", assigned_unit=ServiceUnit.objects.first())
    assert later.pk > highest and later.tasks.get().pk > highest_task


def test_the_demo_sends_one_urgent_notice_through_the_real_intake(directory, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    with override_settings(DEBUG=True):
        call_command("seed_demo", "--referrals", "3", verbosity=0)
        call_command("seed_demo", "--referrals", "3", verbosity=0)  # sent once

    notice = UrgentNotice.objects.get()
    referrals = list(notice.referrals.all())
    assert len(referrals) == 2 and all(r.risk_level == "urgent" for r in referrals)
    assert all(r.is_demo_data for r in referrals)


def test_seed_demo_command_takes_referrals(directory, capsys):
    call_command("seed_demo", "--allow-production", "--referrals", "40")
    assert "40 synthetic referrals added" in capsys.readouterr().out
    generated = Referral.objects.filter(is_demo_data=True, notice__isnull=True)
    assert generated.count() == 40
    call_command("seed_demo", "--allow-production", "--referrals", "40")
    assert "0 synthetic referrals added" in capsys.readouterr().out
    assert Referral.objects.count() == 40 + 2  # and the demo notice's two, sent once


def planner_row_counts(models) -> dict[str, float]:
    """What the planner believes each table holds (``pg_class.reltuples``: -1 before the first
    ANALYZE, then the count that ANALYZE saw, until the next one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)",
            [[model._meta.db_table for model in models]],
        )
        return dict(cursor.fetchall())


def test_bulk_loading_leaves_the_planner_statistics(directory):
    """Without them (autovacuum off, or not yet run) a million referrals plan like none."""
    if connection.vendor != "postgresql":
        pytest.skip("ANALYZE is PostgreSQL's; CI runs this on PostgreSQL")

    build_referrals(37, log=lambda line: None)

    actual = {model._meta.db_table: model.objects.count() for model in LOADED_TABLES}
    assert actual[Referral._meta.db_table] == 37
    assert planner_row_counts(LOADED_TABLES) == actual


def test_the_demo_unit_has_case_workers_and_a_planned_transfer(directory, capsys):
    """seed_demo gives the demo IFSC's open cases an owner (a few left for the supervisor)
    and plans a transfer whose one uninformed family blocks it (issue 17); once only."""
    from referrals import caseload, transfer_plans
    from referrals.models import ReferralTask, TransferPlan
    from services.models import ServiceUnit

    call_command("seed_demo", "--allow-production", "--referrals", "200")
    assert "have a case worker" in capsys.readouterr().out
    unit = ServiceUnit.objects.get(code="ifsc-f-01")
    owned = ReferralTask.objects.filter(unit=unit, owner__username="worker.ifsc.ssp")
    assert owned.exists()
    assert caseload.cases_needing_owner([unit.pk]).exists()
    plan = TransferPlan.objects.get()
    assert plan.cases.count() >= 1 and plan.from_unit == unit
    if plan.cases.count() > 1:
        assert len(transfer_plans.plan_blockers(plan).family_not_ready) == 1
    call_command("seed_demo", "--allow-production", "--referrals", "200")
    assert TransferPlan.objects.count() == 1
