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
from referrals.models import Referral, ReferralEvent, Status
from referrals.services import UNIT_ROLES


def referrals_visible_to(user: User) -> QuerySet[Referral]:
    """Drafts: only their author. Otherwise: the referrer, the assigned unit's staff, the
    district officers of the office covering the referral's district, and administrators."""
    if not (user.is_authenticated and user.is_active):
        return Referral.objects.none()
    own = Q(referrer=user)
    if user.is_administrator:
        return Referral.objects.filter(own | ~Q(status=Status.DRAFT))
    memberships = Membership.objects.filter(user=user)
    units = memberships.filter(role__in=UNIT_ROLES).values("service_unit_id")
    offices = memberships.filter(role=Membership.Role.DISTRICT_OFFICER).values("welfare_office_id")
    return Referral.objects.filter(
        own
        | ~Q(status=Status.DRAFT)
        & (Q(assigned_unit__in=units) | Q(district__welfare_office__in=offices))
    )


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


def duplicate_hints(referrals: list[Referral]) -> list[DuplicateHint]:
    return [
        DuplicateHint(
            reference=r.reference,
            status=r.get_status_display(),
            unit=r.assigned_unit.name if r.assigned_unit else "",
        )
        for r in referrals
    ]


def referrer_teams(*, user: User) -> list:
    """The caring teams (or other referring units) the user files referrals for."""
    return [
        m.service_unit
        for m in Membership.objects.filter(user=user, role=Membership.Role.REFERRER)
        .select_related("service_unit__district")
        .order_by("pk")
    ]
