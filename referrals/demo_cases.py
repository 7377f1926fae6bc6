"""The demo's caseloads and a planned transfer (issue 17), made through the services as a
supervisor and an officer would: Sham Shui Po IFSC 1's open cases go to its worker, a
few left without an owner for the supervisor to allocate; and a transfer of up to three of them to
IFSC 2 is planned for next week, one family not yet told (the plan shows it as blocking).
The unit's cases are the demo stories' (``demo_workspaces``), filed and worked through the
services. Run once: a database that has a plan already is left as it is."""

from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from referrals import caseload, transfer_plans
from referrals.models import ReferralTask, TransferPlan
from services.models import ServiceUnit

UNIT, RECEIVING = "ifsc-f-01", "ifsc-f-02"
WORKER, SUPERVISOR, OFFICER = "worker.ifsc.ssp", "supervisor.ifsc.ssp", "officer.ssp"
LEFT_WITHOUT_OWNER = 3


def build_caseload() -> int:
    """Allocate the demo unit's open cases and plan the demo transfer; the cases allocated."""
    unit = ServiceUnit.objects.filter(code=UNIT).first()
    receiving = ServiceUnit.objects.filter(code=RECEIVING).first()
    people = {
        u.username: u for u in User.objects.filter(username__in=[WORKER, SUPERVISOR, OFFICER])
    }
    if unit is None or receiving is None or len(people) < 3 or TransferPlan.objects.exists():
        return 0
    open_ids = list(
        caseload.cases_needing_owner([unit.pk]).order_by("pk").values_list("pk", flat=True)
    )
    allocated = open_ids[min(LEFT_WITHOUT_OWNER, len(open_ids) // 3) :]
    if allocated:
        caseload.allocate(
            actor=people[SUPERVISOR],
            unit_id=unit.pk,
            task_ids=allocated,
            worker_ids=[people[WORKER].pk],
            respect_limits=False,
        )
    moving = list(
        transfer_plans.open_cases(unit.pk)
        .filter(owner=people[WORKER], is_lead=True)
        .exclude(referral__tasks__unit=receiving)
        .order_by("pk")[:3]
    )
    if moving:
        told = timezone.now() - timedelta(days=2)
        transfer_plans.plan_create(
            actor=people[OFFICER],
            kind=TransferPlan.Kind.UNIT,
            title="Demo: cases move to IFSC 2 (catchment redrawn)",
            from_unit_id=unit.pk,
            to_unit_id=receiving.pk,
            effective_on=timezone.localdate() + timedelta(days=7),
            cases=[
                transfer_plans.CaseSpec(
                    task_id=task.pk,
                    handover_note="Demo handover: lives alone; weekly calls; daughter in Shenzhen.",
                    family_informed_at=told if number or len(moving) == 1 else None,
                )
                for number, task in enumerate(moving)
            ],
        )
    return ReferralTask.objects.filter(unit=unit, owner__isnull=False).count()
