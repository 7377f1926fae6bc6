"""The referral state machine: every allowed step, every refused one, who may, and conflicts."""

import threading

import pytest
from django.db import connection, transaction

from referrals import assignment, errors, services
from referrals.lifecycle import TRANSITIONS, Actor
from referrals.models import Referral, ReferralEvent, Status
from tests import factories

pytestmark = pytest.mark.django_db

# Who acts in each capacity in these tests.
PERSONA_FOR = {
    Actor.UNIT: "unit_worker",
    Actor.REFERRER: "referrer",
    Actor.OFFICE: "district_officer",
    Actor.ADMIN: "admin_user",
    Actor.SYSTEM: None,
}
ACTIONS = [action for action in TRANSITIONS if action != "submit"]
ALLOWED = [(action, source) for action in ACTIONS for source in TRANSITIONS[action].sources]
REFUSED = [
    (action, status)
    for action in ACTIONS
    for status in Status.values
    if status not in TRANSITIONS[action].sources
]
# Personas holding none of the capacities a transition names.
OUTSIDERS = {
    "referrer": {Actor.REFERRER},
    "unit_worker": {Actor.UNIT},
    "unit_supervisor": {Actor.UNIT},
    "district_officer": {Actor.OFFICE},
    "admin_user": {Actor.ADMIN},
    "other_unit_worker": set(),
    "other_district_officer": set(),
}
NOT_PERMITTED = [
    (action, persona)
    for action in ACTIONS
    for persona, capacities in OUTSIDERS.items()
    if not capacities & TRANSITIONS[action].actors
]


@pytest.fixture
def referral_in(referrer, caring_team, ifsc_unit):
    def build(status):
        return factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            status=status,
            assigned_unit=ifsc_unit,
            reference=None if status == Status.DRAFT else "SSP-2026-000001",
        )

    return build


def act(action, referral, actor, **kwargs):
    kwargs.setdefault("reason", "a reason")
    if action == "complete":
        kwargs.setdefault("outcome", "Now attends the day centre twice a week.")
    if action == "assign":
        unit = kwargs.pop("unit", None) or factories.ServiceUnitFactory(district=referral.district)
        return assignment.referral_assign(referral_id=referral.pk, actor=actor, unit=unit, **kwargs)
    return services.ACTION_SERVICES[action](referral_id=referral.pk, actor=actor, **kwargs)


def capable_actor(action, request):
    actors = TRANSITIONS[action].actors
    capacity = next(c for c in PERSONA_FOR if c in actors)
    persona = PERSONA_FOR[capacity]
    return request.getfixturevalue(persona) if persona else None


@pytest.mark.parametrize(("action", "source"), ALLOWED)
def test_every_allowed_transition_moves_the_status_and_writes_one_event(
    action, source, referral_in, request
):
    referral = referral_in(source)
    actor = capable_actor(action, request)
    updated = act(action, referral, actor, note="seen at home")

    target = TRANSITIONS[action].target
    assert updated.status == target
    assert Referral.objects.get(pk=referral.pk).status == target
    assert updated.version == referral.version + 1
    event = ReferralEvent.objects.get(referral=referral)
    assert (event.from_status, event.to_status) == (source, target)
    assert event.actor == actor
    assert event.note == "seen at home"
    assert event.reason == "a reason"


@pytest.mark.parametrize(("action", "status"), REFUSED)
def test_every_other_transition_is_refused_and_changes_nothing(
    action, status, referral_in, request
):
    referral = referral_in(status)
    actor = capable_actor(action, request)
    with pytest.raises(errors.IllegalTransition) as refused:
        act(action, referral, actor)
    assert str(Status(status).label) in str(refused.value.message)
    assert Referral.objects.get(pk=referral.pk).status == status
    assert not ReferralEvent.objects.exists()


@pytest.mark.parametrize(("action", "persona"), NOT_PERMITTED)
def test_people_without_the_role_may_not_make_the_transition(action, persona, referral_in, request):
    source = TRANSITIONS[action].sources[0]
    referral = referral_in(source)
    with pytest.raises(errors.NotPermitted):
        act(action, referral, request.getfixturevalue(persona))
    assert Referral.objects.get(pk=referral.pk).status == source
    assert not ReferralEvent.objects.exists()


