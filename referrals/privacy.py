"""Duties under Hong Kong's Personal Data (Privacy) Ordinance (Cap. 486).

* **Retention** (DPP2(2), s.26): a referral closed more than ``RETENTION_YEARS`` ago loses
  its personal data; what the statistics count (district, needs, risk, household, sex, age,
  statuses, units, times) stays, so the dashboard's figures do not move.
* **Data access requests** (s.18): everything held about one person, found by the keyed
  hash of their identity number or by name and phone, as one JSON package; the export is
  itself logged against each referral.
* **Withdrawal of consent**: recorded on one referral, it reaches the person's other open
  referrals (same identity number, never the phone; only those the recorder may see, listed
  for confirmation first): those that rest on consent are withdrawn through the lifecycle
  service, those under the urgent-protection exemption stay open, flagged, with their unit
  and office told.

Writes follow ``referrals/services.py``: keyword-only, one transaction, row locks, the
``version`` check, a timeline event, follow-up work queued on commit.
"""

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from referrals import outbox
from referrals.errors import (
    Conflict,
    IllegalTransition,
    NotPermitted,
    ReferralError,
    stale_version,
)
from referrals.lifecycle import Actor, actor_roles
from referrals.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    ConsentBasis,
    ConsentWithdrawalMethod,
    Notification,
    Referral,
    ReferralEvent,
    Status,
    TransferCase,
)
from referrals.notifications import notify, office_officers, unit_staff
from referrals.selectors import referrals_visible_to
from referrals.services import record_change, referral_cancel

logger = logging.getLogger(__name__)

# --- Withdrawal of consent -----------------------------------------------------------------

# Stored as the cancellation's reason on the person's other referrals (kept in English, like
# the codes of the timeline; the page labels the event in the reader's language).
CONSENT_WITHDRAWN_REASON = "consent withdrawn"
# Who may record that the person withdrew consent.
WITHDRAWAL_RECORDERS = frozenset({Actor.REFERRER, Actor.UNIT, Actor.OFFICE, Actor.ADMIN})


class Outcome:
    """What a withdrawal did to one referral (kept in the consent event's details)."""

    RECORDED = "recorded"  # closed already, or the referral it was recorded on stays as is
    CANCELLED = "cancelled"  # rested on consent: withdrawn through the lifecycle
    FLAGGED = "flagged"  # urgent-protection exemption: stays open, unit and office told


@dataclass(frozen=True)
class ConsentWithdrawal:
    referral: Referral
    cancelled: tuple[str, ...]  # references withdrawn
    flagged: tuple[str, ...]  # references left open under the exemption


def _person_match(referral: Referral) -> Q | None:
    """Whom a withdrawal reaches beyond its own referral: the same identity number (keyed
    hash) only. Consent is a person's: a phone line is shared by a household whose other
    members' consent stands, so the phone never counts (issue 14)."""
    if not referral.id_number_hash:
        return None
    return Q(id_number_hash=referral.id_number_hash)


def _reach(referral: Referral, *, actor: User) -> QuerySet[Referral]:
    """The person's other open referrals a withdrawal on ``referral`` acts on: identity
    matches the actor may see (``referrals_visible_to``), never one of another team they
    cannot see (they may neither change it nor learn that it exists)."""
    match = _person_match(referral)
    if match is None:
        return Referral.objects.none()
    return (
        referrals_visible_to(actor)
        .filter(match, status__in=OPEN_STATUSES, anonymised_at__isnull=True)
        .filter(consent_withdrawn_at__isnull=True)
        .exclude(pk=referral.pk)
        .order_by("pk")
    )


def consent_withdrawal_reach(*, referral: Referral, actor: User) -> list[Referral]:
    """What a withdrawal on ``referral`` would also change, to list for confirmation (each
    with its ``version``, passed back as ``confirmed``)."""
    return list(_reach(referral, actor=actor).select_related("assigned_unit"))


