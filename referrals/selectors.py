"""Reads that encode rules: who sees which referral, possible duplicates, the timeline.

Every list, page, export and API endpoint starts from ``referrals_visible_to``; a referral
outside it is a 404 for that user.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.models import Membership, User
from districts.models import District
from referrals.models import Referral, ReferralEvent, Status
from services.models import ServiceUnit


def referrals_visible_to(user: User) -> QuerySet[Referral]:
    """Drafts: only their author. Otherwise: the referrer, the assigned unit's staff, the
    district officers of the office covering the referral's district, and administrators.

    The user's memberships are read first so that the query holds only the clauses that
    apply: a referrer's list is then a plain index scan on ``referrer``.
    """
    if not (user.is_authenticated and user.is_active):
        return Referral.objects.none()
    own = Q(referrer=user)
    if user.is_administrator:
        return Referral.objects.filter(own | ~Q(status=Status.DRAFT))
    unit_ids, office_ids = [], []
    for role, unit_id, office_id in Membership.objects.filter(user=user).values_list(
        "role", "service_unit_id", "welfare_office_id"
    ):
        if role in Membership.STAFF_ROLES:
            unit_ids.append(unit_id)
        elif role == Membership.Role.DISTRICT_OFFICER:
            office_ids.append(office_id)
    in_scope = Q()
    if unit_ids:
        in_scope |= Q(assigned_unit_id__in=unit_ids)
    if office_ids:
        districts = District.objects.filter(welfare_office_id__in=office_ids).values("pk")
        in_scope |= Q(district_id__in=districts)
    if not in_scope:
        return Referral.objects.filter(own)
    return Referral.objects.filter(own | ~Q(status=Status.DRAFT) & in_scope)


def referral_for_page(*, user: User, public_id) -> Referral:
    """One visible referral with what its page shows, or ``Referral.DoesNotExist``."""
    return (
        referrals_visible_to(user)
        .select_related(
            "district__welfare_office",
            "sub_district",
            "assigned_unit__organisation",
            "referring_team",
            "referrer",
        )
        .prefetch_related(
            "needs",
            Prefetch(
                "events",
                queryset=ReferralEvent.objects.select_related("actor", "unit").order_by("at", "pk"),
            ),
            Prefetch(
                "possible_duplicates",
                queryset=Referral.objects.select_related("assigned_unit"),
            ),
        )
        .get(public_id=public_id)
    )


@dataclass(frozen=True)
class DuplicateHint:
    """What a referrer may learn about another open referral: nothing personal."""

    reference: str
    status: str
    unit: str


def possible_duplicates(
    *,
    id_hash: str = "",
    phone: str = "",
    names: tuple[str, ...] = (),
    exclude_pk: int | None = None,
) -> list[Referral]:
    """Open referrals of the last DUPLICATE_WINDOW_DAYS for the same identity number, or for
    the same phone number and name."""
    match = Q()
    if id_hash:
        match |= Q(id_number_hash=id_hash)
    names = tuple(name.strip() for name in names if name and name.strip())
    if phone and names:
        same_name = Q()
        for name in names:
            same_name |= Q(subject_name_zh=name) | Q(subject_name_en__iexact=name)
        match |= Q(phone=phone) & same_name
    if not match:
        return []
    since = timezone.now() - timedelta(days=settings.DUPLICATE_WINDOW_DAYS)
    candidates = (
        Referral.objects.open()
        .filter(match, submitted_at__gte=since)
        .select_related("assigned_unit")
        .order_by("-submitted_at")
    )
    if exclude_pk:
        candidates = candidates.exclude(pk=exclude_pk)
    return list(candidates[:10])


def possible_duplicates_of(referral: Referral) -> list[Referral]:
    """``possible_duplicates`` for a referral being submitted (itself excluded)."""
    return possible_duplicates(
        id_hash=referral.id_number_hash,
        phone=referral.phone.as_e164 if referral.phone else "",
        names=(referral.subject_name_zh, referral.subject_name_en),
        exclude_pk=referral.pk,
    )


def duplicate_hints(referrals: list[Referral]) -> list[DuplicateHint]:
    return [
        DuplicateHint(
            reference=r.reference,
            status=r.get_status_display(),
            unit=r.assigned_unit.name if r.assigned_unit else "",
        )
        for r in referrals
    ]


def referrer_teams(*, user: User) -> QuerySet[ServiceUnit]:
    """The caring teams (or other referring units) the user files referrals for."""
    return ServiceUnit.objects.filter(
        memberships__user=user, memberships__role=Membership.Role.REFERRER
    ).order_by("code")
