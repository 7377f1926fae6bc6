"""The carer-admitted pathway (issue 16; the source documents' 001 §11–12).

A partner system on the hospital side sends an urgent notice: a carer was admitted, and
these are the people they care for. Each person gets an urgent referral, submitted as the
form submits (``submission.referral_submit``) under the urgent-protection exemption (the
person has not been asked yet; the notice is why they must be reached now), with the risk
factor "carer recently hospitalised". Routing then gives it a task for the carers' hotline
(the rule that matches the situation) and one for the local unit (the rule for the need),
both on the 24-hour clock (``services.due_at``: urgent runs 24 x 7).

Whoever holds a task records each try to reach the person (``referral_record_contact``):

* reached, no urgent need: the referral closes at once, with a reason from a short list;
  most notices end here (the pilot: 430 notices, 2 urgent cases), so it is one step;
* reached, urgent support given: the unit's task is in progress, and the referral goes on
  as any case;
* not reached: the try is kept with when to try again; after ``NOTICE_CONTACT_ATTEMPTS``
  tries the district office is alerted.

``dashboard.notice_funnel`` counts notices → people → reached → urgent for the office.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import PartnerClient, User
from referrals.errors import IllegalTransition, NotPermitted, ReasonRequired, stale_version
from referrals.identity import ProtectedIdentity
from referrals.lifecycle import UNIT_ACTORS, actor_roles
from referrals.models import (
    OPEN_TASK_STATUSES,
    ConsentBasis,
    ContactAttempt,
    ContactOutcome,
    Household,
    NoNeedReason,
    Referral,
    ReferralEvent,
    RiskFactor,
    Status,
    UrgentNotice,
)
from referrals.services import escalate, lock, record_change
from referrals.submission import referral_submit
from referrals.task_steps import acting_task, close_open_tasks, task_step
from services.models import NeedCategory

EXEMPTION_REASON = _(
    "Urgent notice: the person's carer was admitted to hospital and they must be reached now."
)


@dataclass(frozen=True)
class Person:
    """One person cared for, as the API read them: the referral's values and needs."""

    values: dict
    needs: list[NeedCategory]
    identity: ProtectedIdentity | None = None


@dataclass(frozen=True)
class NoticeIntake:
    notice: UrgentNotice
    referrals: list[Referral]
    created: bool


def person_values(values: dict, *, carer_name: str, hospital: str) -> dict:
    """What every referral a notice opens carries, whatever the body said: urgent, on the
    exemption with its reason, the risk factor of the pathway, and the notice in the
    situation."""
    situation = _("Carer %(carer)s admitted to hospital%(where)s.") % {
        "carer": carer_name,
        "where": f" ({hospital})" if hospital else "",
    }
    extra = values.get("situation", "") or ""
    if extra.startswith(str(situation)):  # already the notice's (the API checked it so)
        extra = extra[len(str(situation)) :]
    return {
        # The person is cared for by the carer now in hospital, unless the notice says more.
        "household": Household.CARER_OF_ELDER,
        **{name: value for name, value in values.items() if value not in ("", None)},
        "risk_factors": sorted(
            {*(values.get("risk_factors") or []), str(RiskFactor.CARER_HOSPITALISED)}
        ),
        "consent_basis": ConsentBasis.URGENT_PROTECTION,
        "consent_given_by": "",
        "consent_method": "",
        "consent_given_at": None,
        "consent_exemption_reason": str(EXEMPTION_REASON),
        "situation": f"{situation}\n{extra}".strip(),
    }


def notice_receive(
    *,
    partner: PartnerClient,
    key: str,
    fingerprint: str,
    carer_name: str,
    carer_phone: str = "",
    admitted_at: datetime | None = None,
    hospital: str = "",
    people: list[Person],
    token_for,
) -> NoticeIntake:
    """Store the notice and submit a referral per person, once per ``key``: the same key
    again returns what the first call opened (``created`` False). ``token_for(index)`` is
    each person's submission token (the API derives it from the client and the key)."""
    earlier = _earlier(partner, key)
    if earlier is not None:
        return earlier
    try:
        with transaction.atomic():
            notice = UrgentNotice.objects.create(
                client=partner,
                key=key,
                fingerprint=fingerprint,
                carer_name=carer_name,
                carer_phone=carer_phone,
                admitted_at=admitted_at,
                hospital=hospital,
            )
            referrals = []
            for index, person in enumerate(people):
                referral, _created = referral_submit(
                    referrer=partner.referrer_account(),
                    team=partner.intake_team,
                    token=token_for(index),
                    values=person_values(person.values, carer_name=carer_name, hospital=hospital),
                    needs=person.needs,
                    identity=person.identity,
                )
                Referral.objects.filter(pk=referral.pk).update(notice=notice)
                referral.notice = notice
                referrals.append(referral)
    except IntegrityError:
        # The same key sent twice at once: the other request stored the notice.
        earlier = _earlier(partner, key)
        if earlier is None:
            raise
        return earlier
    return NoticeIntake(notice=notice, referrals=referrals, created=True)


