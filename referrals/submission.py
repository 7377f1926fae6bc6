"""Drafts and submission: the referral form's one write, whichever face it comes from.

A form's ``submission_token`` names its referral: saving a draft or submitting twice (a
double click, a resent POST, a retried API call) reaches the same row. Submission checks
the rules in ``submission_errors`` (one home for the page, the API and this service),
stores the referral with its ``submitted`` event and queues its routing in the same
transaction (``referrals/outbox.py``).
"""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from referrals import outbox
from referrals.errors import NotPermitted
from referrals.identity import ProtectedIdentity
from referrals.models import (
    ConsentBasis,
    ReferenceSequence,
    Referral,
    ReferralEvent,
    Status,
    risk_level_of,
)
from referrals.selectors import possible_duplicates_of
from referrals.services import referral_route
from services.models import NeedCategory, ServiceUnit

UNCHANGED = object()


def _draft_for_token(*, referrer: User, team: ServiceUnit, token, district) -> Referral:
    """The referral this form's token names, locked; created as a draft the first time."""
    try:
        return Referral.objects.select_for_update().get(submission_token=token)
    except Referral.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            Referral.objects.create(
                submission_token=token, referrer=referrer, referring_team=team, district=district
            )
    except IntegrityError:
        pass  # the same form posted twice at once: the other request created it
    return Referral.objects.select_for_update().get(submission_token=token)


def _apply(
    referral: Referral,
    *,
    values: dict,
    identity: ProtectedIdentity | None | object,
) -> None:
    for name, value in values.items():
        setattr(referral, name, value)
    if identity is not UNCHANGED:
        referral.id_type = identity.id_type if identity else ""
        referral.id_number_encrypted = identity.ciphertext if identity else ""
        referral.id_number_hash = identity.digest if identity else ""
        referral.id_number_masked = identity.masked if identity else ""
    referral.risk_level = risk_level_of(referral.risk_factors)


def referral_save_draft(
    *,
    referrer: User,
    team: ServiceUnit,
    token,
    values: dict,
    needs: Iterable[NeedCategory],
    identity: ProtectedIdentity | None | object = UNCHANGED,
) -> Referral:
    """Create or update the draft this form's token names. A submitted one is left alone."""
    with transaction.atomic():
        referral = _draft_for_token(
            referrer=referrer, team=team, token=token, district=values["district"]
        )
        _check_owner(referral, referrer)
        if referral.status != Status.DRAFT:
            return referral
        _apply(referral, values=values, identity=identity)
        referral.referring_team = team
        referral.version = F("version") + 1
        referral.save()
        referral.refresh_from_db(fields=["version"])
        referral.needs.set(needs)
    return referral


def referral_submit(
    *,
    referrer: User,
    team: ServiceUnit,
    token,
    values: dict,
    needs: Iterable[NeedCategory],
    identity: ProtectedIdentity | None | object = UNCHANGED,
    duplicate_note: str = "",
) -> tuple[Referral, bool]:
    """Submit the form's referral once. Returns (referral, created_now).

    A second call with the same token (double click, resent POST) returns the referral the
    first call submitted, unchanged, with ``created_now`` False. Open referrals for the same
    person (``possible_duplicates_of``) are linked whichever path submits, so the district
    office always sees them; warning the referrer first is the caller's part.
    """
    with transaction.atomic():
        referral = _draft_for_token(
            referrer=referrer, team=team, token=token, district=values["district"]
        )
        _check_owner(referral, referrer)
        if referral.status != Status.DRAFT:
            return referral, False
        _apply(referral, values=values, identity=identity)
        referral.referring_team = team
        referral.duplicate_note = duplicate_note
        _check_consent(referral)
        now = timezone.now()
        referral.reference = _next_reference(referral.district.welfare_office, now)
        referral.status = Status.SUBMITTED
        referral.submitted_at = now
        referral.version = F("version") + 1
        referral.save()
        referral.refresh_from_db(fields=["version"])
        referral.needs.set(needs)
        referral.possible_duplicates.set(possible_duplicates_of(referral))
        ReferralEvent.objects.create(
            referral=referral,
            actor=referrer,
            from_status=Status.DRAFT,
            to_status=Status.SUBMITTED,
            note=duplicate_note,
        )
        outbox.enqueue(referral_route, referral_id=referral.pk)
    return referral, True


def _check_owner(referral: Referral, referrer: User) -> None:
    if referral.referrer_id != referrer.pk:
        raise NotPermitted(_("This form belongs to another user's referral."))


def _check_consent(referral: Referral) -> None:
    if referral.consent_basis == ConsentBasis.CONSENT:
        missing = not (
            referral.consent_given_by and referral.consent_method and referral.consent_given_at
        )
        if missing:
            raise ValidationError(
                _("Record who gave consent, how and when."), code="consent_incomplete"
            )
    elif referral.consent_basis == ConsentBasis.URGENT_PROTECTION:
        if not referral.consent_exemption_reason.strip():
            raise ValidationError(
                _("Give the reason for acting without consent."), code="exemption_reason"
            )
    else:
        raise ValidationError(
            _("A referral needs the person's consent, or the urgent-protection exemption."),
            code="consent_missing",
        )


def _next_reference(office, now) -> str:
    """``SSP-2026-000123``: office code, Hong Kong year, a per-office-and-year sequence."""
    year = timezone.localtime(now).year
    sequence, _created = ReferenceSequence.objects.select_for_update().get_or_create(
        office=office, year=year
    )
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return f"{office.code.upper()}-{year}-{sequence.last_value:06d}"