def test_an_inactive_user_may_do_nothing(referral_in, unit_worker):
    referral = referral_in(Status.ASSIGNED)
    unit_worker.is_active = False
    unit_worker.save()
    with pytest.raises(errors.NotPermitted):
        services.referral_accept(referral_id=referral.pk, actor=unit_worker)


@pytest.mark.parametrize("action", [a for a in ACTIONS if TRANSITIONS[a].reason_required])
@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reason_is_required_where_fhir_requires_status_reason(
    action, reason, referral_in, request
):
    assert action in {"reject", "hold", "fail", "cancel", "mark_entered_in_error"}
    source = TRANSITIONS[action].sources[0]
    referral = referral_in(source)
    with pytest.raises(errors.ReasonRequired):
        act(action, referral, capable_actor(action, request), reason=reason)
    assert Referral.objects.get(pk=referral.pk).status == source


@pytest.mark.parametrize(
    ("action", "source"),
    [(action, source) for action, source in ALLOWED if action not in ("complete", "assign")],
)
def test_only_completion_writes_the_outcome_summary(action, source, referral_in, request):
    """The referrer reads the outcome summary as the unit's last word: a cancel, a start or
    a hold that carries one is refused whole (issue 14 item 3)."""
    referral = referral_in(source)
    before = Referral.objects.get(pk=referral.pk)
    events_before = ReferralEvent.objects.filter(referral=referral).count()
    with pytest.raises(errors.OutcomeNotAllowed):
        act(action, referral, capable_actor(action, request), outcome="All sorted, case closed.")
    after = Referral.objects.get(pk=referral.pk)
    assert (after.status, after.outcome_summary, after.version) == (
        before.status,
        before.outcome_summary,
        before.version,
    )
    assert ReferralEvent.objects.filter(referral=referral).count() == events_before


def test_completing_needs_an_outcome_for_the_referrer(referral_in, unit_worker):
    referral = referral_in(Status.IN_PROGRESS)
    with pytest.raises(errors.ReasonRequired):
        services.referral_complete(referral_id=referral.pk, actor=unit_worker, outcome=" ")
    done = services.referral_complete(
        referral_id=referral.pk, actor=unit_worker, outcome="Meals delivered daily."
    )
    assert done.outcome_summary == "Meals delivered daily."


def test_rejected_referral_can_go_to_triage_which_clears_the_unit(referral_in, district_officer):
    referral = referral_in(Status.REJECTED)
    updated = services.referral_send_to_triage(referral_id=referral.pk, actor=district_officer)
    assert updated.status == Status.TRIAGE
    assert updated.assigned_unit is None


def test_assign_records_the_unit_on_the_event(referral_in, other_unit):
    referral = referral_in(Status.TRIAGE)
    assignment.referral_assign(
        referral_id=referral.pk, actor=None, unit=other_unit, reason="speaks Urdu"
    )
    event = ReferralEvent.objects.get(referral=referral)
    assert event.unit == other_unit
    assert Referral.objects.get(pk=referral.pk).assigned_unit == other_unit


def test_a_stale_version_is_a_conflict_and_changes_nothing(referral_in, unit_worker):
    referral = referral_in(Status.ASSIGNED)
    seen = referral.version
    services.referral_accept(referral_id=referral.pk, actor=unit_worker, expected_version=seen)
    with pytest.raises(errors.Conflict) as conflict:
        services.referral_decline(
            referral_id=referral.pk, actor=unit_worker, reason="full", expected_version=seen
        )
    assert "Accepted" in str(conflict.value.message)
    assert Referral.objects.get(pk=referral.pk).status == Status.ACCEPTED
    assert ReferralEvent.objects.count() == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL (CI always has it)"
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_transitions_one_wins_the_other_gets_a_conflict(
    referral_in, unit_worker, unit_supervisor
):
    referral = referral_in(Status.ASSIGNED)
    seen = referral.version
    first_holds_lock, release_first = threading.Event(), threading.Event()
    outcomes = {}

    def accept_and_wait():
        try:
            with transaction.atomic():
                services.referral_accept(
                    referral_id=referral.pk, actor=unit_worker, expected_version=seen
                )
                first_holds_lock.set()
                release_first.wait(10)
            outcomes["accept"] = "ok"
        finally:
            connection.close()

    def reject():
        try:
            services.referral_decline(
                referral_id=referral.pk,
                actor=unit_supervisor,
                reason="no capacity",
                expected_version=seen,
            )
            outcomes["reject"] = "ok"
        except errors.Conflict:
            outcomes["reject"] = "conflict"
        finally:
            connection.close()

    first = threading.Thread(target=accept_and_wait)
    first.start()
    assert first_holds_lock.wait(10)
    second = threading.Thread(target=reject)
    second.start()
    second.join(0.5)  # the second is blocked on the row lock while the first holds it
    assert second.is_alive()
    release_first.set()
    first.join(10)
    second.join(10)

    assert outcomes == {"accept": "ok", "reject": "conflict"}
    assert Referral.objects.get(pk=referral.pk).status == Status.ACCEPTED
    assert list(ReferralEvent.objects.values_list("to_status", flat=True)) == ["accepted"]


