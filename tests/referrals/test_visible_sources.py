"""``selectors.visible_sources``: ``referrals_visible_to`` as the union of its parts, for a
reader who sees referrals through a unit, and the list's capped count read from them
(issue 20: a unit worker's "my referrals" counted 634,000 rows at a million referrals)."""

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from referrals.models import ReferralTask, Status, TransferCase, TransferPlan
from referrals.queues import capped_union_count
from referrals.selectors import referrals_visible_to, visible_sources
from tests import factories

pytestmark = pytest.mark.django_db
in_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a compound query's parts limited: PostgreSQL"
)


def staff_of(unit, **more):
    membership = factories.MembershipFactory(service_unit=unit, **more)
    return membership.user


@pytest.fixture
def world():
    """A unit worker who sees referrals every way a unit can, and some they must not."""
    unit, other = factories.ServiceUnitFactory(), factories.ServiceUnitFactory()
    worker = staff_of(unit)
    seen = {
        "own draft": factories.ReferralFactory(referrer=worker, status=Status.DRAFT),
        "lead": factories.ReferralFactory(assigned_unit=unit, status=Status.ASSIGNED),
        "part": factories.ReferralFactory(assigned_unit=other, status=Status.IN_PROGRESS),
        "moved away": factories.ReferralFactory(assigned_unit=other, status=Status.ACCEPTED),
    }
    ReferralTask.objects.create(referral=seen["part"], unit=unit, status=Status.ACCEPTED)
    plan = TransferPlan.objects.create(
        kind="unit",
        title="Move",
        from_unit=unit,
        effective_on=timezone.localdate(),
        created_by=factories.UserFactory(),
    )
    TransferCase.objects.create(
        plan=plan,
        task=seen["moved away"].tasks.get(),
        referral=seen["moved away"],
        from_unit=unit,
        to_unit=other,
        state="moved",
    )
    hidden = {
        "another's draft": factories.ReferralFactory(status=Status.DRAFT),
        "another unit's": factories.ReferralFactory(assigned_unit=other, status=Status.ASSIGNED),
        "declined part": factories.ReferralFactory(assigned_unit=other, status=Status.ASSIGNED),
    }
    ReferralTask.objects.create(referral=hidden["declined part"], unit=unit, status="rejected")
    return worker, seen, hidden


def union_of(sources) -> set[int]:
    return {pk for source in sources for pk in source.values_list("pk", flat=True)}


def test_the_parts_hold_the_same_rows_as_the_visibility(world):
    worker, seen, hidden = world
    visible = set(referrals_visible_to(worker).values_list("pk", flat=True))
    assert visible == {r.pk for r in seen.values()}
    assert union_of(visible_sources(worker)) == visible
    assert not visible & {r.pk for r in hidden.values()}


def test_a_unit_worker_who_is_also_an_officer_has_the_districts_part_too(world):
    worker, seen, _hidden = world
    factories.MembershipFactory(
        user=worker,
        role=Membership.Role.DISTRICT_OFFICER,
        service_unit=None,
        welfare_office=factories.office("SSP"),
    )
    in_district = factories.ReferralFactory(district=factories.district("F"))
    visible = set(referrals_visible_to(worker).values_list("pk", flat=True))
    assert in_district.pk in visible
    assert union_of(visible_sources(worker)) == visible


def test_readers_without_a_unit_keep_the_plain_query(referrer, district_officer, admin_user):
    for reader in (referrer, district_officer, admin_user):
        assert visible_sources(reader) is None


@in_postgresql
def test_the_union_count_is_capped_as_the_plain_count_is(world):
    worker, seen, _hidden = world
    sources = visible_sources(worker)
    assert capped_union_count(sources) == (len(seen), False)
    assert capped_union_count(sources, cap=2) == (2, True)
    assert capped_union_count(sources, cap=len(seen)) == (len(seen), False)


@in_postgresql
def test_the_list_counts_the_parts_with_the_lists_filters(client, world):
    worker, seen, _hidden = world
    client.force_login(worker)
    response = client.get(reverse("referrals:list"))
    assert (response.context["count"], response.context["count_more"]) == (len(seen), False)
    response = client.get(reverse("referrals:list"), {"status": Status.ASSIGNED})
    assert response.context["count"] == 1
    assert [r.pk for r in response.context["referrals"]] == [seen["lead"].pk]


def unkeyed_scans(plan: str) -> list[str]:
    """The plan's reads of the referrals table that no condition narrows (no ``Index Cond``
    or ``Recheck Cond`` under them): a read of every referral."""
    lines, found = plan.splitlines(), []
    for at, line in enumerate(lines):
        if "Scan" not in line or " on referrals_referral " not in f"{line} ":
            continue
        below = []  # the node's own lines: up to its first child or subplan
        for following in lines[at + 1 :]:
            if "->" in following or "SubPlan" in following:
                break
            below.append(following)
        if not any("Index Cond" in b or "Recheck Cond" in b for b in below):
            found.append(line.strip())
    return found


def many_other_referrals(count: int = 3000) -> None:
    """``count`` copies of a referral nobody in the test sees, spread over the districts, and
    the table analysed: with a handful of rows (and whatever statistics earlier tests left)
    reading a whole index costs the planner what reading it by key does, and a plan says
    nothing about the rule's shape."""
    template = factories.ReferralFactory(status=Status.COMPLETED)
    overrides = {
        "public_id": "gen_random_uuid()",
        "submission_token": "gen_random_uuid()",
        "reference": "'BULK-' || g",
        "district_id": "(SELECT array_agg(id) FROM districts_district)[1 + g %% 18]",
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name ="
            " 'referrals_referral' AND is_generated = 'NEVER' AND column_name <> 'id'"
        )
        columns = [name for (name,) in cursor.fetchall()]
        values = ", ".join(overrides.get(name, f'r."{name}"') for name in columns)
        names = ", ".join(f'"{name}"' for name in columns)
        cursor.execute(
            f"INSERT INTO referrals_referral ({names}) SELECT {values}"  # noqa: S608
            " FROM referrals_referral r, generate_series(1, %s) g WHERE r.id = %s",
            [count, template.pk],
        )
        for table in ("referrals_referral", "referrals_referraltask", "referrals_transfercase"):
            cursor.execute(f"ANALYZE {table}")


@in_postgresql
def test_no_part_of_the_count_reads_every_referral(world):
    """With table scans priced out, each part is read by a key from an index; the plain OR
    of the same rule has no key to read by (every referral is read and filtered)."""
    worker, _seen, _hidden = world
    many_other_referrals()
    firsts = [source.order_by().values("pk")[:1001] for source in visible_sources(worker)]
    union = firsts[0].union(*firsts[1:])
    plain = referrals_visible_to(worker).order_by().values("pk")[:1001]
    with connection.cursor() as cursor:
        # Table scans, and the joins that read a whole side, priced out: the plans a million
        # referrals get (with a few thousand rows a merge join on the primary key from its
        # start is as cheap as probing it by key).
        for setting in ("enable_seqscan", "enable_mergejoin", "enable_hashjoin"):
            cursor.execute(f"SET LOCAL {setting} = off")
        plans = []
        for query in (union, plain):
            sql, params = query.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert not unkeyed_scans(plans[0]), plans[0]
    assert unkeyed_scans(plans[1]), plans[1]
