"""The pages for case owners (issue 17): a supervisor allocates from the inbox and the
caseload page, workers see their cases, the referral's page shows the case worker to the
unit and the office and only a shared contact to the referrer; outsiders get 404."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership
from referrals import caseload
from referrals.models import ReferralEvent, ReferralTask, Status
from tests import factories

pytestmark = pytest.mark.django_db


def open_cases(unit, n, status=Status.IN_PROGRESS, **fields):
    referrals = factories.ReferralFactory.create_batch(
        n, status=status, assigned_unit=unit, **fields
    )
    return list(ReferralTask.objects.filter(referral__in=referrals).order_by("pk"))


def worker(unit, name, role=Membership.Role.UNIT_STAFF, **kwargs):
    first, last = name.split()
    user = factories.UserFactory(username=first.lower(), first_name=first, last_name=last)
    factories.MembershipFactory(user=user, role=role, service_unit=unit, **kwargs)
    return user


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def owners(tasks) -> dict:
    return dict(
        ReferralTask.objects.filter(pk__in=[t.pk for t in tasks]).values_list("pk", "owner")
    )


@pytest.fixture
def ann(ifsc_unit):
    return worker(ifsc_unit, "Ann Lau")


@pytest.fixture
def ben(ifsc_unit):
    return worker(ifsc_unit, "Ben Wong")


# --- Allocation from the inbox --------------------------------------------------------------


def test_a_supervisor_allocates_30_cases_to_two_workers_in_one_post_from_the_inbox(
    client, ifsc_unit, unit_supervisor, ann, ben
):
    tasks = open_cases(ifsc_unit, 30)
    client.force_login(unit_supervisor)
    inbox = client.get(reverse("inbox:index"), {"tab": "open"})
    page = inbox.content.decode()
    form_id = f"allocate-{ifsc_unit.pk}"
    assert f'id="{form_id}"' in page
    assert page.count(f'form="{form_id}"') == 25  # a check box on each row of the page
    assert "Ann Lau (0 of 40)" in page and "Ben Wong (0 of 40)" in page
    assert all(row["case"]["needs_owner"] for row in inbox.context["rows"])

    response = client.post(
        reverse("referrals:allocate"),
        {
            "unit": ifsc_unit.pk,
            "task": [t.pk for t in tasks],
            "worker": [ann.pk, ben.pk],
            "next": "/inbox/?tab=open",
        },
    )

    assert response.status_code == 302 and response.url == "/inbox/?tab=open"
    assert messages_of(response) == ["Allocated 30 cases: 15 to Ann Lau, 15 to Ben Wong."]
    given = list(owners(tasks).values())
    assert given.count(ann.pk) == 15 and given.count(ben.pk) == 15
    events = ReferralEvent.objects.filter(kind=ReferralEvent.Kind.ALLOCATION)
    assert events.count() == 30
    assert {e.details["owner"] for e in events} == {"Ann Lau", "Ben Wong"}
    # The inbox shows each row's worker now.
    rows = client.get(reverse("inbox:index"), {"tab": "open"}).context["rows"]
    assert {row["case"]["owner"] for row in rows} == {"Ann Lau", "Ben Wong"}
    assert not any(row["case"]["needs_owner"] for row in rows)


def test_allocation_balances_by_the_workers_existing_load(
    client, ifsc_unit, unit_supervisor, ann, ben
):
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in open_cases(ifsc_unit, 10)],
        worker_ids=[ann.pk],
    )
    tasks = open_cases(ifsc_unit, 20, status=Status.ASSIGNED)
    client.force_login(unit_supervisor)
    assert "Ann Lau (10 of 40)" in client.get(reverse("inbox:index")).content.decode()
    response = client.post(
        reverse("referrals:allocate"),
        {"unit": ifsc_unit.pk, "task": [t.pk for t in tasks], "worker": [ann.pk, ben.pk]},
    )
    assert response.url == reverse("referrals:caseload")
    assert messages_of(response) == ["Allocated 20 cases: 5 to Ann Lau, 15 to Ben Wong."]


def test_a_plain_staff_member_cannot_allocate(client, ifsc_unit, unit_worker, ann):
    tasks = open_cases(ifsc_unit, 3)
    client.force_login(unit_worker)
    page = client.get(reverse("inbox:index"), {"tab": "open"})
    assert page.context["allocation_bars"] == []
    assert 'form="allocate-' not in page.content.decode()

    response = client.post(
        reverse("referrals:allocate"),
        {"unit": ifsc_unit.pk, "task": [t.pk for t in tasks], "worker": [ann.pk]},
    )

    assert response.status_code == 404
    assert set(owners(tasks).values()) == {None}
    assert not ReferralEvent.objects.filter(kind=ReferralEvent.Kind.ALLOCATION).exists()


def test_allocating_to_a_worker_of_another_unit_is_refused_and_changes_nothing(
    client, ifsc_unit, unit_supervisor, other_unit_worker, ann
):
    tasks = open_cases(ifsc_unit, 2)
    client.force_login(unit_supervisor)
    response = client.post(
        reverse("referrals:allocate"),
        {
            "unit": ifsc_unit.pk,
            "task": [t.pk for t in tasks],
            "worker": [ann.pk, other_unit_worker.pk],
            "next": "/inbox/?tab=open",
        },
    )
    assert response.status_code == 302 and response.url == "/inbox/?tab=open"
    assert messages_of(response) == ["Choose workers of this unit with an active account."]
    assert set(owners(tasks).values()) == {None}
    assert not ReferralEvent.objects.filter(kind=ReferralEvent.Kind.ALLOCATION).exists()


def test_allocating_nothing_or_a_closed_case_says_so(client, ifsc_unit, unit_supervisor, ann):
    closed = open_cases(ifsc_unit, 1, status=Status.COMPLETED)
    client.force_login(unit_supervisor)
    url = reverse("referrals:allocate")
    none = client.post(url, {"unit": ifsc_unit.pk, "worker": [ann.pk]}, follow=True)
    assert "Choose at least one case and one worker." in none.content.decode()
    gone = client.post(url, {"unit": ifsc_unit.pk, "task": [closed[0].pk], "worker": [ann.pk]})
    assert messages_of(gone) == [
        "Some of the chosen cases are no longer open in this unit; reload the page."
    ]
    assert owners(closed) == {closed[0].pk: None}


# --- Outsiders ------------------------------------------------------------------------------


@pytest.fixture
def other_supervisor(other_unit):
    return worker(other_unit, "Olive Chan", role=Membership.Role.UNIT_SUPERVISOR)


def test_a_user_of_another_unit_gets_404_for_this_units_caseload_and_cases(
    client, ifsc_unit, other_unit, other_supervisor, other_unit_worker, ann
):
    tasks = open_cases(ifsc_unit, 2)
    for outsider in (other_supervisor, other_unit_worker):
        client.force_login(outsider)
        assert (
            client.get(reverse("referrals:unit_caseload", args=[ifsc_unit.pk])).status_code == 404
        )
        posted = {"task": [t.pk for t in tasks], "worker": [ann.pk]}
        url = reverse("referrals:allocate")
        assert client.post(url, {"unit": ifsc_unit.pk, **posted}).status_code == 404
        # Nor through a unit of their own: this unit's cases are out of reach.
        theirs = {"unit": other_unit.pk, "task": posted["task"], "worker": [other_unit_worker.pk]}
        assert client.post(url, theirs).status_code == 404
    assert set(owners(tasks).values()) == {None}
    client.force_login(other_unit_worker)
    assert client.get(reverse("referrals:caseload")).status_code == 404  # supervises none


def test_a_referrer_has_no_caseload_and_no_cases_page(client, referrer):
    client.force_login(referrer)
    assert client.get(reverse("referrals:caseload")).status_code == 404
    assert client.get(reverse("referrals:my_cases")).status_code == 404


# --- The caseload page ----------------------------------------------------------------------


def test_a_deactivated_workers_12_open_cases_need_an_owner_at_once(
    client, ifsc_unit, unit_supervisor, ann, ben
):
    tasks = open_cases(ifsc_unit, 12)
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in tasks],
        worker_ids=[ann.pk],
    )
    client.force_login(unit_supervisor)
    before = client.get(reverse("referrals:caseload"))
    assert before.context["cases"] == []
    assert {w.user.pk: w.load for w in before.context["workers"]}[ann.pk] == 12

    ann.is_active = False
    ann.save(update_fields=["is_active"])

    response = client.get(reverse("referrals:caseload"))
    assert {t.pk for t in response.context["cases"]} == {t.pk for t in tasks}
    page = response.content.decode()
    assert page.count("Ann Lau's account is deactivated") == 12
    assert ann.pk not in {w.user.pk for w in response.context["workers"]}
    inbox = client.get(reverse("inbox:index"), {"tab": "open"}).context["rows"]
    assert {(r["case"]["needs_owner"], r["case"]["left_by"]) for r in inbox} == {(True, "Ann Lau")}
    # The supervisor gives them to Ben from this page.
    given = client.post(
        reverse("referrals:allocate"),
        {
            "unit": ifsc_unit.pk,
            "task": [t.pk for t in tasks],
            "worker": [ben.pk],
            "next": reverse("referrals:caseload"),
        },
        follow=True,
    )
    assert "Allocated 12 cases: 12 to Ben Wong." in given.content.decode()
    assert given.context["cases"] == []


def test_the_caseload_page_shows_each_workers_load_against_their_limit(
    client, ifsc_unit, unit_supervisor
):
    ann = worker(ifsc_unit, "Ann Lau", caseload_limit=4)
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in open_cases(ifsc_unit, 5)],
        worker_ids=[ann.pk],
        respect_limits=False,
    )
    client.force_login(unit_supervisor)
    response = client.get(reverse("referrals:unit_caseload", args=[ifsc_unit.pk]))
    page = response.content.decode()
    assert response.context["over_limit"] == 1
    assert '<meter min="0" max="4" high="4" value="5">' in page
    assert "125%" in page and "1 worker is over their limit." in page
    assert "Every open case has an owner." in page


def test_the_inbox_and_the_navigation_link_to_the_pages(client, ifsc_unit, unit_supervisor):
    client.force_login(unit_supervisor)
    page = client.get(reverse("inbox:index")).content.decode()
    assert reverse("referrals:unit_caseload", args=[ifsc_unit.pk]) in page
    assert f'href="{reverse("referrals:my_cases")}"' in page


# --- My cases -------------------------------------------------------------------------------


def test_my_cases_lists_only_the_users_own_open_cases(client, ifsc_unit, unit_supervisor, ann, ben):
    mine, bens = open_cases(ifsc_unit, 3), open_cases(ifsc_unit, 2)
    finished = open_cases(ifsc_unit, 1)
    for tasks, who in ((mine + finished, ann), (bens, ben)):
        caseload.allocate(
            actor=unit_supervisor,
            unit_id=ifsc_unit.pk,
            task_ids=[t.pk for t in tasks],
            worker_ids=[who.pk],
        )
    ReferralTask.objects.filter(pk=finished[0].pk).update(status=Status.COMPLETED)
    client.force_login(ann)
    response = client.get(reverse("referrals:my_cases"))
    assert {t.pk for t in response.context["cases"]} == {t.pk for t in mine}
    page = response.content.decode()
    assert all(t.referral.reference in page for t in mine)
    assert not any(t.referral.reference in page for t in bens + finished)


# --- The referral's page --------------------------------------------------------------------


@pytest.fixture
def owned(referrer, caring_team, ifsc_unit, unit_supervisor, ann):
    """A referral of ``referrer``'s, in progress at the IFSC, its case allocated to Ann."""
    referral = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        status=Status.IN_PROGRESS,
        assigned_unit=ifsc_unit,
    )
    task = referral.tasks.get()
    caseload.allocate(
        actor=unit_supervisor, unit_id=ifsc_unit.pk, task_ids=[task.pk], worker_ids=[ann.pk]
    )
    return referral