# --- Who escalates, who reads and writes case notes (issue 19) ---------------------------


@pytest.mark.parametrize(
    ("roles", "may"),
    [
        ({Actor.OFFICE}, True),
        ({Actor.ADMIN}, True),
        ({Actor.UNIT}, False),
        ({Actor.REFERRER}, False),
        (set(), False),
    ],
)
def test_only_the_office_may_escalate_an_open_referral_once(roles, may):
    from referrals.lifecycle import may_escalate

    open_referral = Referral(status=Status.ASSIGNED)
    assert may_escalate(roles=roles, referral=open_referral) is may
    assert may_escalate(roles=roles, referral=Referral(status=Status.COMPLETED)) is False
    flagged = Referral(status=Status.ASSIGNED, escalated_at="2026-01-01T00:00Z")
    assert may_escalate(roles=roles, referral=flagged) is False


@pytest.mark.parametrize(
    ("roles", "reads"),
    [
        ({Actor.UNIT}, True),
        ({Actor.OFFICE}, True),
        ({Actor.ADMIN}, True),
        ({Actor.REFERRER}, False),
    ],
)
def test_who_reads_case_notes(roles, reads):
    from referrals.lifecycle import reads_case_notes

    assert reads_case_notes(roles) is reads


def test_only_the_destructive_steps_spell_out_their_consequence():
    destructive = {a for a, t in TRANSITIONS.items() if t.consequence}
    assert destructive == {"reject", "fail", "cancel", "mark_entered_in_error"}


def test_a_case_note_changes_no_status_and_needs_a_reader_of_case_notes(
    referral_in, unit_worker, referrer
):
    referral = referral_in(Status.IN_PROGRESS)
    event = services.referral_add_note(
        referral_id=referral.pk,
        actor=unit_worker,
        note=" Met her at home. ",
        expected_version=referral.version,
    )
    after = Referral.objects.get(pk=referral.pk)
    assert (after.status, after.version) == (Status.IN_PROGRESS, referral.version + 1)
    assert (event.kind, event.note, event.task.unit) == ("note", "Met her at home.", event.unit)
    with pytest.raises(errors.NotPermitted):
        services.referral_add_note(referral_id=referral.pk, actor=referrer, note="x")
    with pytest.raises(errors.Conflict):
        services.referral_add_note(
            referral_id=referral.pk, actor=unit_worker, note="x", expected_version=0
        )
    assert ReferralEvent.objects.filter(referral=referral, kind="note").count() == 1


def test_checking_a_step_refuses_as_taking_it_would_and_changes_nothing(referral_in, referrer):
    referral = referral_in(Status.ASSIGNED)
    with pytest.raises(errors.ReasonRequired):
        services.referral_cancel(
            referral_id=referral.pk, actor=referrer, reason="", check_only=True
        )
    services.referral_cancel(
        referral_id=referral.pk,
        actor=referrer,
        reason="Moved",
        check_only=True,
        expected_version=referral.version,
    )
    after = Referral.objects.get(pk=referral.pk)
    assert (after.status, after.version) == (Status.ASSIGNED, referral.version)
    assert not ReferralEvent.objects.filter(referral=referral).exists()
