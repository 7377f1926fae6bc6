"""The workspaces as people use them (issue 19): the unit's inbox as a compact table with
counts on its tabs and no action forms in its rows, the queue's result count, folded filters
and translated empty choices, the routing panel that keeps what was chosen when it refuses,
the bulk withdraw that asks first, and one rule for "overdue" on every page."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from referrals.lifecycle import TRANSITIONS
from referrals.models import Referral, ReferralEvent, Status
from referrals.services import referral_decline
from services.models import NeedCategory
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def make(referrer, caring_team, ssp_area):
    def build(reference, **fields):
        fields.setdefault("status", Status.ASSIGNED)
        return factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            sub_district=ssp_area,
            reference=reference,
            **fields,
        )

    return build


@pytest.fixture
def inbox_rows(make, ifsc_unit):
    now = timezone.now()
    housing = NeedCategory.objects.get(code="housing")
    rows = {
        "due_soon": make("SSP-2026-000011", assigned_unit=ifsc_unit, due_at=now + timedelta(1)),
        "overdue": make("SSP-2026-000012", assigned_unit=ifsc_unit, due_at=now - timedelta(1)),
        "working": make("SSP-2026-000013", assigned_unit=ifsc_unit, status=Status.IN_PROGRESS),
        "held": make("SSP-2026-000014", assigned_unit=ifsc_unit, status=Status.ON_HOLD),
        "done": make("SSP-2026-000015", assigned_unit=ifsc_unit, status=Status.COMPLETED),
    }
    rows["due_soon"].needs.set([housing])
    return rows


def section(html: str, reference: str, end: str = "</tr>") -> str:
    start = html.index(f'data-reference="{reference}"')
    return html[start : html.index(end, start)]


# --- The unit's inbox -------------------------------------------------------------------


def test_each_inbox_tab_says_how_many_it_lists(client, unit_worker, inbox_rows):
    client.force_login(unit_worker)
    response = client.get(reverse("inbox:index"))
    counts = {key: count for key, _label, count in response.context["tabs"]}
    assert counts == {"new": 2, "open": 1, "on_hold": 1, "overdue": 1, "closed": 1}
    html = response.content.decode()
    assert re.search(r'id="tab-new"[^>]*>New <span class="tab-count"[^>]*>2</span>', html)
    for tab, count in counts.items():  # each count is what its tab lists
        listed = client.get(reverse("inbox:index"), {"tab": tab}).context["rows"]
        assert len(listed) == count, tab


def test_the_inbox_is_a_table_without_action_forms_in_its_rows(client, unit_worker, inbox_rows):
    client.force_login(unit_worker)
    for tab in ("new", "open", "on_hold", "overdue"):
        html = client.get(reverse("inbox:index"), {"tab": tab}).content.decode()
        assert '<table class="worklist inbox-table" id="inbox-rows">' in html
        assert '<caption id="inbox-caption">' in html and '<th scope="col">Needs</th>' in html
        assert reverse("referrals:act", args=[inbox_rows["due_soon"].public_id]) not in html
        assert 'name="reason"' not in html and 'name="outcome"' not in html
        assert 'name="action"' not in html


def test_a_row_links_to_its_main_step_on_the_referral_page(client, unit_worker, inbox_rows):
    client.force_login(unit_worker)
    html = client.get(reverse("inbox:index")).content.decode()
    row = section(html, "SSP-2026-000011")
    detail = reverse("referrals:detail", args=[inbox_rows["due_soon"].public_id])
    assert f'href="{detail}?action=accept&amp;next=/inbox/#action-form"' in row
    assert "Housing" in row  # the needs column
    assert "accept or decline by" in row
    html = client.get(reverse("inbox:index"), {"tab": "open"}).content.decode()
    assert "?action=complete&amp;" in section(html, "SSP-2026-000013")
    html = client.get(reverse("inbox:index"), {"tab": "on_hold"}).content.decode()
    assert "?action=resume&amp;" in section(html, "SSP-2026-000014")


def test_a_declined_row_shows_the_units_own_outcome_and_no_link(
    client, unit_worker, inbox_rows, other_unit
):
    referral = inbox_rows["due_soon"]
    referral_decline(referral_id=referral.pk, actor=unit_worker, reason="No places left")
    # Routed on to another unit, with its own deadline.
    Referral.objects.filter(pk=referral.pk).update(
        status=Status.ASSIGNED, assigned_unit=other_unit, due_at=timezone.now() + timedelta(1)
    )
    client.force_login(unit_worker)
    response = client.get(reverse("inbox:index"), {"tab": "closed"})
    row = section(response.content.decode(), referral.reference)
    assert "Declined by your unit" in row and "No places left" in row
    event = ReferralEvent.objects.get(referral=referral, to_status=Status.REJECTED)
    assert timezone.localtime(event.at).strftime("%Y-%m-%d %H:%M") in row
    assert "<a " not in row  # its page would be a 404
    assert "accept or decline by" not in row and ">Assigned<" not in row
    counts = {key: count for key, _label, count in response.context["tabs"]}
    assert counts["closed"] == 2 and counts["new"] == 1


def test_the_tab_counts_are_one_query_for_every_tab(client, unit_worker, inbox_rows):
    client.force_login(unit_worker)
    client.get(reverse("inbox:index"))  # the session's first-request queries
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("inbox:index"))
    counting = [q["sql"] for q in queries if 'COUNT(DISTINCT "referrals_referraltask"' in q["sql"]]
    assert len(counting) == 1


# --- The queue ------------------------------------------------------------------------------


def test_the_queue_says_how_many_referrals_match(client, district_officer, make):
    for number in range(3):
        make(f"SSP-2026-00010{number}", status=Status.TRIAGE, assigned_unit=None)
    client.force_login(district_officer)
    response = client.get(reverse("queue:index"), {"view": "triage"})
    assert '<caption class="result-count" id="result-count">3 referrals</caption>' in (
        response.content.decode()
    )
    assert (response.context["count"], response.context["count_more"]) == (3, False)
    one = client.get(reverse("queue:index"), {"view": "triage", "risk_level": "urgent"})
    assert "0 referrals" in one.content.decode()


def test_the_result_count_stops_at_its_cap(client, district_officer, make, monkeypatch):
    monkeypatch.setattr("referrals.queues.COUNT_CAP", 2)
    for number in range(3):
        make(f"SSP-2026-00020{number}", status=Status.TRIAGE, assigned_unit=None)
    client.force_login(district_officer)
    client.get(reverse("queue:index"))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("queue:index"), {"view": "triage"})
    assert "More than 2 referrals" in response.content.decode()
    counts = [q["sql"] for q in queries if 'COUNT(*) FROM (SELECT "referrals_referral"' in q["sql"]]
    assert len(counts) == 1 and "LIMIT 3" in counts[0]  # never a COUNT over the district


def test_empty_choices_say_any_and_the_filters_fold_until_one_is_set(
    client, district_officer, ifsc_unit
):
    client.force_login(district_officer)
    html = client.get(reverse("queue:index")).content.decode()
    assert "---------" not in html
    assert len(re.findall(r'<option value="" selected>Any</option>', html)) >= 6
    assert '<details class="more-filters" id="more-filters">' in html  # folded
    html = client.get(reverse("queue:index"), {"risk_level": "urgent", "unit": ifsc_unit.pk})
    html = html.content.decode()
    assert '<details class="more-filters" id="more-filters" open>' in html
    assert '<span class="badge">2 set</span>' in html
    with translation.override("zh-hant"):
        html = client.get(reverse("queue:index"), HTTP_ACCEPT_LANGUAGE="zh-hant")
    assert "---------" not in html.content.decode()


def test_the_queue_is_a_table_with_a_select_all_box(client, district_officer, make):
    make("SSP-2026-000301", status=Status.TRIAGE, assigned_unit=None)
    client.force_login(district_officer)
    html = client.get(reverse("queue:index"), {"view": "triage"}).content.decode()
    assert '<table class="worklist queue-table" id="queue-rows">' in html
    assert 'id="select-all" data-select-all="bulk"' in html
    row = section(html, "SSP-2026-000301")
    assert 'name="selected" form="bulk"' in row


# --- Bulk withdraw asks first -----------------------------------------------------------


def test_bulk_withdraw_shows_what_it_does_and_changes_nothing_until_confirmed(
    client, district_officer, make
):
    first = make("SSP-2026-000401", status=Status.TRIAGE, assigned_unit=None)
    second = make("SSP-2026-000402", status=Status.TRIAGE, assigned_unit=None)
    client.force_login(district_officer)
    data = {
        "bulk_action": "cancel",
        "selected": [first.pk, second.pk],
        "reason": "duplicates of one family",
        "query": "view=triage",
    }
    response = client.post(reverse("queue:bulk"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert str(TRANSITIONS["cancel"].consequence) in html
    assert "SSP-2026-000401, SSP-2026-000402" in html
    assert 'name="confirmed" value="1"' in html
    assert first.subject_name_en not in html  # references only
    for referral in (first, second):
        after = Referral.objects.get(pk=referral.pk)
        assert (after.status, after.version) == (Status.TRIAGE, referral.version)
    assert not ReferralEvent.objects.filter(referral__in=[first, second]).exists()

    response = client.post(reverse("queue:bulk"), {**data, "confirmed": "1", "reason": ""})
    assert response.status_code == 400 and "Give the reason" in response.content.decode()
    assert Referral.objects.get(pk=first.pk).status == Status.TRIAGE

    response = client.post(reverse("queue:bulk"), {**data, "confirmed": "1"}, follow=True)
    assert response.redirect_chain[-1][0].endswith("?view=triage")
    assert "SSP-2026-000401: done." in response.content.decode()
    assert Referral.objects.get(pk=second.pk).status == Status.CANCELLED


# --- The routing panel keeps what was chosen ------------------------------------------


@pytest.fixture
def routable(make, iccmw_pair):
    referral = make("SSP-2026-000501", status=Status.TRIAGE, assigned_unit=None)
    referral.needs.set([NeedCategory.objects.get(code="mental_health")])
    return referral


@pytest.fixture
def iccmw_pair(ssp_area):
    near = factories.ServiceUnitFactory(
        code="iccmw-near",
        unit_type=factories.unit_type("ICCMW"),
        catchment_sub_districts=[ssp_area],
        capacity=100,
        current_load=95,
    )
    wide = factories.ServiceUnitFactory(
        code="iccmw-wide",
        unit_type=factories.unit_type("ICCMW"),
        catchment_districts=[factories.district("F")],
        capacity=100,
        current_load=10,
    )
    return near, wide


@pytest.mark.parametrize("panel", ["row", ""])
def test_routing_without_a_reason_keeps_the_unit_and_says_why_beside_the_field(
    client, district_officer, routable, iccmw_pair, panel
):
    near, wide = iccmw_pair
    client.force_login(district_officer)
    response = client.post(
        reverse("referrals:route", args=[routable.public_id]),
        {"unit": near.pk, "version": routable.version, "panel": panel, "next": "/queue/"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    suffix = f"-{routable.pk}" if panel else ""
    assert f'<section class="card triage-panel" id="triage{suffix}">' in html
    assert "<html" not in html
    assert re.search(rf'<option value="{near.pk}" selected>', html)
    assert not re.search(rf'<option value="{wide.pk}" selected>', html)
    error = html.index(f'id="route-reason-error{suffix}"')
    assert html.index(f'id="route-reason{suffix}"') < error
    assert "give the reason" in html[error : error + 200]
    assert 'aria-invalid="true"' in html
    assert not list(response.wsgi_request._messages)  # nothing at the top of a page
    assert Referral.objects.get(pk=routable.pk).status == Status.TRIAGE


def test_a_unit_not_offered_is_refused_beside_the_unit_field(
    client, district_officer, routable, iccmw_pair
):
    client.force_login(district_officer)
    response = client.post(
        reverse("referrals:route", args=[routable.public_id]),
        {"unit": "999999", "version": routable.version, "reason": "kept", "panel": "row"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "Choose a unit from the list." in html
    assert f'id="route-unit-error-{routable.pk}"' in html
    assert 'value="kept"' in html  # the reason as typed
    assert Referral.objects.get(pk=routable.pk).status == Status.TRIAGE


def test_a_done_routing_sends_the_browser_back_to_the_queue(
    client, district_officer, routable, iccmw_pair
):
    _near, wide = iccmw_pair
    client.force_login(district_officer)
    response = client.post(
        reverse("referrals:route", args=[routable.public_id]),
        {"unit": wide.pk, "version": routable.version, "next": "/queue/?view=triage"},
        HTTP_HX_REQUEST="true",
    )
    assert response.headers["HX-Redirect"] == "/queue/?view=triage"
    assert Referral.objects.get(pk=routable.pk).assigned_unit == wide


def test_the_route_list_names_unit_types_not_codes(
    client, district_officer, routable, iccmw_pair, ifsc_unit
):
    client.force_login(district_officer)
    panel = client.get(reverse("referrals:triage_panel", args=[routable.public_id]))
    html = panel.content.decode()
    assert "(Integrated Community Centre for Mental Wellness)" in html
    assert "(Integrated Family Service Centre)" in html
    assert "(ICCMW)" not in html and "(IFSC)" not in html
    with translation.override("zh-hant"):
        panel = client.get(
            reverse("referrals:triage_panel", args=[routable.public_id]),
            HTTP_ACCEPT_LANGUAGE="zh-hant",
        )
    assert "(精神健康綜合社區中心)" in panel.content.decode()


# --- One rule for overdue ---------------------------------------------------------------


def test_the_badge_the_overdue_view_the_tab_and_the_dashboard_agree(
    client, district_officer, unit_worker, make, ifsc_unit
):
    """Past its due time with no mark, marked by the sweep but due again later (re-routed),
    and not due: only the first is overdue, on every page."""
    now = timezone.now()
    make("SSP-2026-000601", assigned_unit=ifsc_unit, due_at=now - timedelta(minutes=5))
    make(
        "SSP-2026-000602",
        assigned_unit=ifsc_unit,
        due_at=now + timedelta(hours=3),
        overdue_at=now - timedelta(hours=1),
    )
    make("SSP-2026-000603", assigned_unit=ifsc_unit, due_at=now + timedelta(hours=1))
    client.force_login(district_officer)
    listed = client.get(reverse("queue:index"), {"view": "all"}).context["rows"]
    badged = {row["referral"].reference for row in listed if row["overdue"]}
    in_view = client.get(reverse("queue:index"), {"view": "overdue"}).context["rows"]
    dashboard = client.get(reverse("dashboard:index")).context["dashboard"]
    assert badged == {row["referral"].reference for row in in_view} == {"SSP-2026-000601"}
    assert dashboard.total.overdue == 1

    client.force_login(unit_worker)
    response = client.get(reverse("inbox:index"))
    badged = {row["referral"].reference for row in response.context["rows"] if row["overdue"]}
    tab = client.get(reverse("inbox:index"), {"tab": "overdue"})
    counts = {key: count for key, _label, count in tab.context["tabs"]}
    assert badged == {row["referral"].reference for row in tab.context["rows"]}
    assert badged == {"SSP-2026-000601"} and counts["overdue"] == 1
