"""Template context for every page: the unread notification count and which work pages
(queue, inbox, dashboard) the signed-in user has, read together in one query."""

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce

from accounts.models import Membership, User
from referrals.models import Notification


def notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    unread = (
        Notification.objects.filter(recipient=OuterRef("pk"), read_at__isnull=True)
        .values("recipient")
        .annotate(count=Count("pk"))
        .values("count")
    )
    rows = list(
        User.objects.filter(pk=user.pk)
        .annotate(unread=Coalesce(Subquery(unread, output_field=IntegerField()), 0))
        .values_list("unread", "memberships__role")
    )
    roles = {role for _unread, role in rows if role}
    office = user.is_administrator or Membership.Role.DISTRICT_OFFICER in roles
    return {
        "unread_notifications": rows[0][0] if rows else 0,
        "works_queue": office,
        "works_inbox": bool(roles & set(Membership.STAFF_ROLES)),
    }
