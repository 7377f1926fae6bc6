"""The planned-transfer pages (issue 17): an office's unit-to-unit plan from its making to
the receiving unit's answers, a supervisor's worker-to-worker plan, who may reach each
page, and the query counts of the pages that list cases."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from referrals.models import (
    HANDOVER_TEMPLATE,
    ReferralEvent,
    ReferralTask,
    Status,
    TransferCase,
    TransferPlan,
)
from referrals.transfer_plans import CaseSpec, plan_create
from referrals.transfers import plan_run
from referrals.web.transfer_views import transfer_panel
from tests import factories

pytestmark = pytest.mark.django_db

NOTE = "Situation now: stable.\nRisks: none known.\nNext steps: home visit on Monday."


def _member(username, role, unit):
    return factories.MembershipFactory(
        user=factories.UserFactory(username=username), role=role, service_unit=unit
    ).user


def _local_minutes(at) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%dT%H:%M")


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def unit_b(ssp_area):
    return factories.ServiceUnitFactory(
        code="ifsc-f-02",
        name_en="Cheung Sha Wan IFSC Test",
        name_zh="長沙灣綜合家庭服務中心測試",
        unit_type=factories.unit_type("IFSC"),
        catchment_sub_districts=[ssp_area],
    )


@pytest.fixture
def b_worker(unit_b):
    return _member("b-worker", Membership.Role.UNIT_STAFF, unit_b)


@pytest.fixture
def open_cases(referrer, caring_team, ifsc_unit, unit_worker):
    """Factory: ``n`` in-progress cases of unit A (``ifsc_unit``) owned by ``unit_worker``;
    returns their tasks."""

    def make(n, owner=unit_worker):
        tasks = []
        for _ in range(n):
            referral = factories.ReferralFactory(
                referrer=referrer,
                referring_team=caring_team,
                status="in_progress",
                assigned_unit=ifsc_unit,
            )
            task = referral.tasks.get()
            ReferralTask.objects.filter(pk=task.pk).update(owner=owner, owner_since=timezone.now())
            tasks.append(task)
        return tasks

    return make


def _plan(actor, tasks, to_unit, **spec):
    return plan_create(
        actor=actor,
        kind=TransferPlan.Kind.UNIT,
        title="Unit A closing",
        from_unit_id=tasks[0].unit_id,
        effective_on=timezone.localdate(),
        cases=[CaseSpec(task_id=t.pk, **spec) for t in tasks],
        to_unit_id=to_unit.pk,
    )


def _ready_plan(actor, tasks, to_unit):
    """A plan whose every case has its note and its family told: it moves when run."""
    informed = timezone.now() - timedelta(minutes=5)
    return _plan(actor, tasks, to_unit, handover_note=NOTE, family_informed_at=informed)


def _edit(client, case, **fields):
    data = {
        "version": case.version,
        "handover_note": case.handover_note,
        "family_informed_at": _local_minutes(case.family_informed_at)
        if case.family_informed_at
        else "",
        "not_informed_reason": case.not_informed_reason,
    }
    data.update(fields)
    return client.post(reverse("referrals:transfer_case_edit", args=[case.pk]), data)


def test_an_office_plans_moves_and_unit_b_answers_through_the_pages(  # long: the journey
    client, district_officer, ifsc_unit, unit_b, unit_worker, b_worker, open_cases
):
    tasks = open_cases(3)
    client.force_login(district_officer)
    query = f"?kind=unit&from_unit={ifsc_unit.pk}"
    page = client.get(reverse("referrals:transfer_new") + query)
    assert page.status_code == 200
    assert [row.pk for row in page.context["rows"]] == [t.pk for t in tasks]
    assert unit_b in page.context["plan_form"].fields["to_unit"].queryset

    plan_fields = {
        "title": "Unit A closing",
        "reason": TransferPlan.Reason.REORGANISATION,
        "effective_on": timezone.localdate().isoformat(),
        "to_unit": unit_b.pk,
    }
    # Nothing ticked: the plan is refused, the problem listed, the input kept.
    refused = client.post(reverse("referrals:transfer_new") + query, plan_fields)
    assert refused.status_code == 400
    assert "Choose at least one open case to transfer." in refused.context["problems"]
    assert 'value="Unit A closing"' in refused.content.decode()
    assert not TransferPlan.objects.exists()

    made = client.post(
        reverse("referrals:transfer_new") + query,
        {**plan_fields, "cases": [t.pk for t in tasks]},
    )
    plan = TransferPlan.objects.get()
    assert made.status_code == 302
    assert made.url == reverse("referrals:transfer_detail", args=[plan.public_id])
    cases = list(plan.cases.order_by("pk"))
    assert [c.task_id for c in cases] == [t.pk for t in tasks]
    assert all(c.handover_note == str(HANDOVER_TEMPLATE) for c in cases)
    first, second, third = cases

    # Each case's handover, saved from the page it was drawn on.
    informed = timezone.now() - timedelta(hours=1)
    saved = _edit(client, first, handover_note=NOTE, family_informed_at=_local_minutes(informed))
    assert saved.status_code == 302
    first.refresh_from_db()
    assert (first.handover_note, first.version) == (NOTE, 2)
    assert first.family_informed_at is not None
    # The same form again, from the stale page: a conflict, nothing changed.
    stale = first.version - 1
    conflict = _edit(client, first, version=stale, handover_note="Overwritten")
    assert any("Nothing was changed" in m for m in _messages(conflict))
    first.refresh_from_db()
    assert (first.handover_note, first.version) == (NOTE, 2)

    _edit(client, second, handover_note=NOTE, family_informed_at=_local_minutes(informed))
    _edit(client, third, handover_note=NOTE)  # the family not told, and no reason why
    detail = client.get(reverse("referrals:transfer_detail", args=[plan.public_id]))
    assert detail.context["blockers"].family_not_ready == [third.pk]
    assert detail.context["can_run"]
    assert "1 case keeps the plan from running." in detail.content.decode()

    run_url = reverse("referrals:transfer_run", args=[plan.public_id])
    refused_run = client.post(run_url)
    assert any("Nothing was moved" in m for m in _messages(refused_run))
    assert not plan.cases.exclude(state=TransferCase.State.PLANNED).exists()

    third.refresh_from_db()
    _edit(client, third, not_informed_reason="The family cannot be reached; told on first visit.")
    moved = client.post(run_url)
    assert any("3 cases moved" in m for m in _messages(moved))
    assert set(plan.cases.values_list("state", flat=True)) == {TransferCase.State.MOVED}
    units = ReferralTask.objects.filter(pk__in=[t.pk for t in tasks]).values_list("unit_id")
    assert set(units) == {(unit_b.pk,)}

    # Unit A still sees them, in the overlap, until B accepts.
    client.force_login(unit_worker)
    sent = client.get(reverse("referrals:transfers_incoming")).context["sent_rows"]
    assert [c.pk for c in sent] == [c.pk for c in cases]
    overlap = client.get(reverse("referrals:detail", args=[first.referral.public_id]))
    assert overlap.status_code == 200

    # Unit B's Transfers: the cases, their notes, the previous worker's e-mail.
    client.force_login(b_worker)
    incoming = client.get(reverse("referrals:transfers_incoming"))
    assert [c.pk for c in incoming.context["rows"]] == [c.pk for c in cases]
    text = incoming.content.decode()
    assert unit_worker.email in text and "home visit on Monday" in text
    answer = reverse("referrals:transfer_answer")
    accepted = client.post(answer, {"answer": "accept", "cases": [first.pk, second.pk]})
    assert any("2 cases accepted." in m for m in _messages(accepted))
    # Declining needs a reason; without one nothing changes.
    no_reason = client.post(answer, {"answer": "decline", "cases": [third.pk], "reason": " "})
    assert any("Give a reason" in m for m in _messages(no_reason))
    third.refresh_from_db()
    assert third.state == TransferCase.State.MOVED
    client.post(answer, {"answer": "decline", "cases": [third.pk], "reason": "Outside our area"})
    third.refresh_from_db()
    back = ReferralTask.objects.get(pk=third.task_id)
    assert (third.state, third.answer_reason) == (TransferCase.State.RETURNED, "Outside our area")
    assert (back.unit_id, back.owner_id) == (ifsc_unit.pk, unit_worker.pk)
    states = dict(plan.cases.values_list("pk", "state"))
    assert states == {
        first.pk: TransferCase.State.ACCEPTED,
        second.pk: TransferCase.State.ACCEPTED,
        third.pk: TransferCase.State.RETURNED,
    }

    # The timeline tells each step; the plan's page counts them.
    client.force_login(district_officer)
    referral_page = client.get(reverse("referrals:detail", args=[third.referral.public_id]))
    timeline = referral_page.content.decode()
    assert f"Moved from {ifsc_unit.name_en} to {unit_b.name_en}" in timeline
    assert f"Declined by {unit_b.name_en} and returned to {ifsc_unit.name_en}" in timeline
    figures = client.get(reverse("referrals:transfer_detail", args=[plan.public_id])).context[
        "figures"
    ]
    assert (figures.moved, figures.accepted, figures.returned) == (3, 2, 1)


def test_the_plan_page_cancels_and_takes_cases_out_only_when_confirmed(
    client, district_officer, unit_b, open_cases
):
    tasks = open_cases(2)
    plan = _plan(district_officer, tasks, unit_b)
    client.force_login(district_officer)
    first = plan.cases.order_by("pk").first()
    remove = reverse("referrals:transfer_case_remove", args=[first.pk])
    assert any("Tick the box" in m for m in _messages(client.post(remove)))
    assert plan.cases.filter(state=TransferCase.State.PLANNED).count() == 2
    client.post(remove, {"confirm": "on"})
    first.refresh_from_db()
    assert first.state == TransferCase.State.REMOVED

    cancel = reverse("referrals:transfer_cancel", args=[plan.public_id])
    client.post(cancel, {"version": plan.version, "reason": "Unit stays open"})
    plan.refresh_from_db()
    assert plan.state == TransferPlan.State.PLANNED  # not confirmed
    client.post(cancel, {"version": plan.version, "reason": "Unit stays open", "confirm": "on"})
    plan.refresh_from_db()
    assert plan.state == TransferPlan.State.CANCELLED


def test_families_informed_on_one_date_for_every_planned_case(
    client, district_officer, unit_b, open_cases
):
    plan = _plan(district_officer, open_cases(3), unit_b)
    client.force_login(district_officer)
    at = timezone.now() - timedelta(hours=2)
    client.post(
        reverse("referrals:transfer_family_informed", args=[plan.public_id]),
        {"at": _local_minutes(at)},
    )
    assert not plan.cases.filter(family_informed_at__isnull=True).exists()
    detail = client.get(reverse("referrals:transfer_detail", args=[plan.public_id]))
    assert detail.context["blockers"].family_not_ready == []
    assert len(detail.context["blockers"].no_handover) == 3  # the template is not a note


def test_a_supervisor_moves_one_workers_cases_to_another_through_the_pages(
    client, ifsc_unit, unit_supervisor, unit_worker, open_cases
):
    tasks = open_cases(2)
    colleague = _member("colleague", Membership.Role.UNIT_STAFF, ifsc_unit)
    client.force_login(unit_supervisor)
    query = f"?kind=worker&from_unit={ifsc_unit.pk}&owner={unit_worker.pk}"
    page = client.get(reverse("referrals:transfer_new") + query)
    assert page.context["kinds"] == [TransferPlan.Kind.WORKER]
    assert colleague in page.context["plan_form"].fields["to_owner"].queryset
    made = client.post(
        reverse("referrals:transfer_new") + query,
        {
            "title": "Leave cover",
            "reason": TransferPlan.Reason.CASELOAD,
            "effective_on": timezone.localdate().isoformat(),
            "to_owner": colleague.pk,
            "all_matching": "on",
        },
    )
    plan = TransferPlan.objects.get()
    assert made.status_code == 302
    assert (plan.kind, plan.from_unit) == (TransferPlan.Kind.WORKER, ifsc_unit)
    assert set(plan.cases.values_list("to_owner_id", flat=True)) == {colleague.pk}
    at = _local_minutes(timezone.now() - timedelta(hours=1))
    client.post(reverse("referrals:transfer_family_informed", args=[plan.public_id]), {"at": at})
    for case in plan.cases.all():
        _edit(client, case, handover_note=NOTE)
    client.post(reverse("referrals:transfer_run", args=[plan.public_id]))
    owners = ReferralTask.objects.filter(pk__in=[t.pk for t in tasks]).values_list(
        "owner_id", flat=True
    )
    assert set(owners) == {colleague.pk}
    assert set(plan.cases.values_list("state", flat=True)) == {TransferCase.State.ACCEPTED}
    # In the list, with its counts.
    listed = client.get(reverse("referrals:transfer_list"))
    assert [(p.pk, p.case_count, p.accepted_count) for p in listed.context["plans"]] == [
        (plan.pk, 2, 2)
    ]


def test_a_supervisor_may_not_move_cases_to_someone_outside_the_unit(
    client, ifsc_unit, unit_supervisor, unit_worker, other_unit_worker, open_cases
):
    open_cases(1)
    client.force_login(unit_supervisor)
    query = f"?kind=worker&from_unit={ifsc_unit.pk}&owner={unit_worker.pk}"
    refused = client.post(
        reverse("referrals:transfer_new") + query,
        {
            "title": "Leave cover",
            "reason": TransferPlan.Reason.CASELOAD,
            "effective_on": timezone.localdate().isoformat(),
            "to_owner": other_unit_worker.pk,
            "all_matching": "on",
        },
    )
    assert refused.status_code == 400
    assert "to_owner" in refused.context["plan_form"].errors
    assert not TransferPlan.objects.exists()


def test_outsiders_get_404_on_every_plan_and_answer_url(  # long: one URL after another
    client,
    district_officer,
    other_district_officer,
    other_unit_worker,
    referrer,
    unit_b,
    b_worker,
    open_cases,
):
    plan = _ready_plan(district_officer, open_cases(2), unit_b)
    case = plan.cases.first()
    detail = reverse("referrals:transfer_detail", args=[plan.public_id])
    plan_urls = [
        reverse("referrals:transfer_run", args=[plan.public_id]),
        reverse("referrals:transfer_cancel", args=[plan.public_id]),
        reverse("referrals:transfer_family_informed", args=[plan.public_id]),
        reverse("referrals:transfer_case_edit", args=[case.pk]),
        reverse("referrals:transfer_case_remove", args=[case.pk]),
    ]
    for outsider in (other_district_officer, other_unit_worker, referrer):
        client.force_login(outsider)
        assert client.get(detail).status_code == 404, outsider
        for url in plan_urls:
            post = client.post(url, {"version": case.version, "confirm": "on", "reason": "x"})
            assert post.status_code == 404, (outsider, url)
    client.force_login(referrer)
    assert client.get(reverse("referrals:transfer_list")).status_code == 404
    assert client.get(reverse("referrals:transfer_new")).status_code == 404
    assert client.get(reverse("referrals:transfers_incoming")).status_code == 404

    plan_run(plan_id=plan.pk)
    answer = reverse("referrals:transfer_answer")
    for outsider in (other_district_officer, other_unit_worker, referrer):
        client.force_login(outsider)
        response = client.post(answer, {"answer": "accept", "cases": [case.pk]})
        assert response.status_code == 404
    assert TransferCase.objects.filter(state=TransferCase.State.MOVED).count() == 2
    # The receiving unit's staff read nothing of the plan's page either.
    client.force_login(b_worker)
    assert client.get(detail).status_code == 404
    assert client.post(plan_urls[3], {"version": case.version}).status_code == 404
    # Another district's officer sees none of it in their list.
    client.force_login(other_district_officer)
    assert client.get(reverse("referrals:transfer_list")).context["plans"] == []


def test_the_referral_page_panel_shows_the_pending_transfer_to_both_units_only(
    district_officer, referrer, ifsc_unit, unit_b, unit_worker, b_worker, open_cases
):
    task = open_cases(1)[0]
    plan = _ready_plan(district_officer, [task], unit_b)
    plan_run(plan_id=plan.pk)
    referral = task.referral
    receiving, sending = transfer_panel(b_worker, referral), transfer_panel(unit_worker, referral)
    assert [row["receiving"] for row in receiving] == [True]
    assert [row["receiving"] for row in sending] == [False]
    assert transfer_panel(referrer, referral) == []
    html = render_to_string("referrals/includes/transfer_panel.html", {"transfer_panel": receiving})
    assert unit_worker.email in html and "home visit on Monday" in html
    assert "Moved to your unit from" in html


def test_the_referral_page_itself_shows_the_panel_to_the_receiving_unit(
    client, district_officer, unit_b, unit_worker, b_worker, open_cases
):
    task = open_cases(1)[0]
    plan_run(plan_id=_ready_plan(district_officer, [task], unit_b).pk)
    url = reverse("referrals:detail", args=[task.referral.public_id])
    client.force_login(b_worker)
    page = client.get(url).content.decode()
    assert 'id="transfer-panel"' in page and unit_worker.email in page
    assert "home visit on Monday" in page
    client.force_login(unit_worker)  # the sending unit, in the overlap window
    page = client.get(url).content.decode()
    assert 'id="transfer-panel"' in page and "awaiting its acceptance" in page


def test_the_referrer_sees_the_new_unit_but_not_the_handover(
    client, district_officer, referrer, unit_b, open_cases
):
    task = open_cases(1)[0]
    plan_run(plan_id=_ready_plan(district_officer, [task], unit_b).pk)
    client.force_login(referrer)
    page = client.get(reverse("referrals:detail", args=[task.referral.public_id])).content.decode()
    assert 'data-kind="transfer"' in page
    assert unit_b.name_en in page
    assert "home visit on Monday" not in page
    assert ReferralEvent.objects.filter(kind=ReferralEvent.Kind.TRANSFER).count() == 2


def test_the_plan_page_of_twenty_cases_in_a_fixed_number_of_queries(
    client, district_officer, unit_b, open_cases, django_assert_max_num_queries
):
    plan = _plan(district_officer, open_cases(20), unit_b)
    client.force_login(district_officer)
    url = reverse("referrals:transfer_detail", args=[plan.public_id])
    with django_assert_max_num_queries(13):
        response = client.get(url)
    assert len(response.context["rows"]) == 20
    assert all(row["form"] is not None for row in response.context["rows"])


def test_the_incoming_list_in_a_fixed_number_of_queries(
    client, district_officer, unit_b, b_worker, open_cases, django_assert_max_num_queries
):
    plan = _ready_plan(district_officer, open_cases(20), unit_b)
    plan_run(plan_id=plan.pk)
    client.force_login(b_worker)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("referrals:transfers_incoming"))
    assert len(response.context["rows"]) == 20
    assert response.context["rows"][0].task.status == Status.IN_PROGRESS


def test_the_timeline_names_the_units_in_the_readers_language(
    client, district_officer, unit_b, ifsc_unit, open_cases
):
    task = open_cases(1)[0]
    plan_run(plan_id=_ready_plan(district_officer, [task], unit_b).pk)
    client.force_login(district_officer)
    client.cookies["django_language"] = "zh-hant"
    page = client.get(reverse("referrals:detail", args=[task.referral.public_id])).content.decode()
    assert 'data-step="moved"' in page
    assert ifsc_unit.name_zh in page and unit_b.name_zh in page


def test_the_receiving_supervisor_reads_the_plan_but_changes_nothing(
    client, district_officer, unit_b, open_cases
):
    plan = _plan(district_officer, open_cases(2), unit_b)
    supervisor = _member("b-supervisor", Membership.Role.UNIT_SUPERVISOR, unit_b)
    client.force_login(supervisor)
    detail = client.get(reverse("referrals:transfer_detail", args=[plan.public_id]))
    assert detail.status_code == 200
    assert len(detail.context["rows"]) == 2
    assert not detail.context["editable"] and not detail.context["can_run"]
    case = plan.cases.first()
    assert _edit(client, case, handover_note=NOTE).status_code == 404
    run = client.post(reverse("referrals:transfer_run", args=[plan.public_id]))
    assert run.status_code == 404
    assert not plan.cases.exclude(state=TransferCase.State.PLANNED).exists()


def test_the_receiving_side_reads_a_handover_only_once_the_case_is_theirs(
    client, district_officer, unit_b, b_worker, open_cases
):
    """The same rule as the API's (``transfer_plans.handover_readable``): a planned case's
    handover is the sending side's; the receiving unit reads it once the case has moved."""
    from referrals.models import AccessLog

    task = open_cases(1)[0]
    plan = _ready_plan(district_officer, [task], unit_b)
    supervisor = _member("b-supervisor", Membership.Role.UNIT_SUPERVISOR, unit_b)
    client.force_login(supervisor)
    url = reverse("referrals:transfer_detail", args=[plan.public_id])
    assert "home visit on Monday" not in client.get(url).content.decode()
    assert not AccessLog.objects.filter(user=supervisor).exists()
    client.force_login(district_officer)
    assert "home visit on Monday" in client.get(url).content.decode()

    plan_run(plan_id=plan.pk)
    client.force_login(supervisor)
    assert "home visit on Monday" in client.get(url).content.decode()
    assert AccessLog.objects.filter(user=supervisor, referral=task.referral).exists()