def detail(client, referral):
    return client.get(reverse("referrals:detail", args=[referral.public_id]))


def test_the_referrer_never_sees_the_owners_name_and_sees_a_shared_contact(
    client, owned, referrer, unit_worker, ifsc_unit
):
    client.force_login(referrer)
    page = detail(client, owned).content.decode()
    assert "Ann Lau" not in page and "Lau" not in page
    assert 'data-kind="allocation"' not in page
    assert 'id="unit-contacts"' not in page

    client.force_login(unit_worker)
    page = detail(client, owned).content.decode()
    assert '<span class="case-owner">Ann Lau</span>' in page
    assert "Case worker: Ann Lau" in page  # the timeline's allocation event
    task = owned.tasks.get()
    response = client.post(
        reverse("referrals:share_contact", args=[owned.public_id]),
        {"task": task.pk, "version": task.version, "contact": "Duty social worker, 2345 6789"},
    )
    assert messages_of(response) == ["The referrer now sees this contact for your unit."]

    client.force_login(referrer)
    page = detail(client, owned).content.decode()
    assert "Duty social worker, 2345 6789" in page and ifsc_unit.name in page
    assert "Ann Lau" not in page


def test_a_stale_version_on_share_contact_is_a_conflict_and_changes_nothing(
    client, owned, unit_worker
):
    task = owned.tasks.get()
    client.force_login(unit_worker)
    response = client.post(
        reverse("referrals:share_contact", args=[owned.public_id]),
        {"task": task.pk, "version": task.version - 1, "contact": "Call Ann"},
        follow=True,
    )
    assert "Someone else changed this referral while you were looking at it" in (
        response.content.decode()
    )
    task.refresh_from_db()
    assert task.shared_contact == "" and task.version == 2


