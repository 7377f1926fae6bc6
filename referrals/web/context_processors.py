"""Template context for every page: the unread notification count and which work pages
(queue, inbox, dashboard) the signed-in user has, read together in one query."""

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce

from accounts.models import Membership, User
from accounts.selectors import SCOPE_COLUMNS, scope_from_rows
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
    # The memberships' scope columns come with the count: the links shown are the pages the
    # user has (the queue answers 404 to a scope without districts), decided as they decide.
    rows = list(
        User.objects.filter(pk=user.pk)
        .annotate(unread=Coalesce(Subquery(unread, output_field=IntegerField()), 0))
        .values_list("unread", *(f"memberships__{column}" for column in SCOPE_COLUMNS))
    )
    memberships = [row[1:] for row in rows] if user.is_active else []  # as ``user_scope``
    scope = scope_from_rows(memberships, is_administrator=user.is_administrator)
    return {
        "unread_notifications": rows[0][0] if rows else 0,
        "works_queue": scope.reviews_districts,
        "works_inbox": bool(scope.unit_ids),
        "supervises_units": bool(scope.supervised_unit_ids),
        # Files referrals for a team (a caring team's members also have its visit list).
        "files_referrals": any(row[0] == Membership.Role.REFERRER for row in memberships),
    }
