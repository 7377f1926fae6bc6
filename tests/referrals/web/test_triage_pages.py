"""The district office's routing panel, escalation, and the notification pages."""

import pytest
from django.urls import reverse
from django.utils import translation

from referrals.models import Notification, Referral, ReferralEvent, Status
from referrals.notifications import notify_assignment
from referrals.services import referral_route
from services.models import NeedCategory
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_triage(referrer, caring_team, ssp_area):
    """A Sham Shui Po referral for mental health that no unit could take."""
    referral = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, sub_district=ssp_area, status="triage"
    )
    referral.needs.set([NeedCategory.objects.get(code="mental_health")])
    return referral


@pytest.fixture
def iccmw_units(ssp_area):
    """Two ICCMWs covering F01: one naming it and nearly full, one covering all of F."""
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


def test_the_office_sees_candidates_with_reasons_and_the_suggestion_first(
    client, district_officer, in_triage, iccmw_units
):
    near, wide = iccmw_units
    client.force_login(district_officer)
    response = client.get(reverse("referrals:detail", args=[in_triage.public_id]))
    triage = response.context["triage"]
    assert [choice.unit for choice in triage["candidates"]] == [wide, near]
    assert triage["candidates"][0].suggested
    page = response.content.decode()
    assert 'id="candidates"' in page
    assert "Mental health → ICCMW" in page  # the rule, in the reasons
    assert "spare capacity" in page


def test_routing_to_the_suggested_unit_needs_no_reason(
    client, district_officer, in_triage, iccmw_units
):
    _near, wide = iccmw_units
    client.force_login(district_officer)
    response = client.post(
        reverse("referrals:route", args=[in_triage.public_id]),
        {"unit": wide.pk, "version": in_triage.version},
    )
    assert response.status_code == 302
    in_triage.refresh_from_db()
    assert (in_triage.status, in_triage.assigned_unit) == (Status.ASSIGNED, wide)
    event = ReferralEvent.objects.get(referral=in_triage, kind=ReferralEvent.Kind.ROUTING)
    assert event.actor == district_officer
    assert event.details["manual"] is True


def test_overriding_the_suggestion_needs_a_reason_and_is_kept(
    client, district_officer, in_triage, iccmw_units
):
    near, _wide = iccmw_units
    client.force_login(district_officer)
    url = reverse("referrals:route", args=[in_triage.public_id])
    response = client.post(url, {"unit": near.pk, "version": in_triage.version}, follow=True)
    assert "give the reason" in response.content.decode()
    assert Referral.objects.get(pk=in_triage.pk).status == Status.TRIAGE

    client.post(url, {"unit": near.pk, "version": in_triage.version, "reason": "speaks Urdu"})
    in_triage.refresh_from_db()
    assert in_triage.assigned_unit == near
    event = ReferralEvent.objects.get(referral=in_triage, kind=ReferralEvent.Kind.ROUTING)
    assert event.reason == "speaks Urdu"
    assert event.details["suggested"] == "iccmw-wide"


def test_a_unit_outside_the_offered_list_is_refused(
    client, district_officer, in_triage, iccmw_units
):
    elsewhere = factories.ServiceUnitFactory(
        unit_type=factories.unit_type("ICCMW"), district=factories.district("J")
    )
    client.force_login(district_officer)
    response = client.post(
        reverse("referrals:route", args=[in_triage.public_id]),
        {"unit": elsewhere.pk, "version": in_triage.version, "reason": "x"},
        follow=True,
    )
    assert "Choose a unit from the list." in response.content.decode()
    assert Referral.objects.get(pk=in_triage.pk).status == Status.TRIAGE


def test_a_stale_page_cannot_route(client, district_officer, in_triage, iccmw_units):
    near, _wide = iccmw_units
    client.force_login(district_officer)
    response = client.post(
        reverse("referrals:route", args=[in_triage.public_id]),
        {"unit": near.pk, "version": in_triage.version - 1},
        follow=True,
    )
    assert "Someone else changed this referral" in response.content.decode()
    assert Referral.objects.get(pk=in_triage.pk).status == Status.TRIAGE