def test_only_the_unit_shares_a_contact(client, owned, referrer, other_unit_worker):
    task = owned.tasks.get()
    for outsider in (referrer, other_unit_worker):
        client.force_login(outsider)
        response = client.post(
            reverse("referrals:share_contact", args=[owned.public_id]),
            {"task": task.pk, "version": task.version, "contact": "Call me"},
        )
        assert response.status_code == 404
    task.refresh_from_db()
    assert task.shared_contact == ""


def test_a_supervisor_reallocates_one_case_from_the_referrals_page(
    client, owned, unit_supervisor, unit_worker, ben
):
    client.force_login(unit_worker)
    assert 'class="action action-allocate"' not in detail(client, owned).content.decode()
    client.force_login(unit_supervisor)
    page = detail(client, owned).content.decode()
    assert 'class="action action-allocate"' in page and "Ben Wong (0 of 40)" in page
    task = owned.tasks.get()
    url = reverse("referrals:detail", args=[owned.public_id])
    response = client.post(
        reverse("referrals:allocate"),
        {"unit": task.unit_id, "task": [task.pk], "worker": [ben.pk], "next": url},
    )
    assert response.url == url
    assert messages_of(response) == ["Allocated 1 case: 1 to Ben Wong."]
    task.refresh_from_db()
    assert task.owner == ben
    assert ReferralEvent.objects.filter(task=task, kind="allocation").count() == 2