def _earlier(partner: PartnerClient, key: str) -> NoticeIntake | None:
    notice = UrgentNotice.objects.filter(client=partner, key=key).first()
    if notice is None:
        return None
    return NoticeIntake(
        notice=notice, referrals=list(notice.referrals.order_by("pk")), created=False
    )


def earlier_fingerprint(partner: PartnerClient, key: str) -> str | None:
    """The fingerprint of the body first sent under ``key``, or ``None``."""
    return (
        UrgentNotice.objects.filter(client=partner, key=key)
        .values_list("fingerprint", flat=True)
        .first()
    )


# --- Reaching the person ------------------------------------------------------------------


def referral_record_contact(
    *,
    referral_id: int,
    actor: User | None,
    outcome: str,
    reason: str = "",
    note: str = "",
    retry_at: datetime | None = None,
    expected_version: int | None = None,
    partner=None,
) -> Referral:
    """Record one try to reach the person of a notice's referral, by a unit holding an
    open task on it (the hotline, or the local unit); see the module's docstring."""
    note = note.strip()
    with transaction.atomic():
        referral = lock(referral_id)
        if expected_version is not None and referral.version != expected_version:
            raise stale_version(referral.get_status_display())
        task = acting_task(referral, actor=actor, partner=partner)
        if not actor_roles(user=actor, referral=referral, partner=partner, task=task) & (
            UNIT_ACTORS
        ):
            raise NotPermitted(_("You may not do this to this referral."))
        if referral.notice_id is None:
            raise IllegalTransition(_("Contact outcomes are recorded on urgent notices only."))
        if task is None or task.status not in OPEN_TASK_STATUSES:
            raise IllegalTransition(_("Your unit's part of this referral is closed."))
        if outcome not in ContactOutcome.values:
            raise IllegalTransition(_("Choose what happened."))
        if outcome == ContactOutcome.REACHED_NO_NEED and reason not in NoNeedReason.values:
            raise ReasonRequired(_("Choose why no urgent support is needed."))
        if outcome != ContactOutcome.REACHED_NO_NEED:
            reason = ""
        now = timezone.now()
        if outcome == ContactOutcome.NOT_REACHED:
            retry_at = retry_at or now + timedelta(minutes=settings.NOTICE_RETRY_MINUTES)
        else:
            retry_at = None
        attempt = ContactAttempt.objects.create(
            referral=referral,
            task=task,
            by=actor,
            outcome=outcome,
            reason=reason,
            note=note,
            retry_at=retry_at,
        )
        _apply_outcome(referral, task, attempt, actor=actor)
    return referral


def _apply_outcome(referral: Referral, task, attempt: ContactAttempt, *, actor) -> None:
    details = {"outcome": attempt.outcome, "reason": attempt.reason}
    if attempt.outcome == ContactOutcome.REACHED_NO_NEED:
        # One step closes it all: this unit's task completed with the reason as its outcome,
        # the other units' tasks no longer needed.
        outcome = str(ContactOutcome.REACHED_NO_NEED.label) + ": " + attempt.get_reason_display()
        step = (task.status, Status.COMPLETED)
        changes = task_step(
            referral, task, to_status=Status.COMPLETED, changes={"outcome_summary": outcome}
        )
        close_open_tasks(referral, Status.CANCELLED)
        changes.pop("status")
        record_change(
            referral,
            actor=actor,
            to_status=Status.COMPLETED,
            kind=ReferralEvent.Kind.CONTACT,
            note=attempt.note,
            changes={**changes, "outcome_summary": outcome},
            details=details,
            task=task,
            step=step,
        )
        return
    if attempt.outcome == ContactOutcome.REACHED_URGENT:
        step = (task.status, Status.IN_PROGRESS)
        changes = task_step(referral, task, to_status=Status.IN_PROGRESS, changes={})
        record_change(
            referral,
            actor=actor,
            to_status=changes.pop("status"),
            kind=ReferralEvent.Kind.CONTACT,
            note=attempt.note,
            changes=changes,
            details=details,
            task=task,
            step=step,
        )
        return
    details["retry_at"] = attempt.retry_at.isoformat()
    record_change(
        referral,
        actor=actor,
        to_status=referral.status,
        kind=ReferralEvent.Kind.CONTACT,
        note=attempt.note,
        details=details,
        task=task,
        step=(task.status, task.status),
    )
    # The office hears once that the person cannot be reached, even when the rule alerted
    # it on arrival already.
    tries = referral.contact_attempts.filter(outcome=ContactOutcome.NOT_REACHED).count()
    if tries == settings.NOTICE_CONTACT_ATTEMPTS:
        escalate(referral, actor=None, reason="", code="not_reached")
