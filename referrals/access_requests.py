"""Data access requests under the Personal Data (Privacy) Ordinance, s.18: everything held
about one person, found by the keyed hash of their identity number or by name and phone, as
one JSON package; the export is itself logged against each referral. The other duties
(retention, consent withdrawal) are in ``referrals/privacy.py``.
"""

import logging
from collections.abc import Callable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.phonenumber import to_python as to_phone_number

from accounts.models import User
from referrals import identity
from referrals.audit import log_personal_data_access_many
from referrals.errors import (
    NotPermitted,
)
from referrals.models import (
    AccessLog,
    Referral,
    ReferralEvent,
)
from referrals.selectors import person_match

logger = logging.getLogger(__name__)

# --- Sections other apps add ---------------------------------------------------------------
# The apps above referrals (outreach: a person's households and visits) add what they hold
# about the person without referrals importing them: each registers a section from its
# ``AppConfig.ready``. ``section(requester=, id_hash=, name=, phone=, now=)`` returns the
# package's keys it adds (e.g. ``{"outreach": {...}}``), logs its own access, and runs inside
# the export's transaction.
Section = Callable[..., dict]
_sections: list[Section] = []


def register_section(section: Section) -> Section:
    """Add a section to every data access package (once, however often ``ready`` runs)."""
    if section not in _sections:
        _sections.append(section)
    return section


def access_request_referrals(*, id_hash: str = "", name: str = "", phone: str = "") -> QuerySet:
    """Every referral (drafts included) about the person (``selectors.person_match``): the
    identity hash, or the name and phone."""
    match = person_match(id_hash=id_hash, phone=phone, names=(name,))
    if match is None:
        return Referral.objects.none()
    return (
        Referral.objects.filter(match)
        .select_related("district", "sub_district", "referring_team", "assigned_unit", "referrer")
        .prefetch_related(
            "needs",
            Prefetch(
                "events",
                queryset=ReferralEvent.objects.select_related("actor", "unit").order_by("at", "pk"),
            ),
            Prefetch(
                "access_logs",
                queryset=AccessLog.objects.select_related("user").order_by("at", "pk"),
            ),
        )
        .order_by("created_at", "pk")
    )


# long: the package is assembled and logged in one place, section by section.
def access_request_export(
    *,
    requester: User,
    id_type: str = "",
    id_number: str = "",
    name: str = "",
    phone: str = "",
    now: datetime | None = None,
) -> dict:
    """The data access package for one person, as a JSON-ready dict; each referral in it
    gets an ``export`` row in the access log. Administrators only (``NotPermitted``).

    Raises ``ValidationError`` for a malformed identity number or phone number, or when
    neither an identity number nor a name with a phone number is given.
    """
    if not requester.is_administrator:
        raise NotPermitted(_("Only administrators handle data access requests."))
    now = now or timezone.now()
    name = name.strip()
    id_hash = masked = ""
    if id_number.strip():
        number = identity.normalise(id_type, id_number)
        id_hash = identity.keyed_hash(id_type, number)
        masked = identity.mask(id_type, number)
    e164 = ""
    if phone.strip():
        parsed = to_phone_number(phone.strip())
        if parsed is None or not parsed.is_valid():
            raise ValidationError(_("Enter a valid phone number."), code="phone")
        e164 = parsed.as_e164
    if not id_hash and not (name and e164):
        raise ValidationError(
            _("Give an identity number, or a name together with a phone number."),
            code="no_criteria",
        )
    with transaction.atomic():
        referrals = list(access_request_referrals(id_hash=id_hash, name=name, phone=e164))
        package = {
            "request": {
                "legal_basis": "Personal Data (Privacy) Ordinance (Cap. 486), section 18",
                "generated_at": now.isoformat(),
                "requested_by": requester.get_username(),
                "criteria": {
                    "identity_document": id_type if id_hash else "",
                    "identity_number": masked,
                    "name": name if e164 else "",
                    "phone": e164,
                },
                "referral_count": len(referrals),
            },
            "referrals": [_referral_package(referral) for referral in referrals],
        }
        for section in _sections:
            added = section(requester=requester, id_hash=id_hash, name=name, phone=e164, now=now)
            if package.keys() & added.keys():
                raise ValueError(f"A data access section reuses a key: {sorted(added)}")
            package.update(added)
        log_personal_data_access_many(
            user=requester,
            referrals=referrals,
            channel=AccessLog.Channel.EXPORT,
            detail="data access request (PDPO s.18)",
        )
    logger.info(
        "Data access request by %s: %d referral(s) exported.",
        requester.get_username(),
        len(referrals),
    )
    return package


def _when(value) -> str | None:
    return value.isoformat() if value else None


def _person_label(user: User | None) -> str:
    if user is None:
        return "system"
    full_name = user.get_full_name()
    return f"{full_name} ({user.get_username()})" if full_name else user.get_username()


# long: one referral as the data subject receives it, field by field.
def _referral_package(referral: Referral) -> dict:
    return {
        "reference": referral.reference,
        "public_id": str(referral.public_id),
        "status": referral.status,
        "created_at": _when(referral.created_at),
        "submitted_at": _when(referral.submitted_at),
        "closed_at": _when(referral.closed_at),
        "personal_data_removed_at": _when(referral.anonymised_at),
        "district": referral.district.name_en,
        "sub_district": referral.sub_district.name_en if referral.sub_district else None,
        "referring_team": referral.referring_team.name_en,
        "referrer": _person_label(referral.referrer),
        "referrer_contact": referral.referrer_contact,
        "assigned_unit": referral.assigned_unit.name_en if referral.assigned_unit else None,
        "person": {
            "name_zh": referral.subject_name_zh,
            "name_en": referral.subject_name_en,
            "sex": referral.sex,
            "age": referral.age,
            "date_of_birth": _when(referral.date_of_birth),
            "phone": referral.phone.as_e164 if referral.phone else "",
            "address": referral.address,
            "preferred_language": referral.preferred_language,
            # Masked, as everywhere outside the assigned unit's and the office's page.
            "identity_document": referral.id_type,
            "identity_number": referral.id_number_masked,
        },
        "situation": {
            "household": referral.household,
            "needs": [need.code for need in referral.needs.all()],
            "risk_level": referral.risk_level,
            "risk_factors": list(referral.risk_factors),
            "situation": referral.situation,
        },
        "consent": {
            "basis": referral.consent_basis,
            "given_by": referral.consent_given_by,
            "method": referral.consent_method,
            "given_at": _when(referral.consent_given_at),
            "exemption_reason": referral.consent_exemption_reason,
            "withdrawn_at": _when(referral.consent_withdrawn_at),
            "withdrawal_method": referral.consent_withdrawal_method,
        },
        "outcome": {
            "summary": referral.outcome_summary,
            "services_provided": referral.services_provided,
        },
        "timeline": [
            {
                "at": _when(event.at),
                "kind": event.kind,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "by": _person_label(event.actor),
                "unit": event.unit.name_en if event.unit else None,
                "reason": event.reason,
                "note": event.note,
            }
            for event in referral.events.all()
        ],
        "accessed_by": [
            {
                "at": _when(log.at),
                "user": _person_label(log.user),
                "channel": log.channel,
                "detail": log.detail,
            }
            for log in referral.access_logs.all()
        ],
    }