def test_the_district_office_sees_the_case_worker(client, owned, district_officer):
    client.force_login(district_officer)
    page = detail(client, owned).content.decode()
    assert '<span class="case-owner">Ann Lau</span>' in page
    assert 'class="action action-share-contact"' not in page
    assert 'data-kind="allocation"' in page


# --- Query counts ---------------------------------------------------------------------------


def test_the_caseload_page_costs_the_same_for_few_or_many_cases_and_workers(
    client, ifsc_unit, unit_supervisor, django_assert_max_num_queries
):
    client.force_login(unit_supervisor)
    open_cases(ifsc_unit, 2)
    worker(ifsc_unit, "Ann Lau")
    url = reverse("referrals:caseload")
    # The session, its two-factor device, the user, the memberships (the scope; the header
    # with the unread count), the units, the workers' loads and memberships, the cases' ids
    # and rows, the access log.
    with django_assert_max_num_queries(11) as few:
        client.get(url)
    open_cases(ifsc_unit, 30)
    for name in ("Ben Wong", "Cora Ho", "Dan Yip"):
        worker(ifsc_unit, name)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert len(response.context["cases"]) == 32 and len(response.context["workers"]) == 5


def test_my_cases_costs_the_same_for_few_or_many_cases(
    client, ifsc_unit, unit_supervisor, ann, django_assert_max_num_queries
):
    def give(n):
        caseload.allocate(
            actor=unit_supervisor,
            unit_id=ifsc_unit.pk,
            task_ids=[t.pk for t in open_cases(ifsc_unit, n)],
            worker_ids=[ann.pk],
        )

    client.force_login(ann)
    give(2)
    with django_assert_max_num_queries(8) as few:  # as above, without units and workers
        client.get(reverse("referrals:my_cases"))
    give(25)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("referrals:my_cases"))
    assert len(response.context["cases"]) == 27


