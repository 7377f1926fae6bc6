"""The district office's queue and the unit's inbox: scope, filters, sorting, actions,
outsiders, and pinned query counts."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from referrals.models import AccessLog, Referral, ReferralEvent, Status
from services.models import NeedCategory
from tests import factories
from tests.referrals.conftest import file_through_page

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[str]:
    return [row["referral"].reference for row in response.context["rows"]]


@pytest.fixture
def kt_referral(db):
    """A referral of Kwun Tong (another office's district)."""
    return factories.ReferralFactory(
        district=factories.district("J"), status=Status.TRIAGE, reference="KT-2026-000001"
    )


@pytest.fixture
def ssp(referrer, caring_team, ssp_area, ifsc_unit):
    """Sham Shui Po referrals in every queue state."""
    now = timezone.now()

    def make(reference, **fields):
        fields.setdefault("status", Status.ASSIGNED)
        return factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            sub_district=ssp_area,
            reference=reference,
            **fields,
        )

    return {
        "triage": make("SSP-2026-000001", status=Status.TRIAGE, assigned_unit=None),
        "overdue": make(
            "SSP-2026-000002",
            assigned_unit=ifsc_unit,
            due_at=now - timedelta(hours=2),
            overdue_at=now - timedelta(hours=1),
        ),
        "urgent": make(
            "SSP-2026-000003",
            status=Status.IN_PROGRESS,
            assigned_unit=ifsc_unit,
            risk_level="urgent",
        ),
        "waiting": make("SSP-2026-000004", assigned_unit=ifsc_unit, due_at=now + timedelta(days=1)),
        "closed": make("SSP-2026-000005", status=Status.COMPLETED, assigned_unit=ifsc_unit),
        "escalated": make(
            "SSP-2026-000006",
            status=Status.ACCEPTED,
            assigned_unit=ifsc_unit,
            escalated_at=now,
        ),
    }


def test_the_default_view_is_what_needs_action_now_urgent_first(
    client, district_officer, ssp, kt_referral
):
    client.force_login(district_officer)
    response = client.get(reverse("queue:index"))
    assert response.status_code == 200
    assert rows_of(response)[0] == "SSP-2026-000003"  # urgent first
    assert set(rows_of(response)) == {
        "SSP-2026-000001",
        "SSP-2026-000002",
        "SSP-2026-000003",
        "SSP-2026-000006",
    }
    assert "KT-2026-000001" not in response.content.decode()


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        ("triage", {"triage"}),
        ("waiting", {"overdue", "waiting"}),
        ("overdue", {"overdue"}),
        ("escalated", {"escalated"}),
        ("open", {"triage", "overdue", "urgent", "waiting", "escalated"}),
        ("closed", {"closed"}),
        ("all", {"triage", "overdue", "urgent", "waiting", "closed", "escalated"}),
    ],
)
def test_each_view_shows_its_referrals(client, district_officer, ssp, view, expected):
    client.force_login(district_officer)
    response = client.get(reverse("queue:index"), {"view": view})
    assert set(rows_of(response)) == {ssp[name].reference for name in expected}


def test_filters_combine_and_stay_in_the_url(client, district_officer, ssp, ifsc_unit):
    ssp["waiting"].needs.set([NeedCategory.objects.get(code="housing")])
    client.force_login(district_officer)
    query = {"view": "open", "need": NeedCategory.objects.get(code="housing").pk}
    response = client.get(reverse("queue:index"), query)
    assert rows_of(response) == ["SSP-2026-000004"]
    found = client.post(reverse("queue:index"), {"q": "SSP-2026-00000", "query": "view=all"})
    response = client.get(found.url)
    assert len(rows_of(response)) == 6
    response = client.get(found.url.replace("view=all", "view=triage"))
    assert rows_of(response) == ["SSP-2026-000001"]  # the search kept with another view
    response = client.get(reverse("queue:index"), {"view": "all", "risk_level": "urgent"})
    assert rows_of(response) == ["SSP-2026-000003"]
    response = client.get(reverse("queue:index"), {"view": "all", "unit": ifsc_unit.pk})
    assert "SSP-2026-000001" not in rows_of(response)
    assert "need=" in response.context["query"] or "unit=" in response.context["query"]


