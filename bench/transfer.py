"""A planned transfer of 15,000 open cases (the pre-primary document's figure) in one plan,
at realistic volume, while the units' inboxes are in use.

Usage (a database seeded with ``seed_demo --referrals 1000000``, see docs/benchmarks.md;
the run changes it: the cases stay moved)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/welfare_bench \\
        .venv/bin/python bench/transfer.py --cases 15000

Setup (not timed): unit A is the demo IFSC of Sham Shui Po (``worker.ifsc.ssp``'s unit),
B another IFSC serving its district (``--reverse``: the other way round, for a second
run). If A holds fewer than ``--cases`` open lead tasks, lead tasks of other units in the
district are given to A first (SQL, outside the timing), so
that the plan has its 15,000 cases. Then, timed: making the plan (``plan_create``: every
case checked, one row and one timeline event per case), moving it on its effective date
(``plan_run``, batches of ``TRANSFER_BATCH_SIZE`` in their own transactions: the row locks
held at once are one batch's referrals), and B accepting every case (``cases_answer`` in
chunks). While the plan moves, one thread requests A's inbox (new and open tabs) through
gunicorn; the table shows its latency before and during the move (the inbox of a unit
holding 15,000 open cases, on the same two cores as the move).
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import harness  # noqa: E402

INBOX_WORKER = "worker.ifsc.ssp"


def give_unit_cases(unit, other_unit, count: int) -> int:
    """Lead tasks of the district's other units, open, given to ``unit`` until it holds
    ``count`` (none on a referral ``other_unit`` works on). Returns how many were moved."""
    from django.db import connection

    from referrals.models import OPEN_TASK_STATUSES, ReferralTask

    held = ReferralTask.objects.filter(unit=unit, is_lead=True, status__in=OPEN_TASK_STATUSES)
    missing = count - held.count()
    if missing <= 0:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE referrals_referraltask t SET unit_id = %s, status = 'in_progress'
            WHERE t.id IN (
                SELECT t2.id FROM referrals_referraltask t2
                JOIN referrals_referral r ON r.id = t2.referral_id
                WHERE r.district_id = %s AND t2.is_lead AND t2.unit_id NOT IN (%s, %s)
                  AND t2.status IN ('accepted', 'in_progress', 'on_hold')
                  AND NOT EXISTS (
                    SELECT 1 FROM referrals_referraltask o
                    WHERE o.referral_id = t2.referral_id AND o.unit_id IN (%s, %s)
                  )
                LIMIT %s)
            """,
            [unit.pk, unit.district_id, unit.pk, other_unit.pk, unit.pk, other_unit.pk, missing],
        )
        moved = cursor.rowcount
        cursor.execute(
            "UPDATE referrals_referral r SET assigned_unit_id = t.unit_id, status = t.status "
            "FROM referrals_referraltask t WHERE t.referral_id = r.id AND t.is_lead "
            "AND t.unit_id = %s AND r.assigned_unit_id <> %s",
            [unit.pk, unit.pk],
        )
    return moved


class InboxProbe(threading.Thread):
    """Requests the inbox tabs one after another until stopped; keeps each latency."""

    def __init__(self, base: str, session_key: str):
        super().__init__(daemon=True)
        self.client = harness.browser(base, session_key)
        self.base = base
        self.stopped = threading.Event()
        self.timings: dict[str, list[float]] = {"/inbox/": [], "/inbox/?tab=open": []}
        self.errors: list[int] = []

    def run(self) -> None:
        while not self.stopped.is_set():
            for path, timings in self.timings.items():
                started = time.perf_counter()
                response = self.client.get(self.base + path, allow_redirects=False, timeout=60)
                if response.status_code != 200:
                    self.errors.append(response.status_code)
                timings.append((time.perf_counter() - started) * 1000)


def probe(base: str, session_key: str, seconds: float) -> InboxProbe:
    thread = InboxProbe(base, session_key)
    thread.start()
    time.sleep(seconds)
    thread.stopped.set()
    thread.join()
    return thread