# long: one transaction over the person's referrals, each written and told in turn.
def referral_withdraw_consent(
    *,
    referral_id: int,
    actor: User,
    withdrawn_at: datetime,
    method: str,
    note: str = "",
    expected_version: int | None = None,
    confirmed: Mapping[int, int] | None = None,
) -> ConsentWithdrawal:
    """Record on ``referral_id`` that the person withdrew consent (when, how, noted by whom)
    and carry it to the other open referrals of the same person (identity hash) that the
    actor may see, exactly those the actor confirmed: ``confirmed`` maps each one's pk to the
    version listed (``consent_withdrawal_reach``). If what it would reach differs from that,
    nothing changes (``Conflict``): no one cancels a referral they were not shown.

    Open referrals resting on consent, this one included, are withdrawn through
    ``referral_cancel`` by the system with the reason ``CONSENT_WITHDRAWN_REASON`` (so the
    referrer, the unit's webhooks and everyone else are told as for any withdrawal). Those
    under the urgent-protection exemption stay open, flagged, and their unit and district
    office get a notification. Every referral touched gets a ``consent`` timeline event.
    """
    note = note.strip()
    if method not in ConsentWithdrawalMethod.values:
        raise ReferralError(_("Choose how the person withdrew consent."))
    if withdrawn_at > timezone.now() + timedelta(minutes=5):
        raise ReferralError(_("The withdrawal cannot be in the future."))
    with transaction.atomic():
        snapshot = Referral.objects.only("id_number_hash").get(pk=referral_id)
        reach = list(_reach(snapshot, actor=actor).values_list("pk", flat=True))
        # Every row this withdrawal may touch, locked at once in primary-key order, so two
        # withdrawals for the same person wait for each other instead of deadlocking.
        locked = list(
            Referral.objects.select_for_update(of=("self",))
            .select_related("district", "sub_district")
            .filter(pk__in=[referral_id, *reach])
            .order_by("pk")
        )
        referral = next(r for r in locked if r.pk == referral_id)
        _check_withdrawal(referral, actor=actor, expected_version=expected_version)
        others = [r for r in locked if r.pk != referral_id and r.consent_withdrawn_at is None]
        if {r.pk: r.version for r in others} != dict(confirmed or {}):
            raise Conflict(
                _(
                    "The person's other referrals changed while you were confirming. "
                    "Nothing was changed: check the list and try again."
                )
            )
        cancelled, flagged = [], []
        for target in [referral, *others]:
            outcome = Outcome.RECORDED
            if target.is_open and target.consent_basis == ConsentBasis.CONSENT:
                outcome = Outcome.CANCELLED
            elif target.is_open:
                outcome = Outcome.FLAGGED
            event = record_change(
                target,
                actor=actor if target is referral else None,
                to_status=target.status,
                kind=ReferralEvent.Kind.CONSENT,
                note=note if target is referral else "",
                changes={
                    "consent_withdrawn_at": withdrawn_at,
                    "consent_withdrawal_method": method,
                    "consent_withdrawal_recorded_by": actor,
                },
                details={
                    "withdrawn_at": withdrawn_at.isoformat(),
                    "method": method,
                    "recorded_on": referral.reference,
                    "outcome": outcome,
                },
            )
            if outcome == Outcome.CANCELLED:
                referral_cancel(referral_id=target.pk, actor=None, reason=CONSENT_WITHDRAWN_REASON)
                cancelled.append(target.reference)
            elif outcome == Outcome.FLAGGED:
                flagged.append(target.reference)
            if target.is_open or outcome == Outcome.CANCELLED:
                outbox.enqueue(notify_consent_withdrawn, event_id=event.pk)
    referral.refresh_from_db()
    return ConsentWithdrawal(referral=referral, cancelled=tuple(cancelled), flagged=tuple(flagged))


def _check_withdrawal(referral: Referral, *, actor: User, expected_version: int | None) -> None:
    if expected_version is not None and referral.version != expected_version:
        raise stale_version(referral.get_status_display())
    if not actor_roles(user=actor, referral=referral) & WITHDRAWAL_RECORDERS:
        raise NotPermitted(_("You may not do this to this referral."))
    if referral.status == Status.DRAFT or referral.anonymised_at is not None:
        raise IllegalTransition(_("Consent can be withdrawn only from a submitted referral."))
    if referral.consent_withdrawn_at is not None:
        raise IllegalTransition(_("The withdrawal of consent is already recorded."))


