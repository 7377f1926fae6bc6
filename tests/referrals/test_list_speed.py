"""The list pages at a million referrals (issue 20): "my referrals" pages as the queue does
(``queues.page_of``: one row more than shown, no COUNT over the whole set) in a stable,
index-ordered sequence, counts no further than the queue's cap, and long lists translate their
labels once a page, in the reader's language."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from referrals.models import Referral, Status
from referrals.web.views import LIST_ORDER
from tests import factories

pytestmark = pytest.mark.django_db

LIST = reverse("referrals:list")


@pytest.fixture
def filed(referrer, caring_team):
    """``count`` referrals of the Sham Shui Po caring team, a minute apart (or all at the
    same moment with ``same_time``), newest last."""

    def make(count, *, same_time=False, **fields):
        start = timezone.now() - timedelta(days=1)
        made = []
        for number in range(count):
            referral = factories.ReferralFactory(
                referrer=referrer, referring_team=caring_team, **fields
            )
            at = start if same_time else start + timedelta(minutes=number)
            Referral.objects.filter(pk=referral.pk).update(created_at=at)
            made.append(referral)
        return made

    return make


def references(response) -> list[str]:
    return re.findall(r'<tr class="referral" data-reference="([^"]*)"', response.content.decode())


def test_an_officers_list_pages_without_counting_every_row(client, district_officer, filed):
    made = filed(30)
    client.force_login(district_officer)
    client.get(LIST)  # the session's first-request queries
    with CaptureQueriesContext(connection) as queries:
        first = client.get(LIST)
    counts = [q["sql"] for q in queries if "COUNT(*)" in q["sql"]]
    assert len(counts) == 1 and "LIMIT 1001" in counts[0]  # queues.capped_count, never all
    newest_first = [r.reference for r in reversed(made)]
    assert references(first) == newest_first[:25]
    html = first.content.decode()
    assert 'id="next-page"' in html and 'href="?page=2"' in html
    assert 'rel="prev"' not in html
    assert '<caption class="result-count" id="result-count">30 referrals</caption>' in html
    second = client.get(LIST, {"page": 2})
    assert references(second) == newest_first[25:]
    html = second.content.decode()
    assert 'id="next-page"' not in html and 'href="?page=1"' in html
    assert "Page 2" in html and "Page 2 of" not in html  # no total: nothing counted it


def test_a_next_page_is_offered_only_when_there_is_one(client, referrer, filed):
    filed(25)
    client.force_login(referrer)
    response = client.get(LIST)
    assert len(references(response)) == 25
    assert 'id="next-page"' not in response.content.decode()
    assert client.get(LIST, {"page": 2}).context["referrals"] == []


def test_pages_keep_their_filters_and_never_overlap_when_times_are_equal(client, referrer, filed):
    made = filed(27, same_time=True, status=Status.TRIAGE)
    filed(3, status=Status.COMPLETED)
    client.force_login(referrer)
    first = client.get(LIST, {"status": "triage"})
    assert 'href="?status=triage&amp;page=2"' in first.content.decode()
    second = client.get(LIST, {"status": "triage", "page": 2})
    shown = references(first) + references(second)
    # Ties on the time are broken by the id, newest first: every row once, in one order.
    assert shown == [r.reference for r in sorted(made, key=lambda r: r.pk, reverse=True)]
    assert first.context["count"] == 27


def test_the_list_count_stops_at_the_queues_cap(client, referrer, filed, monkeypatch):
    monkeypatch.setattr("referrals.queues.COUNT_CAP", 2)
    filed(3)
    client.force_login(referrer)
    response = client.get(LIST)
    assert (response.context["count"], response.context["count_more"]) == (2, True)
    assert "More than 2 referrals" in response.content.decode()


def test_new_referral_is_offered_to_those_who_file_them(client, referrer, district_officer):
    client.force_login(referrer)
    html = client.get(LIST).content.decode()
    assert "My referrals" in html and reverse("referrals:new") in html
    client.force_login(district_officer)
    html = client.get(LIST).content.decode()
    assert "My referrals" not in html and reverse("referrals:new") not in html


def test_the_officers_list_costs_the_same_for_few_or_many_rows(
    client, district_officer, filed, django_assert_num_queries
):
    client.force_login(district_officer)
    filed(2)
    client.get(LIST)
    # The session, its user and two-factor device, the memberships, the capped count, the
    # page's ids, its rows, the access log, the page context's memberships and unread count.
    with django_assert_num_queries(9) as few:
        client.get(LIST)
    filed(30)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(LIST)
    assert len(references(response)) == 25


def test_long_lists_name_statuses_and_columns_in_the_readers_language(
    client, district_officer, unit_worker, filed, ifsc_unit
):
    filed(2, status=Status.TRIAGE)
    filed(1, status=Status.ASSIGNED, assigned_unit=ifsc_unit, due_at=timezone.now())
    client.force_login(district_officer)
    for url in (reverse("queue:index"), LIST):
        html = client.get(url, {"view": "triage"}, HTTP_ACCEPT_LANGUAGE="zh-hant").content
        html = html.decode()
        assert '<span class="status status-triage">等候分流</span>' in html
        assert 'data-label="狀態"' in html and 'data-label="Status"' not in html
    client.force_login(unit_worker)
    html = client.get(reverse("inbox:index"), HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert 'data-label="狀態"' in html and 'data-label="Status"' not in html
    client.force_login(district_officer)
    english = client.get(reverse("queue:index"), {"view": "triage"}).content.decode()
    assert 'aria-label="Select ' in english and "等候分流" not in english


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
def test_the_officers_list_is_read_in_index_order(district_officer, filed):
    """``referral_recent`` serves "newest first" for any reader: the page's ids come from an
    index-only scan that stops after the page, with no sort (seq and bitmap scans are turned
    off: at a test's few rows the planner would read the table whatever the index)."""
    from referrals.selectors import referrals_visible_to

    filed(30)
    rows = referrals_visible_to(district_officer).order_by(*LIST_ORDER)
    # The query ``queues.page_of`` asks for a page's ids.
    sql, params = rows.values_list("pk", flat=True)[:26].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "referral_recent" in plan and "Sort" not in plan, plan
