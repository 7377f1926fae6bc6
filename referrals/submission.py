"""Drafts and submission: the referral form's one write, whichever face it comes from.

A form's ``submission_token`` names its referral: saving a draft or submitting twice (a
double click, a resent POST, a retried API call) reaches the same row. Submission checks
the rules in ``submission_errors`` (one home for the page, the API and this service),
stores the referral with its ``submitted`` event and queues its routing in the same
transaction (``referrals/outbox.py``).

The rules come in two kinds. Reading a field (a phone number, an identity number, a time
the database can hold) is shared here too, as ``phone_field``, ``protected_identity`` and
``in_range``, so the page's form fields and the API's serializer fields read alike. What a
referral must meet beyond its fields' types is ``draft_errors`` (a draft too) and
``submission_errors`` (to submit): the page adds their messages beside its fields, the API
answers them per field, and the services refuse a call that breaks them.
"""

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from referrals import outbox
from referrals.identity import ProtectedIdentity, protect
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
from welfare_portal.phone import phone_field as _phone_field

UNCHANGED = object()
# A device clock a little ahead of the server's is not a consent given in the future.
CLOCK_SKEW = timedelta(minutes=5)
OUT_OF_RANGE = _("This date and time is out of range.")
REQUIRED = _("This field is required to submit.")
CONSENT_INCOMPLETE = _("Record who gave consent, how and when.")
CONSENT_DETAILS = ("consent_given_by", "consent_method", "consent_given_at")


# --- Reading fields: one way for the page's form and the API's serializer -----------------


def phone_field(**kwargs):
    """How a phone number is read, on the page and in the API: ``welfare_portal.phone``'s
    field (Hong Kong's when no country code is given, our own translated message)."""
    return _phone_field(**kwargs)


def in_range(value: datetime) -> datetime:
    """An aware time in UTC, or a ``ValidationError`` (code ``overflow``). A year-1 time east
    of UTC (ISO 8601 offsets reach ±23:59, Hong Kong's own was +7:37 then) falls before the
    first UTC year, which Python and SQLite cannot hold and PostgreSQL stores but cannot give
    back; a year-9999 one west of UTC falls after the last."""
    try:
        return value.astimezone(UTC)
    except OverflowError as error:
        raise ValidationError(OUT_OF_RANGE, code="overflow") from error


def protected_identity(id_type: str, number: str) -> ProtectedIdentity | None:
    """The identity number checked and protected (``identity.protect``), or None if none
    was given. A ``ValidationError`` names its field: ``id_type`` when the kind of document
    is missing, ``id_number`` when the number is wrong."""
    if not number:
        return None
    try:
        return protect(id_type, number)
    except ValidationError as error:
        field = "id_type" if error.code == "type" else "id_number"
        raise ValidationError({field: error.messages}) from error


# --- The rules: a draft's and a submission's ---------------------------------------------


def draft_errors(values: Mapping) -> dict[str, list[str]]:
    """What every referral must meet, a draft too: an age, a birth date and a consent time
    that can be true, and a sub-district inside the district. ``values`` are the referral's
    (model objects, parsed values); a field that is absent is not checked. Returns field name
    to translated messages, empty if all is well."""
    errors: dict[str, list[str]] = {}
    age = values.get("age")
    if age is not None and not 0 <= age <= 130:
        _add(errors, "age", _("Enter an age between 0 and 130."))
    born = values.get("date_of_birth")
    if born and born > timezone.localdate():
        _add(errors, "date_of_birth", _("The date of birth cannot be in the future."))
    given_at = values.get("consent_given_at")
    if given_at:
        try:
            if in_range(given_at) > timezone.now() + CLOCK_SKEW:
                _add(errors, "consent_given_at", _("Consent cannot be given in the future."))
        except ValidationError as error:
            _add(errors, "consent_given_at", *error.messages)
    district, sub_district = values.get("district"), values.get("sub_district")
    if district and sub_district and sub_district.district_id != district.pk:
        _add(errors, "sub_district", _("This sub-district is not in the chosen district."))
    return errors


def submission_errors(values: Mapping, *, needs: Collection) -> dict[str, list[str]]:
    """What a referral must meet to be submitted: the draft's rules, and a name, a district,
    the household, at least one need, a way to reach the person, and consent (who gave it,
    how and when) or the urgent-protection exemption with its reason. The database's
    ``referral_consent_or_exemption`` constraint is the last guard of the same consent rule.
    ``"__all__"`` would carry a message that belongs to no one field."""
    errors = draft_errors(values)
    if not (values.get("subject_name_zh") or values.get("subject_name_en")):
        _add(errors, "subject_name_zh", _("Enter the person's name in Chinese or English."))
    for name in ("district", "household"):
        if not values.get(name):
            _add(errors, name, REQUIRED)
    if not needs:
        _add(errors, "needs", _("Tick at least one need."))
    if not (values.get("phone") or values.get("address")):
        _add(errors, "phone", _("Give a phone number or an address to reach the person."))
    basis = values.get("consent_basis")
    if basis == ConsentBasis.CONSENT:
        for name in CONSENT_DETAILS:
            if not values.get(name):
                _add(errors, name, CONSENT_INCOMPLETE)
    elif basis == ConsentBasis.URGENT_PROTECTION:
        if not (values.get("consent_exemption_reason") or "").strip():
            _add(
                errors,
                "consent_exemption_reason",
                _("Give the reason for acting without consent."),
            )
    else:
        _add(
            errors,
            "consent_basis",
            _("A referral needs the person's consent, or the urgent-protection exemption."),
        )
    return errors