def test_the_supervisors_inbox_costs_the_same_for_few_or_many_rows(
    client, ifsc_unit, unit_supervisor, ann, django_assert_max_num_queries
):
    client.force_login(unit_supervisor)
    tasks = open_cases(ifsc_unit, 2)
    # The inbox's 10 (test_queues.py: the workers' names come with the rows, the tabs' counts
    # are one aggregate, the needs column one prefetch), and for the "Allocate to" bar the
    # supervised unit and its workers' loads and memberships.
    with django_assert_max_num_queries(13) as few:
        client.get(reverse("inbox:index"), {"tab": "open"})
    tasks += open_cases(ifsc_unit, 25)
    caseload.allocate(
        actor=unit_supervisor,
        unit_id=ifsc_unit.pk,
        task_ids=[t.pk for t in tasks[:20]],
        worker_ids=[ann.pk],
    )
    worker(ifsc_unit, "Ben Wong")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("inbox:index"), {"tab": "open"})
    assert len(response.context["rows"]) == 25


def test_the_referral_page_reads_the_case_worker_in_one_query(
    client, owned, unit_worker, unit_supervisor, referrer, caring_team, ifsc_unit
):
    """The case's worker costs the page one query for the unit (none while the case has no
    worker); the referrer's page costs nothing more."""
    unowned = factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        status=Status.IN_PROGRESS,
        assigned_unit=ifsc_unit,
    )
    for reader, extra in ((unit_worker, 1), (unit_supervisor, 1), (referrer, 0)):
        client.force_login(reader)
        detail(client, unowned)  # the first request of a session reads more
        with CaptureQueriesContext(connection) as without_owner:
            detail(client, unowned)
        with CaptureQueriesContext(connection) as with_owner:
            page = detail(client, owned).content.decode()
        assert len(with_owner) == len(without_owner) + extra, reader
        assert ("Ann Lau" in page) is (reader != referrer)


@pytest.mark.django_db
def test_the_navigation_offers_each_role_its_caseload_and_transfer_pages(
    client, unit_worker, unit_supervisor, district_officer, referrer
):
    from django.urls import reverse

    links = {
        "nav-my-cases": reverse("referrals:my_cases"),
        "nav-caseload": reverse("referrals:caseload"),
        "nav-transfers": None,
        "nav-matching": reverse("referrals:matching"),
    }
    expected = {
        referrer: set(),
        unit_worker: {"nav-my-cases", "nav-transfers"},
        unit_supervisor: {"nav-my-cases", "nav-caseload", "nav-transfers"},
        district_officer: {"nav-transfers", "nav-matching"},
    }
    for user, shown in expected.items():
        client.force_login(user)
        page = client.get(reverse("home")).content.decode()
        assert {key for key in links if f'id="{key}"' in page} == shown, user.username
        for key in shown:
            if links[key]:
                assert f'href="{links[key]}"' in page