def test_sorting_by_age_and_by_update(client, district_officer, ssp):
    Referral.objects.filter(pk=ssp["closed"].pk).update(
        submitted_at=timezone.now() - timedelta(days=30)
    )
    client.force_login(district_officer)
    oldest = client.get(reverse("queue:index"), {"view": "all", "sort": "oldest"})
    assert rows_of(oldest)[0] == "SSP-2026-000005"
    newest = client.get(reverse("queue:index"), {"view": "all", "sort": "newest"})
    assert rows_of(newest)[-1] == "SSP-2026-000005"


def test_an_htmx_request_gets_only_the_results(client, district_officer, ssp):
    client.force_login(district_officer)
    response = client.get(reverse("queue:index"), {"view": "triage"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert 'id="queue-rows"' in page
    assert "<html" not in page
    assert "SSP-2026-000001" in page


def test_an_out_of_scope_district_filter_is_a_form_error_not_a_leak(
    client, district_officer, kt_referral
):
    client.force_login(district_officer)
    response = client.get(
        reverse("queue:index"), {"view": "all", "district": kt_referral.district_id}
    )
    assert rows_of(response) == []
    assert response.context["filter"].form.errors


def test_pages_go_deep_without_counting(client, district_officer, referrer, caring_team):
    factories.ReferralFactory.create_batch(
        30, referrer=referrer, referring_team=caring_team, status=Status.TRIAGE
    )
    client.force_login(district_officer)
    first = client.get(reverse("queue:index"), {"view": "triage"})
    assert len(rows_of(first)) == 25 and first.context["page"].has_next
    second = client.get(reverse("queue:index"), {"view": "triage", "page": 2})
    assert len(rows_of(second)) == 5 and not second.context["page"].has_next
    assert set(rows_of(first)).isdisjoint(rows_of(second))


def test_the_queue_costs_the_same_queries_for_few_or_many_rows(
    client, district_officer, referrer, caring_team, django_assert_num_queries
):
    client.force_login(district_officer)
    factories.ReferralFactory.create_batch(
        2, referrer=referrer, referring_team=caring_team, status=Status.TRIAGE
    )
    # 14 + the session's two-factor device + the result count, capped at 1,000 (issue 19).
    with django_assert_num_queries(16) as few:
        client.get(reverse("queue:index"))
    factories.ReferralFactory.create_batch(
        25, referrer=referrer, referring_team=caring_team, status=Status.TRIAGE
    )
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("queue:index"))
    assert len(rows_of(response)) == 25


def test_every_row_shown_is_in_the_access_log(client, district_officer, ssp):
    client.force_login(district_officer)
    client.get(reverse("queue:index"))
    assert AccessLog.objects.filter(user=district_officer, detail="queue").count() == 4


@pytest.mark.parametrize("persona", ["referrer", "unit_worker", "other_unit_worker"])
def test_people_without_an_office_get_404(client, request, persona, ssp):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("queue:index")).status_code == 404
    response = client.post(
        reverse("queue:bulk"),
        {"bulk_action": "escalate", "selected": [ssp["triage"].pk], "reason": "x"},
    )
    assert response.status_code == 404
    assert Referral.objects.get(pk=ssp["triage"].pk).escalated_at is None