@outbox.job()
def notify_consent_withdrawn(*, event_id: int) -> list[Notification]:
    """Tell the referral's unit staff and its district office that the person withdrew
    consent (not the person who recorded it). Safe to repeat."""
    event = ReferralEvent.objects.select_related("referral__district").get(pk=event_id)
    if event.kind != ReferralEvent.Kind.CONSENT:
        return []
    recipients = list(office_officers(event.referral.district.welfare_office_id))
    if event.unit_id:
        recipients += [u for u in unit_staff(event.unit_id) if u not in recipients]
    recorder = event.actor_id or event.referral.consent_withdrawal_recorded_by_id
    recipients = [user for user in recipients if user.pk != recorder]
    return notify(event, recipients, Notification.Kind.CONSENT)


# --- Retention -------------------------------------------------------------------------------

# What anonymising blanks: everything that names, locates or describes the person, and the
# free text written about them. District, needs, risk, household, sex, age, statuses, units
# and times stay: the dashboard counts those.
PERSONAL_FIELDS_CLEARED = {
    "subject_name_zh": "",
    "subject_name_en": "",
    "phone": "",
    "address": "",
    "date_of_birth": None,
    "id_type": "",
    "id_number_encrypted": "",
    "id_number_hash": "",
    "id_number_masked": "",
    "situation": "",
    "consent_given_by": "",
    "consent_exemption_reason": "",
    "referrer_contact": "",
    "outcome_summary": "",
    "services_provided": "",
    "duplicate_note": "",
}
RETENTION_BATCH_SIZE = 1000


@dataclass(frozen=True)
class RetentionResult:
    referrals: int = 0
    events: int = 0
    batches: int = 0

    def as_json(self) -> dict:
        return asdict(self)


def retention_cutoff(*, now: datetime) -> datetime:
    """Referrals closed before this instant are past the retention period."""
    return now - relativedelta(years=settings.RETENTION_YEARS)


def referrals_past_retention(*, now: datetime) -> QuerySet[Referral]:
    """Closed referrals still holding personal data, closed before the cutoff. A row without
    ``closed_at`` (written straight to the table) counts from its last change, which is never
    earlier than its closing, so nothing is removed early."""
    cutoff = retention_cutoff(now=now)
    return Referral.objects.filter(
        Q(closed_at__lt=cutoff) | Q(closed_at__isnull=True, updated_at__lt=cutoff),
        status__in=CLOSED_STATUSES,
        anonymised_at__isnull=True,
    )


def referrals_anonymise_expired(
    *, now: datetime | None = None, batch_size: int = RETENTION_BATCH_SIZE
) -> RetentionResult:
    """Remove the personal data of every referral past the retention period, in batches of
    ``batch_size``, each in its own transaction (a long run never holds a million locks, and
    what is done stays done if it stops). Rows another transaction holds are skipped until
    the next run. Running it again changes nothing."""
    now = now or timezone.now()
    result = RetentionResult()
    while True:
        with transaction.atomic():
            ids = list(
                referrals_past_retention(now=now)
                .select_for_update(skip_locked=True)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                break
            referrals, events = _anonymise(ids, now=now)
        result = RetentionResult(
            referrals=result.referrals + referrals,
            events=result.events + events,
            batches=result.batches + 1,
        )
        if len(ids) < batch_size:
            break
    logger.info(
        "Retention: removed the personal data of %d referral(s) closed over %d years ago "
        "(%d timeline event(s), %d batch(es)).",
        result.referrals,
        settings.RETENTION_YEARS,
        result.events,
        result.batches,
    )
    return result


def _anonymise(ids: list[int], *, now: datetime) -> tuple[int, int]:
    referrals = Referral.objects.filter(pk__in=ids, anonymised_at__isnull=True).update(
        **PERSONAL_FIELDS_CLEARED,
        anonymised_at=now,
        updated_at=now,  # partner systems syncing by update time see the change
        version=F("version") + 1,
    )
    events = (
        ReferralEvent.objects.filter(referral_id__in=ids)
        .exclude(reason="", note="")
        .update(reason="", note="")
    )
    # A transfer's handover note and reasons describe the person (issue 17).
    TransferCase.objects.filter(referral_id__in=ids).update(
        handover_note="", not_informed_reason="", answer_reason=""
    )
    # A duplicate link says two referrals were about the same person.
    Referral.possible_duplicates.through.objects.filter(
        Q(from_referral_id__in=ids) | Q(to_referral_id__in=ids)
    ).delete()
    # Notifications and deliveries hold no personal data (reference, risk level, a link),
    # by design (notifications.render_email, deliveries.webhook_payload): nothing to clear there.
    return referrals, events
