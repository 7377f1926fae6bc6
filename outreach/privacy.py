"""Outreach's duties under the Personal Data (Privacy) Ordinance (Cap. 486). The people on a
visit list asked for nothing, so outreach keeps their details no longer than it must.

* **Retention** (DPP2(2)): a household that refused keeps its people's details for
  ``OUTREACH_REFUSED_RETENTION_DAYS`` after it closed, then is kept only as "refused"; any
  other closed household (and a referred one untouched for as long, its referrals closed)
  loses them after ``RETENTION_YEARS``, as referrals do. Removing deletes the people (names,
  phones, identity numbers), blanks the flat's address (block, floor, flat) and the notes of
  its visits and timeline, and notes the removal in the timeline. What the figures count
  stays: the household row, its estate, district and sub-district, status, reasons, visits'
  outcomes and needs, and the referrals made.
* **Data access requests** (s.18): ``person_outreach`` finds the households and visits of
  one person, as the referrals' export finds their referrals (identity hash, or name and
  phone), for ``referrals.access_requests``' package; each household exported is logged.
"""

import logging
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from outreach.events import log_household_access_many
from outreach.models import (
    CLOSED_HOUSEHOLD_STATUSES,
    Household,
    HouseholdEvent,
    HouseholdStatus,
    OutreachAccessLog,
    Person,
    Visit,
    VisitReferral,
)
from referrals.models import OPEN_STATUSES

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
EXPORT_DETAIL = "data access request (PDPO s.18)"

# --- Retention -------------------------------------------------------------------------------

# What a person kept only because a referral was made for them keeps: the row (the referral
# links to it, and the figures count the referral), nothing that names or reaches them.
PERSON_FIELDS_CLEARED = {
    "name_zh": "",
    "name_en": "",
    "phone": "",
    "age_band": "",
    "id_type": "",
    "id_number_encrypted": "",
    "id_number_hash": "",
    "id_number_masked": "",
}


def _closed_before(cutoff: datetime) -> Q:
    """Closed before ``cutoff``; a row without ``closed_at`` (written straight to the table)
    counts from its last change, never earlier than its closing, so nothing goes early."""
    return Q(closed_at__lt=cutoff) | Q(closed_at__isnull=True, updated_at__lt=cutoff)


def households_past_retention(*, now: datetime) -> QuerySet[Household]:
    """Households still holding personal details that are past their retention period."""
    refused_cutoff = now - timedelta(days=settings.OUTREACH_REFUSED_RETENTION_DAYS)
    closed_cutoff = now - relativedelta(years=settings.RETENTION_YEARS)
    open_referral = VisitReferral.objects.filter(
        visit__household=OuterRef("pk"), referral__status__in=OPEN_STATUSES
    )
    return Household.objects.filter(personal_data_removed_at__isnull=True).filter(
        (Q(status=HouseholdStatus.REFUSED) & _closed_before(refused_cutoff))
        | (Q(status__in=CLOSED_HOUSEHOLD_STATUSES) & _closed_before(closed_cutoff))
        | (
            Q(status=HouseholdStatus.REFERRED, updated_at__lt=closed_cutoff)
            & ~Exists(open_referral)
        )
    )