def test_anonymous_people_are_sent_to_log_in(client):
    for url in (reverse("queue:index"), reverse("inbox:index")):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_bulk_escalate_reports_a_line_per_row(client, district_officer, ssp):
    client.force_login(district_officer)
    response = client.post(
        reverse("queue:bulk"),
        {
            "bulk_action": "escalate",
            "selected": [ssp["triage"].pk, ssp["escalated"].pk],
            "reason": "family in crisis",
            "query": "view=all",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "SSP-2026-000001: done." in page
    assert "SSP-2026-000006: This referral has already been escalated." in page
    assert Referral.objects.get(pk=ssp["triage"].pk).escalated_at is not None
    assert response.redirect_chain[-1][0].endswith("?view=all")


def test_bulk_reassign_moves_the_rows_and_refuses_the_closed_one(
    client, district_officer, ssp, other_unit
):
    client.force_login(district_officer)
    client.post(
        reverse("queue:bulk"),
        {
            "bulk_action": "reassign",
            "unit": other_unit.pk,
            "selected": [ssp["triage"].pk, ssp["waiting"].pk, ssp["closed"].pk],
            "reason": "ICCMW has capacity",
        },
    )
    assert Referral.objects.get(pk=ssp["triage"].pk).assigned_unit == other_unit
    assert Referral.objects.get(pk=ssp["waiting"].pk).assigned_unit == other_unit
    assert Referral.objects.get(pk=ssp["closed"].pk).status == Status.COMPLETED
    event = ReferralEvent.objects.get(referral=ssp["waiting"], kind="routing")
    assert (event.actor, event.reason) == (district_officer, "ICCMW has capacity")


def test_a_forged_bulk_post_cannot_touch_another_offices_referral(
    client, district_officer, kt_referral, other_unit
):
    client.force_login(district_officer)
    for confirmed in ("", "1"):  # the confirmation page, then its "Withdraw" (issue 19)
        response = client.post(
            reverse("queue:bulk"),
            {
                "bulk_action": "cancel",
                "selected": [kt_referral.pk],
                "reason": "forged",
                "confirmed": confirmed,
            },
            follow=True,
        )
        assert "not in your districts" in response.content.decode()
        assert kt_referral.reference not in response.content.decode()
        assert Referral.objects.get(pk=kt_referral.pk).status == Status.TRIAGE


def test_bulk_reassign_to_a_unit_outside_the_office_is_refused(client, district_officer, ssp):
    elsewhere = factories.ServiceUnitFactory(district=factories.district("J"))
    client.force_login(district_officer)
    response = client.post(
        reverse("queue:bulk"),
        {"bulk_action": "reassign", "unit": elsewhere.pk, "selected": [ssp["triage"].pk]},
        follow=True,
    )
    assert "Choose the unit" in response.content.decode()
    assert Referral.objects.get(pk=ssp["triage"].pk).status == Status.TRIAGE


def test_headquarters_sees_every_district(client, admin_user, ssp, kt_referral):
    client.force_login(admin_user)
    response = client.get(reverse("queue:index"), {"view": "triage"})
    assert set(rows_of(response)) == {"SSP-2026-000001", "KT-2026-000001"}


# --- The unit's inbox ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tab", "expected"),
    [
        ("new", {"overdue", "waiting"}),
        ("open", {"urgent", "escalated"}),
        ("overdue", {"overdue"}),
        ("closed", {"closed"}),
        ("on_hold", set()),
    ],
)
def test_the_inbox_tabs(client, unit_worker, ssp, tab, expected):
    client.force_login(unit_worker)
    response = client.get(reverse("inbox:index"), {"tab": tab})
    assert set(rows_of(response)) == {ssp[name].reference for name in expected}


def test_the_inbox_shows_the_clock_and_links_the_units_next_step(client, unit_worker, ssp):
    """issue 19: a row offers its main next step as a link to the referral page's one
    action form, not inline forms."""
    client.force_login(unit_worker)
    response = client.get(reverse("inbox:index"))
    page = response.content.decode()
    assert "accept or decline by" in page
    assert "Overdue" in page
    row = next(r for r in response.context["rows"] if r["referral"] == ssp["waiting"])
    assert row["step"].action == "accept"
    detail = reverse("referrals:detail", args=[ssp["waiting"].public_id])
    assert f'href="{detail}?action=accept&amp;next=' in page


def test_accepting_from_the_inbox_returns_to_the_inbox(client, unit_worker, ssp):
    client.force_login(unit_worker)
    referral = ssp["waiting"]
    response = client.post(
        reverse("referrals:act", args=[referral.public_id]),
        {"action": "accept", "version": referral.version, "next": "/inbox/?tab=new"},
    )
    assert response.url == "/inbox/?tab=new"
    assert Referral.objects.get(pk=referral.pk).status == Status.ACCEPTED


def test_next_never_leaves_the_site(client, unit_worker, ssp):
    client.force_login(unit_worker)
    referral = ssp["waiting"]
    response = client.post(
        reverse("referrals:act", args=[referral.public_id]),
        {"action": "accept", "version": referral.version, "next": "https://evil.example/"},
    )
    assert response.url == reverse("referrals:detail", args=[referral.public_id])


def test_closing_records_services_outcome_and_an_internal_note(client, unit_worker, ssp):
    client.force_login(unit_worker)
    referral = ssp["urgent"]
    client.post(
        reverse("referrals:act", args=[referral.public_id]),
        {
            "action": "complete",
            "version": referral.version,
            "outcome": "Joined the carers' group.",
            "services_provided": "Counselling x3; carers' group",
            "note": "Husband drinks; watch",
            "next": "/inbox/?tab=open",
        },
    )
    referral.refresh_from_db()
    assert referral.status == Status.COMPLETED
    assert referral.outcome_summary == "Joined the carers' group."
    assert referral.services_provided == "Counselling x3; carers' group"
    assert ReferralEvent.objects.get(referral=referral).note == "Husband drinks; watch"


def test_declining_returns_to_the_inbox_with_a_message_not_to_a_404(client, unit_worker, ssp):
    """issue 14 item 16: once declined the referral is no longer the unit's to see, so the
    worker lands on the inbox (with the outcome said), not on the referral's page (a 404)."""
    client.force_login(unit_worker)
    referral = ssp["waiting"]
    response = client.post(
        reverse("referrals:act", args=[referral.public_id]),
        # Declining is destructive: "confirm" is the confirmation page's "Yes" (issue 19).
        {
            "action": "reject",
            "reason": "full",
            "version": referral.version,
            "next": "",
            "confirm": "1",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("inbox:index")
    assert ReferralEvent.objects.filter(referral=referral, to_status=Status.REJECTED).exists()
    assert f"You declined {referral.reference}" in response.content.decode()


def test_a_declined_referral_stays_in_the_units_closed_tab(client, unit_worker, ssp, ifsc_unit):
    from referrals.services import referral_decline

    referral_decline(referral_id=ssp["waiting"].pk, actor=unit_worker, reason="full")
    client.force_login(unit_worker)
    response = client.get(reverse("inbox:index"), {"tab": "closed"})
    assert "SSP-2026-000004" in rows_of(response)


def test_a_declined_referral_shows_the_units_decision_not_the_next_units(
    client, unit_worker, ssp, other_unit
):
    """issue 14 item 16: gone on to another unit, the row says "Declined by your unit" with
    when and why, without the next unit's status and deadline or a link that 404s."""
    from referrals.services import referral_decline

    referral = ssp["waiting"]
    referral_decline(referral_id=referral.pk, actor=unit_worker, reason="No places left")
    due = timezone.now() + timedelta(hours=4)
    Referral.objects.filter(pk=referral.pk).update(
        status=Status.ASSIGNED, assigned_unit=other_unit, due_at=due
    )
    client.force_login(unit_worker)
    response = client.get(reverse("inbox:index"), {"tab": "closed"})
    [row] = [r for r in response.context["rows"] if r["referral"].pk == referral.pk]
    assert row["declined"] and row["step"] is None
    html = response.content.decode()
    card = html[html.index(f'data-reference="{referral.reference}"') :]
    card = card[: card.index("</tr>")]
    assert "Declined by your unit" in card and "No places left" in card
    assert reverse("referrals:detail", args=[referral.public_id]) not in card
    assert "accept or decline by" not in card and "Assigned" not in card


@pytest.mark.parametrize("persona", ["referrer", "district_officer"])
def test_people_without_a_unit_get_404_for_the_inbox(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("inbox:index")).status_code == 404


def test_another_units_staff_see_none_of_it(client, other_unit_worker, ssp):
    client.force_login(other_unit_worker)
    for tab in ("new", "open", "closed"):
        assert rows_of(client.get(reverse("inbox:index"), {"tab": tab})) == []


def test_the_inbox_costs_the_same_queries_for_few_or_many_rows(
    client, unit_worker, referrer, caring_team, ifsc_unit, django_assert_num_queries
):
    client.force_login(unit_worker)

    def assigned(count):
        factories.ReferralFactory.create_batch(
            count,
            referrer=referrer,
            referring_team=caring_team,
            status=Status.ASSIGNED,
            assigned_unit=ifsc_unit,
        )

    assigned(2)
    # 7 + the session's two-factor device + the tabs' counts (one aggregate) + the needs of
    # the page's rows (one prefetch) (issue 19).
    with django_assert_num_queries(10) as few:
        client.get(reverse("inbox:index"))
    assigned(25)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("inbox:index"))
    assert len(rows_of(response)) == 25


def test_a_row_opens_its_routing_panel_and_the_route_comes_back_to_the_queue(
    client, district_officer, ssp, other_unit
):
    client.force_login(district_officer)
    triage = ssp["triage"]
    queue_url = reverse("queue:index") + "?view=triage"
    listing = client.get(queue_url).content.decode()
    panel_url = reverse("referrals:triage_panel", args=[triage.public_id])
    assert panel_url in listing
    panel = client.get(panel_url, {"next": queue_url}, HTTP_HX_REQUEST="true")
    html = panel.content.decode()
    assert f'id="triage-{triage.pk}"' in html
    assert f'name="next" value="{queue_url}"' in html.replace("&amp;", "&")
    assert "<html" not in html

    response = client.post(
        reverse("referrals:route", args=[triage.public_id]),
        {
            "unit": other_unit.pk,
            "version": triage.version,
            "reason": "speaks Urdu",
            "next": queue_url,
        },
    )
    assert response.url == queue_url
    assert Referral.objects.get(pk=triage.pk).assigned_unit == other_unit


@pytest.mark.parametrize("persona", ["other_district_officer", "unit_worker", "referrer"])
def test_the_routing_panel_is_404_outside_the_office(client, request, persona, ssp):
    client.force_login(request.getfixturevalue(persona))
    url = reverse("referrals:triage_panel", args=[ssp["triage"].public_id])
    assert client.get(url).status_code == 404


def test_a_closed_referral_offers_no_routing(client, district_officer, ssp):
    client.force_login(district_officer)
    url = reverse("referrals:triage_panel", args=[ssp["closed"].public_id])
    assert "is not routed any more" in client.get(url).content.decode()


# --- Whom a batch may be reassigned to: the referral's district, not the office's -----------


@pytest.fixture
def ewc_officer(db):
    """An officer of the Eastern and Wan Chai office (districts B and C)."""
    return factories.MembershipFactory(
        user=factories.UserFactory(username="officer-ewc"),
        role="district_officer",
        service_unit=None,
        welfare_office=factories.office("EWC"),
    ).user


def test_bulk_reassign_refuses_a_unit_that_does_not_serve_the_referrals_district(
    client, ewc_officer
):
    """The Eastern-only unit is in the office's districts but does not serve Wan Chai: the
    Wan Chai referral is refused with the reason and left as it was, the Eastern one moves."""
    eastern_only = factories.ServiceUnitFactory(
        code="ifsc-c-only",
        name_en="Eastern Only IFSC",
        district=factories.district("C"),
        catchment_districts=[factories.district("C")],
    )
    wan_chai = factories.ReferralFactory(
        district=factories.district("B"), status=Status.TRIAGE, reference="WC-2026-000001"
    )
    eastern = factories.ReferralFactory(
        district=factories.district("C"), status=Status.TRIAGE, reference="EA-2026-000001"
    )
    client.force_login(ewc_officer)
    response = client.post(
        reverse("queue:bulk"),
        {
            "bulk_action": "reassign",
            "unit": eastern_only.pk,
            "selected": [wan_chai.pk, eastern.pk],
            "reason": "has capacity",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "WC-2026-000001: Eastern Only IFSC does not take referrals for Wan Chai" in page
    assert "EA-2026-000001: done." in page
    wan_chai_after = Referral.objects.get(pk=wan_chai.pk)
    assert (wan_chai_after.status, wan_chai_after.assigned_unit_id, wan_chai_after.version) == (
        Status.TRIAGE,
        None,
        wan_chai.version,
    )
    assert not ReferralEvent.objects.filter(referral=wan_chai).exists()
    assert Referral.objects.get(pk=eastern.pk).assigned_unit == eastern_only
    eastern_only.refresh_from_db()
    assert eastern_only.current_load == 10 + 1  # the Eastern referral only


# --- Overdue is one definition, read from the due time (issue 14 item 15) -----------------


@pytest.fixture
def just_overdue(referrer, caring_team, ssp_area, ifsc_unit):
    """Assigned, its acknowledge-by time a minute ago; the beat has not run (no mark)."""
    return factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        reference="SSP-2026-000777",
        status=Status.ASSIGNED,
        assigned_unit=ifsc_unit,
        due_at=timezone.now() - timedelta(minutes=1),
    )


def test_a_referral_past_its_due_time_is_overdue_everywhere_before_the_beat_marks_it(
    client, district_officer, unit_worker, just_overdue
):
    assert just_overdue.overdue_at is None
    client.force_login(district_officer)
    for view in ("overdue", "action"):
        response = client.get(reverse("queue:index"), {"view": view})
        [row] = response.context["rows"]
        assert row["referral"].reference == "SSP-2026-000777" and row["overdue"]
        assert "badge-overdue" in response.content.decode()
    dashboard = client.get(reverse("dashboard:index")).context["dashboard"]
    assert dashboard.total.overdue == 1
    assert dashboard.districts[0].figures.overdue == 1

    client.force_login(unit_worker)
    response = client.get(reverse("inbox:index"), {"tab": "overdue"})
    [row] = response.context["rows"]
    assert row["referral"].reference == "SSP-2026-000777" and row["overdue"]


def test_a_referral_not_yet_due_is_overdue_nowhere(client, district_officer, just_overdue):
    Referral.objects.filter(pk=just_overdue.pk).update(due_at=timezone.now() + timedelta(minutes=1))
    client.force_login(district_officer)
    assert rows_of(client.get(reverse("queue:index"), {"view": "overdue"})) == []
    [row] = client.get(reverse("queue:index"), {"view": "waiting"}).context["rows"]
    assert not row["overdue"]
    assert client.get(reverse("dashboard:index")).context["dashboard"].total.overdue == 0


def test_the_sweep_marks_what_the_pages_already_call_overdue(just_overdue):
    from referrals.assignment import referral_mark_overdue
    from referrals.selectors import referrals_past_due

    assert referrals_past_due() == [just_overdue.pk]
    referral_mark_overdue(referral_id=just_overdue.pk)
    assert ReferralEvent.objects.filter(referral=just_overdue, kind="overdue").count() == 1
    assert referrals_past_due() == []
    referral_mark_overdue(referral_id=just_overdue.pk)  # idempotent
    assert ReferralEvent.objects.filter(referral=just_overdue, kind="overdue").count() == 1


# --- Unrouted referrals are in "needs action now" (issue 14 item 19) ----------------------


def test_a_referral_left_unrouted_shows_in_needs_action_with_how_long_it_waited(
    client, settings, referrer, district_officer, referral_form
):
    """The referrer files; the routing job never runs (no worker, no beat): after
    ``ROUTING_SWEEP_AFTER_SECONDS`` the office sees it, with the minutes it has waited."""
    settings.ROUTING_SWEEP_AFTER_SECONDS = 60
    client.force_login(referrer)
    # Not urgent: urgent work is in "needs action now" from the start.
    form = referral_form(risk_factors=["unsafe_home"])
    assert file_through_page(client, form).status_code == 302
    referral = Referral.objects.get(referrer=referrer)
    assert referral.status == Status.SUBMITTED  # nothing routed it

    client.force_login(district_officer)
    assert rows_of(client.get(reverse("queue:index"))) == []  # just filed: routing is due

    Referral.objects.filter(pk=referral.pk).update(
        submitted_at=timezone.now() - timedelta(minutes=7, seconds=5)
    )
    response = client.get(reverse("queue:index"))
    [row] = response.context["rows"]
    assert row["referral"].pk == referral.pk and row["waiting_minutes"] == 7
    assert "Waiting to be routed for 7 minutes" in response.content.decode()


def test_the_unrouted_label_counts_one_minute_in_the_singular(
    client, settings, district_officer, referrer, caring_team, ssp_area
):
    settings.ROUTING_SWEEP_AFTER_SECONDS = 30
    factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        submitted_at=timezone.now() - timedelta(seconds=90),
    )
    client.force_login(district_officer)
    page = client.get(reverse("queue:index")).content.decode()
    assert "Waiting to be routed for 1 minute<" in page


def test_only_submitted_referrals_count_as_unrouted(
    client, district_officer, referrer, caring_team, ssp_area, kt_referral
):
    long_ago = timezone.now() - timedelta(hours=3)
    factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status=Status.ACCEPTED,
        submitted_at=long_ago,
    )
    Referral.objects.filter(pk=kt_referral.pk).update(
        status=Status.SUBMITTED, submitted_at=long_ago
    )
    client.force_login(district_officer)
    response = client.get(reverse("queue:index"))
    assert rows_of(response) == []  # accepted is routed; Kwun Tong is another office's
    assert "Waiting to be routed" not in response.content.decode()