@pytest.mark.parametrize(
    "persona", ["referrer", "unit_worker", "other_district_officer", "other_unit_worker"]
)
def test_only_the_office_may_route_or_escalate(
    client, request, in_triage, iccmw_units, persona, unit_worker, ifsc_unit
):
    in_triage.assigned_unit = ifsc_unit  # the unit worker sees it, still may not route it
    in_triage.status = Status.ASSIGNED
    in_triage.save()
    near, _wide = iccmw_units
    client.force_login(request.getfixturevalue(persona))
    for name, data in [
        ("referrals:route", {"unit": near.pk, "reason": "x"}),
        ("referrals:escalate", {"reason": "x"}),
    ]:
        response = client.post(
            reverse(name, args=[in_triage.public_id]), {**data, "version": in_triage.version}
        )
        assert response.status_code == 404, (persona, name)
    in_triage.refresh_from_db()
    assert (in_triage.assigned_unit, in_triage.escalated_at) == (ifsc_unit, None)
    assert not ReferralEvent.objects.filter(referral=in_triage).exists()


def test_the_office_escalates_with_a_reason_once(client, district_officer, in_triage):
    client.force_login(district_officer)
    url = reverse("referrals:escalate", args=[in_triage.public_id])
    response = client.post(url, {"reason": "", "version": in_triage.version}, follow=True)
    assert "Give a reason" in response.content.decode()
    assert Referral.objects.get(pk=in_triage.pk).escalated_at is None

    client.post(url, {"reason": "neighbour reports shouting", "version": in_triage.version})
    in_triage.refresh_from_db()
    assert in_triage.escalated_at is not None
    response = client.get(reverse("referrals:detail", args=[in_triage.public_id]))
    assert response.context["can_escalate"] is False
    assert 'id="escalated"' in response.content.decode()


def test_the_referral_page_shows_why_it_was_routed_in_the_readers_language(
    client, referrer, unit_worker, caring_team, ssp_area, ifsc_unit
):
    referral = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, sub_district=ssp_area
    )
    referral.needs.set([NeedCategory.objects.get(code="child_family")])
    referral_route(referral_id=referral.pk)
    client.force_login(referrer)
    page = client.get(reverse("referrals:detail", args=[referral.public_id])).content.decode()
    assert 'id="routing-reasons"' in page
    assert "Child and family → IFSC" in page
    assert ifsc_unit.name_en in page
    with translation.override("zh-hant"):
        client.cookies["django_language"] = "zh-hant"
        page = client.get(
            reverse("referrals:detail", args=[referral.public_id]), HTTP_ACCEPT_LANGUAGE="zh-hant"
        ).content.decode()
    assert "兒童及家庭 → 綜合家庭服務中心" in page
    assert ifsc_unit.name_zh in page


def test_the_office_detail_page_costs_the_same_queries_for_few_or_many_units(
    client, district_officer, in_triage, iccmw_units, django_assert_num_queries
):
    client.force_login(district_officer)
    url = reverse("referrals:detail", args=[in_triage.public_id])
    # 19 + the session's two-factor device; the memberships are read once per request
    # (accounts.selectors.user_scope) for visibility, capacities and the page header; the
    # units' tasks on the referral (issue 16) and the needs each unit type serves (routing
    # a unit per need) one query each.
    with django_assert_num_queries(22) as few:
        client.get(url)
    factories.ServiceUnitFactory.create_batch(
        12, unit_type=factories.unit_type("ICCMW"), catchment_districts=[factories.district("F")]
    )
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert len(response.context["triage"]["candidates"]) == 14


# --- Notifications -----------------------------------------------------------------------


