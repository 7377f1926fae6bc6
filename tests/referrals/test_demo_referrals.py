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
    out = capsys.readouterr().out
    assert "40 synthetic referrals added" in out
    # The generator's own; the demo stories (filed through the form's service, with its
    # token) and the notice's two come on top, and do not count towards N.
    generated = Referral.objects.filter(
        is_demo_data=True, notice__isnull=True, submission_token__isnull=True
    )
    assert generated.count() == 40
    stories = Referral.objects.filter(submission_token__isnull=False, notice__isnull=True)
    assert f"Workspaces: {stories.count()} demo cases" in out
    before = Referral.objects.count()
    assert before == 40 + stories.count() + 2
    call_command("seed_demo", "--allow-production", "--referrals", "40")
    out = capsys.readouterr().out
    assert "0 synthetic referrals added" in out and "Workspaces:" not in out
    assert Referral.objects.count() == before  # the stories and the notice told once


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


# --- The living workspaces (issue 19): every demo login finds work ------------------------

# Each demo unit and the login that works it.
DEMO_UNITS = {
    "ifsc-f-01": "worker.ifsc.ssp",
    "iccmw-f-01": "worker.iccmw.ssp",
    "decc-f-01": "worker.decc.ssp",
    "prc-ssp": "worker.prc.ssp",
    "carer-hotline-01": "worker.hotline",
    "ifsc-j-01": "worker.ifsc.kt",
}


@pytest.fixture
def demo(settings):
    """The demo as ``scripts/demo.sh`` seeds it (fewer synthetic referrals)."""
    settings.DEBUG = True
    call_command("seed_demo", "--referrals", "60", verbosity=0)


def test_the_demo_clock_moves_the_services_clock_and_the_models_defaults(db):
    from datetime import timedelta

    from django.utils import timezone

    from referrals.demo_history import demo_clock

    real = timezone.now()
    moment = real - timedelta(days=40)
    with demo_clock(moment):
        assert abs(timezone.now() - moment) < timedelta(seconds=5)
        # ``default=timezone.now`` holds the function: it must read the moved clock too.
        at = ReferralEvent._meta.get_field("at").get_default()
        assert abs(at - moment) < timedelta(seconds=5)
        assert timezone.localdate() == timezone.localtime(moment).date()
        assert isinstance(real, timezone.datetime)  # templates' localtime still applies
    assert timezone.now() - real < timedelta(minutes=5)


def test_every_demo_unit_login_finds_work_in_every_inbox_tab(demo, client):
    from django.utils import timezone

    from accounts.models import Membership, User
    from referrals.queues import INBOX_TABS, inbox
    from referrals.task_steps import reconcile_unit_loads

    now = timezone.now()
    for code, username in DEMO_UNITS.items():
        unit = ServiceUnit.objects.get(code=code)
        user = User.objects.get(username=username)
        assert user.memberships.filter(
            service_unit=unit, role=Membership.Role.UNIT_STAFF
        ).exists(), code
        for tab in INBOX_TABS:
            assert inbox(unit_ids=[unit.pk], tab=tab, now=now).exists(), (code, tab)
        # Past its acknowledge-by time, marked by the beat's sweep, still the unit's (its
        # rule escalates rather than moving it on), and escalated to the office.
        overdue = ReferralTask.objects.filter(
            unit=unit, status="assigned", due_at__lte=now, overdue_at__isnull=False
        ).select_related("referral")
        assert overdue.exists(), code
        assert all(task.referral.escalated_at for task in overdue), code
        client.force_login(user)
        page = client.get("/inbox/", {"tab": "overdue"})
        assert page.status_code == 200, code
        assert f'data-reference="{overdue[0].referral.reference}"' in page.content.decode()
        for tab in INBOX_TABS:
            assert client.get("/inbox/", {"tab": tab}).status_code == 200, (code, tab)
        client.logout()
    # The home page's "N of M cases" is each unit's counter: the true load, not invented.
    assert reconcile_unit_loads() == {}
    # The stories' timelines come from the services: submitted, routed, then the steps.
    story = Referral.objects.filter(submission_token__isnull=False, status="completed").first()
    kinds = list(story.events.order_by("at", "pk").values_list("kind", "to_status"))
    assert kinds[:2] == [("status", "submitted"), ("routing", "assigned")]
    assert ("status", "completed") in kinds


def test_the_demo_offices_have_weeks_of_history_and_work_waiting(demo, client):
    from collections import Counter
    from statistics import median

    from django.utils import timezone

    from accounts.models import User
    from districts.models import District
    from referrals.dashboard import dashboard_figures

    now = timezone.now()
    for code, officer in (("F", "officer.ssp"), ("J", "officer.kt")):
        district = District.objects.get(code=code)
        referrals = Referral.objects.filter(district=district, submitted_at__isnull=False)
        filed = referrals.values_list("submitted_at", flat=True)
        weeks = Counter((now - at).days // 7 for at in filed)
        assert sum(1 for week in range(12) if weeks[week]) >= (8 if code == "F" else 6), weeks
        figures = dashboard_figures(districts=[district], now=now).total
        assert figures.median_hours is not None and figures.accepted >= 10, code
        assert figures.open and figures.overdue and figures.escalated and figures.triage, code
        closed = [
            (closed_at - submitted_at).total_seconds() / 86400
            for submitted_at, closed_at in referrals.filter(
                status__in=["completed", "failed"], closed_at__isnull=False
            ).values_list("submitted_at", "closed_at")
        ]
        assert len(closed) >= 10 and median(closed) > 1, code  # closed days after filing
        client.force_login(User.objects.get(username=officer))
        for path in ("/", "/queue/", "/dashboard/"):
            assert client.get(path).status_code == 200, (officer, path)
        client.logout()
    # The referrer's own list: the caring team F01's referrals, in every state.
    mine = Referral.objects.filter(referrer__username="referrer.ssp")
    assert {"assigned", "in_progress", "on_hold", "completed"} <= set(
        mine.values_list("status", flat=True)
    )
