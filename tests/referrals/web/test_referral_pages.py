"""Who sees what: referral pages, the status feed, actions, access log, pinned query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from referrals import identity
from referrals.models import AccessLog, Referral, ReferralEvent, Status
from referrals.services import referral_accept, referral_hold, referral_resume, referral_start
from tests import factories

pytestmark = pytest.mark.django_db

REFERRAL_URLS = [
    ("referrals:detail", "get"),
    ("referrals:edit", "get"),
    ("referrals:edit", "post"),
    ("referrals:act", "post"),
    ("referrals:status", "get"),
]
OUTSIDERS = ["other_unit_worker", "other_district_officer", "a_stranger", "another_referrer"]


@pytest.fixture
def a_stranger(db):
    return factories.UserFactory(username="stranger")


@pytest.fixture
def another_referrer(db):
    team = factories.ServiceUnitFactory(
        code="care-team-f02", unit_type=factories.unit_type("CARE_TEAM")
    )
    return factories.MembershipFactory(
        user=factories.UserFactory(username="referrer-2"), role="referrer", service_unit=team
    ).user


@pytest.fixture
def protected(assigned_referral):
    assigned_referral.id_type = "hkid"
    assigned_referral.id_number_encrypted = identity.encrypt("G123456A")
    assigned_referral.id_number_hash = identity.keyed_hash("hkid", "G123456A")
    assigned_referral.id_number_masked = "G12****(*)"
    assigned_referral.save()
    return assigned_referral


@pytest.mark.parametrize("persona", OUTSIDERS)
@pytest.mark.parametrize(("name", "method"), REFERRAL_URLS)
def test_outsiders_get_404_for_every_referral_url(
    client, request, protected, persona, name, method
):
    client.force_login(request.getfixturevalue(persona))
    url = reverse(name, args=[protected.public_id])
    response = getattr(client, method)(url, {"action": "accept", "version": protected.version})
    assert response.status_code == 404
    assert Referral.objects.get(pk=protected.pk).status == Status.ASSIGNED
    assert not AccessLog.objects.exists()


@pytest.mark.parametrize(("name", "method"), [*REFERRAL_URLS, ("referrals:list", "get")])
def test_anonymous_visitors_are_sent_to_log_in(client, protected, name, method):
    args = [] if name == "referrals:list" else [protected.public_id]
    response = getattr(client, method)(reverse(name, args=args))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_new_referral_form_is_refused_to_anonymous(client):
    assert client.get(reverse("referrals:new")).url.startswith(reverse("login"))


def test_outsiders_do_not_see_it_in_their_list(client, protected, other_unit_worker):
    client.force_login(other_unit_worker)
    response = client.get(reverse("referrals:list"))
    assert protected.reference not in response.content.decode()


def test_drafts_are_visible_to_their_author_only(client, referrer, district_officer, admin_user):
    draft = factories.ReferralFactory(
        referrer=referrer, status="draft", reference=None, district=factories.district("F")
    )
    for viewer in (district_officer, admin_user):
        client.force_login(viewer)
        assert client.get(reverse("referrals:status", args=[draft.public_id])).status_code == 404


@pytest.mark.parametrize(
    ("persona", "sees_full_id", "sees_unit_note"),
    [
        ("referrer", False, False),
        ("unit_worker", True, True),
        ("unit_supervisor", True, True),
        ("district_officer", True, True),
        ("admin_user", False, True),
    ],
)
def test_each_role_sees_its_share_of_the_referral(
    client, request, protected, unit_worker, persona, sees_full_id, sees_unit_note
):
    referral_accept(referral_id=protected.pk, actor=unit_worker)
    referral_start(referral_id=protected.pk, actor=unit_worker)
    referral_hold(
        referral_id=protected.pk,
        actor=unit_worker,
        reason="Client in hospital",
        note="Unit's case note: son has a gambling debt",
    )
    viewer = request.getfixturevalue(persona)
    client.force_login(viewer)
    html = client.get(reverse("referrals:detail", args=[protected.public_id])).content.decode()

    assert protected.reference in html
    assert "On hold" in html
    assert protected.assigned_unit.name_en in html
    assert ("G123456A" in html) is sees_full_id
    assert "G12****(*)" in html or sees_full_id
    assert ("gambling debt" in html) is sees_unit_note
    assert AccessLog.objects.filter(user=viewer, referral=protected, channel="page").count() == 1


def test_the_unit_acts_from_the_page_and_a_stale_form_is_a_conflict(client, protected, unit_worker):
    client.force_login(unit_worker)
    url = reverse("referrals:act", args=[protected.public_id])
    stale = protected.version
    response = client.post(url, {"action": "accept", "version": stale}, follow=True)
    assert Referral.objects.get(pk=protected.pk).status == Status.ACCEPTED
    assert f"{protected.reference} is now “Accepted”." in response.content.decode()

    response = client.post(
        url, {"action": "reject", "reason": "full", "version": stale}, follow=True
    )
    assert "Someone else changed this referral" in response.content.decode()
    assert Referral.objects.get(pk=protected.pk).status == Status.ACCEPTED


def test_a_step_without_its_reason_is_refused_with_a_message(client, protected, unit_worker):
    client.force_login(unit_worker)
    response = client.post(
        reverse("referrals:act", args=[protected.public_id]),
        {"action": "reject", "reason": "", "version": protected.version},
        follow=True,
    )
    assert "Give a reason for this step." in response.content.decode()
    assert Referral.objects.get(pk=protected.pk).status == Status.ASSIGNED


def test_the_referrer_may_not_accept_for_the_unit(client, protected, referrer):
    client.force_login(referrer)
    client.post(
        reverse("referrals:act", args=[protected.public_id]),
        {"action": "accept", "version": protected.version},
    )
    assert Referral.objects.get(pk=protected.pk).status == Status.ASSIGNED


def test_status_feed_reports_the_live_status(client, protected, referrer, unit_worker):
    client.force_login(referrer)
    url = reverse("referrals:status", args=[protected.public_id])
    assert client.get(url).json()["status"] == "assigned"
    referral_accept(referral_id=protected.pk, actor=unit_worker)
    data = client.get(url).json()
    assert (data["status"], data["label"]) == ("accepted", "Accepted")
    assert "G123" not in str(data)


def test_my_referrals_lists_and_filters_the_referrers_own(client, referrer, caring_team):
    mine = factories.ReferralFactory(referrer=referrer, referring_team=caring_team)
    closed = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, status="completed"
    )
    someone_elses = factories.ReferralFactory()
    client.force_login(referrer)
    html = client.get(reverse("referrals:list")).content.decode()
    assert mine.reference in html and closed.reference in html
    assert someone_elses.reference not in html
    html = client.get(reverse("referrals:list"), {"status": "completed"}).content.decode()
    assert closed.reference in html and mine.reference not in html
    assert AccessLog.objects.filter(user=referrer, detail="list").count() == 3


def test_an_unknown_status_filter_is_an_error_not_everything(client, referrer, caring_team):
    factories.ReferralFactory(referrer=referrer, referring_team=caring_team)
    client.force_login(referrer)
    response = client.get(reverse("referrals:list"), {"status": "nonsense"})
    assert (response.context["count"], response.context["referrals"]) == (0, [])
    assert "Select a valid choice" in response.content.decode()


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_list_page_query_count_does_not_grow_with_rows(client, referrer, caring_team, ifsc_unit):
    client.force_login(referrer)
    url = reverse("referrals:list")
    factories.ReferralFactory.create_batch(
        2, referrer=referrer, referring_team=caring_team, assigned_unit=ifsc_unit
    )
    few = queries_for(client, url)
    factories.ReferralFactory.create_batch(
        20, referrer=referrer, referring_team=caring_team, assigned_unit=ifsc_unit
    )
    assert queries_for(client, url) == few == 9  # 8 + the session's two-factor device


def test_detail_page_query_count_does_not_grow_with_events(client, protected, unit_worker):
    referral_accept(referral_id=protected.pk, actor=unit_worker)
    referral_start(referral_id=protected.pk, actor=unit_worker)
    url = reverse("referrals:detail", args=[protected.public_id])
    client.force_login(unit_worker)
    few = queries_for(client, url)
    for _ in range(10):
        referral_hold(referral_id=protected.pk, actor=unit_worker, reason="waiting")
        referral_resume(referral_id=protected.pk, actor=unit_worker)
    assert ReferralEvent.objects.filter(referral=protected).count() == 22
    # 9 + the session's two-factor device: visibility, the capacities and the page header
    # read the memberships once (accounts.selectors.user_scope); + the units' tasks on the
    # referral and their needs (issue 16); + the referral's pending transfers for a reader
    # who works in a unit (issue 17; the case worker panel costs none while nobody owns it).
    assert queries_for(client, url) == few == 13


def test_administrators_search_the_access_log(client, protected, unit_worker, admin_user):
    client.force_login(unit_worker)
    client.get(reverse("referrals:detail", args=[protected.public_id]))
    client.force_login(admin_user)
    response = client.get(
        reverse("admin:referrals_accesslog_changelist"), {"q": protected.reference}
    )
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert "unit-worker" in response.content.decode()
    response = client.get(reverse("admin:referrals_accesslog_changelist"), {"q": "nobody"})
    assert response.context["cl"].result_count == 0


def test_admin_follows_the_same_visibility_rule(client, admin_user, referrer, protected):
    draft = factories.ReferralFactory(referrer=referrer, status="draft", reference=None)
    client.force_login(admin_user)
    changelist = client.get(reverse("admin:referrals_referral_changelist"))
    assert changelist.context["cl"].result_count == 1
    assert (
        client.get(reverse("admin:referrals_referral_change", args=[draft.pk])).status_code == 302
    )  # Django admin redirects a missing object to the index
    page = client.get(reverse("admin:referrals_referral_change", args=[protected.pk]))
    assert page.status_code == 200
    assert AccessLog.objects.filter(user=admin_user, referral=protected, detail="admin").exists()