@pytest.fixture
def notified(referrer, caring_team, ssp_area, ifsc_unit, unit_worker, unit_supervisor):
    referral = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, sub_district=ssp_area
    )
    referral.needs.set([NeedCategory.objects.get(code="child_family")])
    referral_route(referral_id=referral.pk)
    event = ReferralEvent.objects.get(referral=referral, kind=ReferralEvent.Kind.ROUTING)
    notify_assignment(event_id=event.pk)
    return referral


def test_the_bell_counts_unread_notifications(client, notified, unit_worker, referrer):
    client.force_login(unit_worker)
    page = client.get(reverse("home")).content.decode()
    assert 'id="unread-count"' in page
    assert "1 unread" in page
    client.force_login(referrer)  # nothing for the referrer
    assert 'id="unread-count"' not in client.get(reverse("home")).content.decode()


def test_opening_a_notification_marks_it_read_and_goes_to_the_referral(
    client, notified, unit_worker
):
    notification = Notification.objects.get(recipient=unit_worker)
    client.force_login(unit_worker)
    listing = client.get(reverse("notifications:list"))
    assert notified.reference in listing.content.decode()
    response = client.post(reverse("notifications:open", args=[notification.pk]))
    assert response.url == reverse("referrals:detail", args=[notified.public_id])
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_mark_all_read_touches_only_my_notifications(
    client, notified, unit_worker, unit_supervisor
):
    client.force_login(unit_worker)
    client.post(reverse("notifications:read_all"))
    assert not Notification.objects.filter(recipient=unit_worker, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=unit_supervisor, read_at__isnull=True).exists()


def test_someone_elses_notification_is_404(client, notified, unit_supervisor, referrer):
    notification = Notification.objects.get(recipient=unit_supervisor)
    client.force_login(referrer)
    assert client.post(reverse("notifications:open", args=[notification.pk])).status_code == 404
    assert notified.reference not in client.get(reverse("notifications:list")).content.decode()
    notification.refresh_from_db()
    assert notification.read_at is None


@pytest.mark.parametrize(
    ("name", "method", "args"),
    [
        ("notifications:list", "get", []),
        ("notifications:read_all", "post", []),
        ("notifications:open", "post", [1]),
    ],
)
def test_notification_pages_need_a_login(client, name, method, args):
    response = getattr(client, method)(reverse(name, args=args))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_notification_list_costs_the_same_queries_for_1_or_many(
    client, notified, unit_worker, django_assert_num_queries
):
    client.force_login(unit_worker)
    with django_assert_num_queries(6) as few:  # 5 + the session's two-factor device
        client.get(reverse("notifications:list"))
    for _ in range(5):
        extra = factories.ReferralFactory(sub_district=notified.sub_district)
        extra.needs.set([NeedCategory.objects.get(code="child_family")])
        referral_route(referral_id=extra.pk)
        notify_assignment(event_id=ReferralEvent.objects.get(referral=extra, kind="routing").pk)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("notifications:list"))
    assert len(response.context["page"]) == 6


def test_the_referrer_hears_of_each_step_but_not_of_their_own(
    client,
    referrer,
    unit_worker,
    notified,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    """Closing the loop: assigned and accepted reach the referrer's bell; a withdrawal by the
    referrer does not notify the referrer."""
    from referrals.services import referral_accept, referral_cancel

    with django_capture_on_commit_callbacks(execute=True):
        referral_accept(referral_id=notified.pk, actor=unit_worker)
    with django_capture_on_commit_callbacks(execute=True):
        referral_cancel(referral_id=notified.pk, actor=referrer, reason="moved away")
    told = Notification.objects.filter(recipient=referrer).select_related("event")
    assert [n.event.to_status for n in told] == [Status.ACCEPTED]
    assert {n.kind for n in told} == {Notification.Kind.STATUS}
    client.force_login(referrer)
    page = client.get(reverse("notifications:list")).content.decode()
    assert "Your referral changed status" in page
    assert "→ Accepted" in page
    assert notified.reference in page