def _add(errors: dict[str, list[str]], name: str, *messages) -> None:
    errors.setdefault(name, []).extend(str(message) for message in messages)


# Every field the rules read, as the referral holds it after ``_apply``.
RULE_FIELDS = (
    "district",
    "sub_district",
    "subject_name_zh",
    "subject_name_en",
    "age",
    "date_of_birth",
    "phone",
    "address",
    "household",
    "consent_basis",
    *CONSENT_DETAILS,
    "consent_exemption_reason",
)


def _refuse_if(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _values_of(referral: Referral) -> dict:
    return {name: getattr(referral, name) for name in RULE_FIELDS}


# --- The writes -------------------------------------------------------------------------


def _draft_for_token(*, referrer: User, team: ServiceUnit, token, district) -> Referral:
    """The referral this form's token names among ``referrer``'s own, locked; created as a
    draft the first time. A token is the referrer's alone (a constraint says so): the same
    value sent by anyone else names their own form, never this one (issue 14 item 5)."""
    mine = Referral.objects.select_for_update().filter(referrer=referrer)
    try:
        return mine.get(submission_token=token)
    except Referral.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            Referral.objects.create(
                submission_token=token, referrer=referrer, referring_team=team, district=district
            )
    except IntegrityError:
        pass  # the same form posted twice at once: the other request created it
    return mine.get(submission_token=token)


def _apply(
    referral: Referral,
    *,
    values: dict,
    identity: ProtectedIdentity | None | object,
) -> None:
    """Copy ``values`` onto the referral as it will be stored: the consent details of the
    other basis are dropped once a basis is chosen (a draft without one yet keeps what was
    typed: who gave consent, how and when survive its resumption), a missing phone is
    blank, risk factors are in order."""
    for name, value in values.items():
        setattr(referral, name, value)
    if referral.consent_basis == ConsentBasis.CONSENT:
        referral.consent_exemption_reason = ""
    elif referral.consent_basis == ConsentBasis.URGENT_PROTECTION:
        referral.consent_given_by = referral.consent_method = ""
        referral.consent_given_at = None
    referral.phone = referral.phone or ""
    referral.risk_factors = sorted(referral.risk_factors or [])
    if identity is not UNCHANGED:
        referral.id_type = identity.id_type if identity else ""
        referral.id_number_encrypted = identity.ciphertext if identity else ""
        referral.id_number_hash = identity.digest if identity else ""
        referral.id_number_masked = identity.masked if identity else ""
    referral.risk_level = risk_level_of(referral.risk_factors, referral.consent_basis)


def referral_save_draft(
    *,
    referrer: User,
    team: ServiceUnit,
    token,
    values: dict,
    needs: Iterable[NeedCategory],
    identity: ProtectedIdentity | None | object = UNCHANGED,
) -> Referral:
    """Create or update the draft this form's token names. A submitted one is left alone.
    Values a draft may not hold (``draft_errors``) raise ``ValidationError``; nothing is
    stored then."""
    with transaction.atomic():
        referral = _draft_for_token(
            referrer=referrer, team=team, token=token, district=values["district"]
        )
        if referral.status != Status.DRAFT:
            return referral
        _apply(referral, values=values, identity=identity)
        _refuse_if(draft_errors(_values_of(referral)))
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
    office always sees them; warning the referrer first is the caller's part. A referral
    that breaks ``submission_errors`` raises ``ValidationError`` with those messages per
    field, and nothing is stored: the page and the API check first, this is for any caller.
    """
    with transaction.atomic():
        referral = _draft_for_token(
            referrer=referrer, team=team, token=token, district=values["district"]
        )
        if referral.status != Status.DRAFT:
            return referral, False
        _apply(referral, values=values, identity=identity)
        referral.referring_team = team
        referral.duplicate_note = duplicate_note
        needs = list(needs)  # read once: checked here, stored below
        _refuse_if(submission_errors(_values_of(referral), needs=needs))
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


def _next_reference(office, now) -> str:
    """``SSP-2026-000123``: office code, Hong Kong year, a per-office-and-year sequence."""
    year = timezone.localtime(now).year
    sequence, _created = ReferenceSequence.objects.select_for_update().get_or_create(
        office=office, year=year
    )
    sequence.last_value += 1
    sequence.save(update_fields=["last_value"])
    return f"{office.code.upper()}-{year}-{sequence.last_value:06d}"
