"""The dashboard's speed work (issue 20): the same figures by the faster paths, the tables
built in Python as the template wrote them, the cold page's query counts, and (on
PostgreSQL) the counts answered from the indexes of migration 0025."""

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from districts.models import District
from referrals import dashboard_counts
from referrals.dashboard import (
    HONG_KONG,
    Row,
    covers_every_district,
    dashboard_districts,
    dashboard_figures,
    period_starts,
)
from referrals.models import ReferralEvent, Status
from referrals.web.dashboard_views import _table_body
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 4, 15, 10, 0, tzinfo=HONG_KONG)
INDEX = reverse("dashboard:index")
EXPORT = reverse("dashboard:export")
in_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's grouping sets and plans"
)


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW.astimezone(UTC))


@pytest.fixture
def city(referrer, caring_team, ifsc_unit, other_unit, ssp_area):
    """Referrals in two districts, open and closed, with decisions, declines and failures
    (with reasons) by two units: every figure of the page has something to count."""

    def referral(days_ago, status, *, district="F", unit=None, **fields):
        return factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            district=factories.district(district),
            submitted_at=NOW - timedelta(days=days_ago),
            status=status,
            assigned_unit=unit,
            **fields,
        )

    def step(made, to_status, hours, unit, reason=""):
        ReferralEvent.objects.create(
            referral=made,
            at=made.submitted_at + timedelta(hours=hours),
            to_status=to_status,
            unit=unit,
            reason=reason,
        )

    overdue = NOW - timedelta(hours=3)
    made = [
        referral(1, Status.TRIAGE, sub_district=ssp_area),
        referral(2, Status.ASSIGNED, unit=ifsc_unit, due_at=overdue, sub_district=ssp_area),
        referral(5, Status.ACCEPTED, unit=other_unit, escalated_at=NOW - timedelta(days=1)),
        referral(3, Status.ASSIGNED, district="J", unit=other_unit),
        referral(40, Status.IN_PROGRESS, district="J", unit=ifsc_unit),
        referral(20, Status.COMPLETED, unit=ifsc_unit, closed_at=NOW - timedelta(days=2)),
        referral(30, Status.FAILED, district="J", unit=other_unit, closed_at=NOW - timedelta(1)),
        referral(0, Status.DRAFT),
    ]
    step(made[2], Status.REJECTED, 2, ifsc_unit, reason="No capacity ")
    step(made[2], Status.ACCEPTED, 9, other_unit)
    step(made[4], Status.ACCEPTED, 30, ifsc_unit)
    step(made[5], Status.ACCEPTED, 4, ifsc_unit)
    step(made[6], Status.REJECTED, 1, ifsc_unit, reason="no capacity")
    step(made[6], Status.FAILED, 50, other_unit, reason="Could not reach")
    return made


def test_every_district_needs_no_district_lookup_and_counts_the_same(city):
    every = list(District.objects.order_by("code"))
    quick = dashboard_figures(districts=every, now=NOW, everywhere=True)
    assert quick == dashboard_figures(districts=every, now=NOW, everywhere=False)
    assert quick.total.received_month == 4  # not the draft, nor those of 20 days and more
    assert (quick.outcomes.declined_steps, quick.outcomes.failed_steps) == (2, 1)


def test_headquarters_covers_every_district_and_an_officer_does_not(admin_user, district_officer):
    assert covers_every_district(user=admin_user)
    assert len(dashboard_districts(user=admin_user)) == District.objects.count()
    assert not covers_every_district(user=district_officer)


@in_postgresql
@pytest.mark.parametrize("row_by_row", [False, True])
def test_the_caseload_in_the_database_is_the_python_one(city, row_by_row):
    week_start, month_start, _cohort = period_starts(NOW)
    ids = list(District.objects.values_list("pk", flat=True))
    periods = {"week_start": week_start, "month_start": month_start, "now": NOW}
    in_database = dashboard_counts.caseload(ids, **periods, row_by_row=row_by_row)
    assert in_database == dashboard_counts.caseload(ids, **periods, in_database=False)
    # received week, month, open, triage, overdue, escalated
    assert in_database[("total", None)] == (2, 4, 5, 1, 1, 1)
    assert in_database[("district", factories.district("J").pk)][2] == 2