def remove_refused_details(now: datetime | None = None, *, batch_size: int = BATCH_SIZE) -> int:
    """Remove the people's details of every household past retention (see the module
    docstring), in batches each committed on its own (a long run holds few locks, and what is
    done stays done if it stops); rows another transaction holds wait for the next run.
    Running it again changes nothing. Returns the number of households done."""
    now = now or timezone.now()
    done = 0
    while True:
        with transaction.atomic():
            ids = list(
                households_past_retention(now=now)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                _remove(ids, now=now)
        done += len(ids)
        if len(ids) < batch_size:
            break
    logger.info(
        "Outreach retention: removed the people's details of %d household(s) "
        "(refused over %d days ago, or closed over %d years ago).",
        done,
        settings.OUTREACH_REFUSED_RETENTION_DAYS,
        settings.RETENTION_YEARS,
    )
    return done


def _remove(ids: list[int], *, now: datetime) -> None:
    people = Person.objects.filter(household_id__in=ids)
    referred = Exists(VisitReferral.objects.filter(person=OuterRef("pk")))
    people.exclude(referred).delete()  # with who was seen on each visit
    people.update(**PERSON_FIELDS_CLEARED)  # those a referral links to
    Visit.objects.filter(household_id__in=ids).exclude(note="").update(note="")
    HouseholdEvent.objects.filter(household_id__in=ids).exclude(note="").update(note="")
    Household.objects.filter(pk__in=ids).update(
        block="",
        floor="",
        flat="",
        status_note="",
        personal_data_removed_at=now,
        updated_at=now,
        version=F("version") + 1,
    )
    HouseholdEvent.objects.bulk_create(
        HouseholdEvent(household_id=pk, kind=HouseholdEvent.Kind.REMOVED, at=now) for pk in ids
    )


# --- Data access requests ----------------------------------------------------------------------


def person_match(*, id_hash: str = "", name: str = "", phone: str = "") -> Q | None:
    """The person, as ``referrals.selectors.person_match`` finds them in referrals: the keyed
    hash of the identity number, or the phone (E.164) with the Chinese name exactly or the
    English name in any case. None: the details given can match no one."""
    match = Q()
    if id_hash:
        match |= Q(id_number_hash=id_hash)
    name = name.strip()
    if phone and name:
        match |= Q(phone=phone) & (Q(name_zh=name) | Q(name_en__iexact=name))
    return match or None


def _matched_people(match: Q) -> list[Person]:
    visits = Visit.objects.prefetch_related("needs", "seen").order_by("visited_at", "pk")
    return list(
        Person.objects.filter(match)
        .select_related(
            "household__visit_list",
            "household__district",
            "household__sub_district",
            "household__team",
        )
        .prefetch_related(
            Prefetch("household__visits", queryset=visits),
            Prefetch("household__events", queryset=HouseholdEvent.objects.order_by("at", "pk")),
            Prefetch(
                "household__access_logs",
                queryset=OutreachAccessLog.objects.select_related("user").order_by("at", "pk"),
            ),
            Prefetch("referrals", queryset=VisitReferral.objects.select_related("referral")),
        )
        .order_by("household__created_at", "household_id", "position", "pk")
    )


def person_outreach(
    *, id_hash: str = "", name: str = "", phone: str = "", requester: User | None = None
) -> dict:
    """What outreach holds about one person: each household they are listed in (address,
    the list's purpose, why they were listed, where it stands), their own details in it (not
    the other members'), its visits and timeline. Each household is logged as exported."""
    match = person_match(id_hash=id_hash, name=name, phone=phone)
    people = _matched_people(match) if match is not None else []
    households: dict[int, dict] = {}
    for person in people:
        household = person.household
        if household.pk not in households:
            households[household.pk] = _household_package(household)
        households[household.pk]["people"].append(_person_package(person))
    log_household_access_many(
        user=requester,
        households=_distinct_households(people),
        channel=OutreachAccessLog.Channel.EXPORT,
        detail=EXPORT_DETAIL,
    )
    return {"household_count": len(households), "households": list(households.values())}


def _distinct_households(people: list[Person]) -> list[Household]:
    seen: dict[int, Household] = {}
    for person in people:
        seen.setdefault(person.household_id, person.household)
    return list(seen.values())


def access_request_section(*, requester: User, id_hash: str, name: str, phone: str, now) -> dict:
    """The "outreach" section of the data access package (``referrals.access_requests``),
    registered in ``OutreachConfig.ready``."""
    return {
        "outreach": person_outreach(id_hash=id_hash, name=name, phone=phone, requester=requester)
    }


def _when(value) -> str | None:
    return value.isoformat() if value else None


def _user_label(user: User | None) -> str:
    if user is None:
        return "system"
    full_name = user.get_full_name()
    return f"{full_name} ({user.get_username()})" if full_name else user.get_username()


def _household_package(household: Household) -> dict:
    return {
        "public_id": str(household.public_id),
        "visit_list": household.visit_list.name,
        "list_source": household.visit_list.source,
        "address": household.address,
        "district": household.district.name_en,
        "sub_district": household.sub_district.name_en,
        "caring_team": household.team.name_en if household.team else None,
        "reasons": list(household.reasons),
        "high_load_indicators": household.high_load_indicators,
        "status": household.status,
        "status_note": household.status_note,
        "listed_at": _when(household.created_at),
        "closed_at": _when(household.closed_at),
        "personal_data_removed_at": _when(household.personal_data_removed_at),
        "people": [],
        "visits": [_visit_package(visit) for visit in household.visits.all()],
        "timeline": [
            {"at": _when(event.at), "kind": event.kind, "note": event.note}
            for event in household.events.all()
        ],
        "accessed_by": [
            {
                "at": _when(log.at),
                "user": _user_label(log.user),
                "channel": log.channel,
                "detail": log.detail,
            }
            for log in household.access_logs.all()
        ],
    }


def _visit_package(visit: Visit) -> dict:
    return {
        "visited_at": _when(visit.visited_at),
        "outcome": visit.outcome,
        "seen": [person.pk for person in visit.seen.all()],
        "needs": [need.code for need in visit.needs.all()],
        "emergency_link_application": visit.emergency_link_application,
        "note": visit.note,
        "next_step": visit.next_step,
        "revisit_on": _when(visit.revisit_on),
    }


def _person_package(person: Person) -> dict:
    return {
        "id": person.pk,
        "name_zh": person.name_zh,
        "name_en": person.name_en,
        "age_band": person.age_band,
        "role": person.role,
        "phone": person.phone.as_e164 if person.phone else "",
        # Masked, as on every page.
        "identity_document": person.id_type,
        "identity_number": person.id_number_masked,
        "referrals": [link.referral.reference for link in person.referrals.all()],
    }