def main() -> None:  # long: a benchmark script, step after step
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=15000)
    parser.add_argument("--baseline-seconds", type=float, default=20)
    parser.add_argument(
        "--reverse", action="store_true", help="move from B back to A (a second run)"
    )
    args = parser.parse_args()

    harness.configure()
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import Membership, User
    from referrals import transfer_plans, transfers
    from referrals.models import OPEN_TASK_STATUSES, Referral, ReferralTask, TransferPlan
    from services.models import ServiceUnit

    unit_a = Membership.objects.get(user__username=INBOX_WORKER).service_unit
    unit_b = (
        ServiceUnit.objects.serving_district(unit_a.district_id)
        .filter(unit_type__code="IFSC", is_active=True)
        .exclude(pk=unit_a.pk)
        .order_by("code")
        .first()
    )
    if args.reverse:
        unit_a, unit_b = unit_b, unit_a
    officer = User.objects.get(username=harness.DEMO_OFFICER)
    receiver, _ = User.objects.get_or_create(username="bench.transfer.receiver")
    Membership.objects.get_or_create(user=receiver, role="unit_staff", service_unit=unit_b)
    given = give_unit_cases(unit_a, unit_b, args.cases)
    tasks = list(
        ReferralTask.objects.filter(unit=unit_a, is_lead=True, status__in=OPEN_TASK_STATUSES)
        .exclude(referral__tasks__unit=unit_b)
        .order_by("pk")
        .values_list("pk", flat=True)[: args.cases]
    )
    print(
        f"\n{Referral.objects.count():,} referrals; {unit_a.code} → {unit_b.code}; "
        f"{len(tasks):,} open cases ({given:,} given to {unit_a.code} first, not timed); "
        f"batch size {settings.TRANSFER_BATCH_SIZE}.\n"
    )
    told = timezone.now() - timedelta(days=1)
    rows = []

    started = time.perf_counter()
    plan = transfer_plans.plan_create(
        actor=officer,
        kind=TransferPlan.Kind.UNIT,
        title=f"Bench transfer of {len(tasks)} cases",
        from_unit_id=unit_a.pk,
        to_unit_id=unit_b.pk,
        effective_on=timezone.localdate(),
        cases=[
            transfer_plans.CaseSpec(
                task_id=pk, handover_note="Bench handover note.", family_informed_at=told
            )
            for pk in tasks
        ],
    )
    rows.append(("make the plan (check and write every case)", time.perf_counter() - started))

    batches: list[tuple[int, float]] = []
    real = transfers._move_batch

    def timed_batch(plan, ids):
        began = time.perf_counter()
        result = real(plan, ids)
        batches.append((len(ids), time.perf_counter() - began))
        return result

    transfers._move_batch = timed_batch
    session_key = harness.signed_in_session(INBOX_WORKER)
    log = Path(tempfile.gettempdir()) / "bench-transfer-gunicorn.log"
    server, base = harness.start_gunicorn(workers=2, threads=1, log=log)
    try:
        before = probe(base, session_key, args.baseline_seconds)
        during = InboxProbe(base, session_key)
        during.start()
        started = time.perf_counter()
        result = transfers.plan_run(plan_id=plan.pk)
        run_seconds = time.perf_counter() - started
        during.stopped.set()
        during.join()
    finally:
        harness.stop(server)
    rows.append((f"move {result.moved:,} cases on the effective date", run_seconds))

    case_ids = list(plan.cases.order_by("pk").values_list("pk", flat=True))
    started = time.perf_counter()
    for start in range(0, len(case_ids), 500):
        transfers.cases_answer(actor=receiver, case_ids=case_ids[start : start + 500], accept=True)
    rows.append((f"B accepts all {len(case_ids):,} (chunks of 500)", time.perf_counter() - started))

    print(f"{'step':<52}{'seconds':>10}{'cases/s':>10}")
    for label, seconds in rows:
        print(f"{label:<52}{seconds:>10.1f}{len(tasks) / seconds:>10.0f}")
    sizes = [n for n, _ in batches]
    durations = [s * 1000 for _, s in batches]
    print(
        f"\nbatches: {len(batches)}, largest {max(sizes)} cases; batch time median "
        f"{statistics.median(durations):.0f} ms, max {max(durations):.0f} ms (locks held)"
    )
    print(f"\n{'inbox (A, gunicorn 2 workers)':<40}{'median ms':>10}{'p95 ms':>10}{'n':>6}")
    for label, run in (("before the move", before), ("while the plan moves", during)):
        for path, timings in run.timings.items():
            if timings:
                print(
                    f"{label + ' ' + path:<40}{harness.median(timings):>10.1f}"
                    f"{harness.percentile(timings, 0.95):>10.1f}{len(timings):>6}"
                )
        if run.errors:
            print(f"  {len(run.errors)} answers other than 200: {sorted(set(run.errors))} ({log})")
    left = ReferralTask.objects.filter(pk__in=tasks).exclude(unit=unit_b).count()
    print(f"\ncases not with {unit_b.code} at the end: {left}")


if __name__ == "__main__":
    main()