def test_the_unit_types_add_up_their_units_caseload(city, ifsc_unit, other_unit):
    result = dashboard_figures(districts=list(District.objects.all()), now=NOW)
    types = {row.key: row.figures for row in result.unit_types}
    assert types["IFSC"].open == 2  # the assigned one and the one in progress (Kwun Tong)
    assert types["ICCMW"].open == 2
    assert types[""].triage == 1  # no unit yet
    assert sum(figures.open for figures in types.values()) == result.total.open


LOOP = Template(
    '{% for row, cells in rows %}<tr data-code="{{ row.key }}"><th scope="row">'
    "{{ row.name }}</th>{% for cell in cells %}<td>{{ cell }}</td>{% endfor %}</tr>\n"
    "    {% endfor %}"
)


def test_the_tables_are_built_as_the_template_wrote_them():
    unit = factories.ServiceUnitFactory.build(code="a&b", name_en='Centre "A" <&> B')
    rows = [
        (Row(key="a&b", group=unit), ["1", "—", "2.5"]),
        (Row(key="", group=None), ["0", "—", "—"]),
    ]
    built = _table_body(rows)
    assert built == LOOP.render(Context({"rows": rows}))
    assert "&lt;&amp;&gt;" in built and "&quot;A&quot;" in built
    assert _table_body([]) == ""


# What every page costs (session, user, two-factor device, the navigation's context, the
# scope), the figures' ten and the outreach panel's one; the CSV has no navigation nor
# panel. Issue 20: no more than before the speed work.
COLD_PAGE = 16
COLD_EXPORT = 14


def _cold(client, url) -> tuple[int, object]:
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response


def test_the_cold_page_and_export_cost_no_more_queries(client, city, district_officer, admin_user):
    for user in (district_officer, admin_user):
        client.force_login(user)
        assert _cold(client, INDEX)[0] <= COLD_PAGE
        assert _cold(client, EXPORT)[0] <= COLD_EXPORT
    _count, response = _cold(client, INDEX)
    assert len(response.context["district_rows"]) == 18
    assert 'data-code="F"' in response.content.decode()


@contextmanager
def _only_indexes(table: str, keep: list[str]):
    """Drop, inside the test's transaction (rolled back after it), the table's indexes but
    ``keep`` and those backing a constraint: the plan is then a choice among the indexes the
    test is about. With a handful of rows and whatever statistics earlier tests left, the
    planner otherwise picks any index that has the column (a foreign key's, say); a
    covering index that lacks a column still shows (an Index Scan, not Index Only). In a
    savepoint rolled back after the block: the next block has every index again."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = %s::regclass AND NOT i.relname = ANY(%s)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
            [table, keep],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        yield
        transaction.set_rollback(True)


def _plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@in_postgresql
def test_the_counts_are_read_from_the_dashboard_indexes(city):
    """With the table scans priced out, the counts are answered by the indexes alone: the
    open caseload's holds every column it asks (a new column in a count shows here first),
    the declines' and failures' and a district's referral ids too."""
    week_start, month_start, cohort = period_starts(NOW)
    ids = [factories.district("F").pk]
    open_work = dashboard_counts.caseload_groups(
        ids, week_start=week_start, month_start=month_start, now=NOW
    )
    refusals = ReferralEvent.objects.filter(
        kind=ReferralEvent.Kind.STATUS,
        to_status__in=[Status.REJECTED, Status.FAILED],
        at__gte=cohort,
        at__lte=NOW,
    ).values_list("referral_id", "to_status")
    refusals = refusals.order_by()
    assert "Index Only Scan using referral_event_refusals" in _plan(
        *refusals.query.sql_with_params()
    )
    # Each part (open work; received this week and month) reads its covering index alone.
    with _only_indexes("referrals_referral", ["referral_open_caseload", "referral_queue_age"]):
        plan = _plan(*open_work.query.sql_with_params())
    scans = [line for line in plan.splitlines() if "Scan" in line and "Subquery" not in line]
    assert len(scans) == 2 and all("Index Only Scan using referral_" in s for s in scans), plan
    # A district's ids: its index holds them (read alone).
    district_ids = dashboard_counts.Referral.objects.filter(district_id__in=ids).values("id")
    district_ids = district_ids.order_by()
    with _only_indexes("referrals_referral", ["referral_district_ids"]):
        plan = _plan(*district_ids.query.sql_with_params())
    assert "Index Only Scan using referral_district_ids" in plan, plan
