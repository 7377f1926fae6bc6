"""From a visit to a referral: a draft referral pre-filled from the household, linked back.

The member does not type again what the list already holds (the person's names, phone,
address, identity number) or what the visit found (the needs): ``refer_person`` makes a
draft through the referral form's own write (``referrals.submission.referral_save_draft``)
and the member reviews it and submits it on the normal form, where consent is asked. The
draft's form token is derived from the visit and the person (``uuid5``), so asking again
reaches the same draft; the ``VisitReferral`` row is the link both timelines show.
"""

import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from outreach.errors import NotPermitted, OutreachError
from outreach.events import record_event
from outreach.models import (
    AgeBand,
    Household,
    HouseholdEvent,
    ListingReason,
    NextStep,
    Person,
    Visit,
    VisitOutcome,
    VisitReferral,
)
from outreach.selectors import household_visible, team_ids_of
from referrals.identity import ProtectedIdentity
from referrals.models import Household as HouseholdType
from referrals.models import Referral
from referrals.submission import referral_save_draft

# Names the drafts made from visits: uuid5(namespace, "<visit public id>:<person id>").
REFERRAL_TOKEN_NAMESPACE = uuid.UUID("6f1d4c2e-8a53-5b7e-9c0d-0e7a1f3b2d41")
# The referral form's household types, from the reasons the household was listed; the
# first that applies wins (a carer of a person with disability is that, not a carer of an
# elder).
HOUSEHOLD_TYPE_OF = (
    (ListingReason.LIVING_ALONE, HouseholdType.LIVES_ALONE),
    (ListingReason.ELDERLY_COUPLE, HouseholdType.ELDERLY_COUPLE),
    (ListingReason.DISABILITY, HouseholdType.CARER_OF_DISABLED),
    (ListingReason.HIGH_LOAD_CARER, HouseholdType.CARER_OF_ELDER),
    (ListingReason.CARER, HouseholdType.CARER_OF_ELDER),
)


def referral_token(visit: Visit, person: Person) -> uuid.UUID:
    return uuid.uuid5(REFERRAL_TOKEN_NAMESPACE, f"{visit.public_id}:{person.pk}")


def may_come_from_a_visit(referral: Referral) -> bool:
    """Whether the referral's token could be one ``referral_token`` made (a version 5
    UUID): lets the referral page skip the database for every other referral."""
    token = referral.submission_token
    return token is not None and token.version == 5


def household_type_for(reasons) -> str:
    for reason, household_type in HOUSEHOLD_TYPE_OF:
        if reason in reasons:
            return household_type
    return ""


def refer_person(*, actor: User, visit: Visit, person: Person) -> Referral:
    """The draft referral for ``person`` from ``visit``: made the first time, the same one
    after (left as the member last saved it). Refused unless the actor is a member of the
    visit's team, the person lives in the visited household, and the visit found someone
    at home (``NotPermitted`` is answered as "not found")."""
    if visit.team_id not in team_ids_of(actor):
        raise NotPermitted(_("Visit not found."))
    if person.household_id != visit.household_id:
        raise NotPermitted(_("Visit not found."))
    if visit.outcome != VisitOutcome.VISITED and visit.next_step != NextStep.REFER:
        raise OutreachError(_("A referral follows a visit where the household was seen."))
    with transaction.atomic():
        household = (
            Household.objects.select_for_update()
            .select_related("district", "sub_district")
            .get(pk=visit.household_id)
        )
        if household.personal_data_removed_at is not None:
            raise OutreachError(_("This household's personal details were removed."))
        linked = VisitReferral.objects.filter(visit=visit, person=person).select_related("referral")
        existing = linked.first()
        if existing is not None:
            return existing.referral
        referral = referral_save_draft(
            referrer=actor,
            team=visit.team,
            token=referral_token(visit, person),
            values=_draft_values(actor, visit, person, household),
            needs=list(visit.needs.all()),
            identity=_identity_of(person),
        )
        VisitReferral.objects.create(visit=visit, person=person, referral=referral)
        record_event(
            household, HouseholdEvent.Kind.REFERRAL, actor=actor, visit=visit, referral=referral
        )
    return referral


def _identity_of(person: Person) -> ProtectedIdentity | None:
    """The person's identity number as the list keeps it, which is how a referral keeps it
    (the same ciphertext, keyed hash and mask): never decrypted here."""
    if not (person.id_type and person.id_number_encrypted):
        return None
    return ProtectedIdentity(
        id_type=person.id_type,
        ciphertext=person.id_number_encrypted,
        digest=person.id_number_hash,
        masked=person.id_number_masked,
    )


def _draft_values(actor: User, visit: Visit, person: Person, household: Household) -> dict:
    """The referral form's values from the list and the visit. The age is left empty: the
    list holds an age band, which goes into the situation text instead of a made-up age."""
    visited_on = timezone.localtime(visit.visited_at).strftime("%Y-%m-%d")
    lines = [_t("From a caring-team visit on %(date)s.") % {"date": visited_on}]
    if person.age_band:
        band = AgeBand(person.age_band).label
        lines.append(_t("Age band on the visit list: %(band)s.") % {"band": band})
    if visit.emergency_link_application:
        lines.append(_t("Applying for the personal emergency link service (平安鐘)."))
    if visit.note:
        lines.append(visit.note)
    return {
        "district": household.district,
        "sub_district": household.sub_district,
        "subject_name_zh": person.name_zh,
        "subject_name_en": person.name_en,
        "phone": person.phone or "",
        "address": household.address,
        "household": household_type_for(household.reasons or []),
        "situation": "\n".join(lines),
        "referrer_contact": actor.email,
    }


@dataclass(frozen=True)
class ReferralOrigin:
    """What the referral's page says about the visit it came from."""

    visited_at: object
    team_name: str
    household_public_id: uuid.UUID | None  # set only for a reader who may see the household


def referral_origin(user: User, referral: Referral) -> ReferralOrigin | None:
    """The visit ``referral`` came from, if any, in one query (none for a referral whose
    token is not a visit's); the household only for a reader who may see it."""
    if not may_come_from_a_visit(referral):
        return None
    link = (
        VisitReferral.objects.filter(referral_id=referral.pk)
        .select_related("visit__team", "visit__household")
        .first()
    )
    if link is None:
        return None
    household = link.visit.household
    return ReferralOrigin(
        visited_at=link.visit.visited_at,
        team_name=link.visit.team.name,
        household_public_id=household.public_id if household_visible(user, household) else None,
    )
