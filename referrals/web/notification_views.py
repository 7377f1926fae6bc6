"""The signed-in person's notifications: the list, opening one, marking all read."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from referrals.models import Notification
from referrals.notifications import notification_mark_read, what_changed

NOTIFICATIONS_PER_PAGE = 25


@login_required
@require_GET
def notification_list(request):
    notifications = (
        Notification.objects.filter(recipient=request.user)
        .select_related("referral", "event__unit")
        .order_by("-created_at", "-pk")
    )
    page = Paginator(notifications, NOTIFICATIONS_PER_PAGE).get_page(request.GET.get("page"))
    for notification in page:  # what changed, in words (issue 19); reads what is selected
        notification.what_changed = what_changed(notification)
    return render(request, "referrals/notifications.html", {"page": page, "query": ""})


@login_required
@require_POST
def notification_open(request, pk):
    """Mark one notification read and go to its referral (which applies its own visibility)."""
    notification = Notification.objects.filter(recipient=request.user, pk=pk).first()
    if notification is None:
        raise Http404
    notification_mark_read(user=request.user, notification_id=notification.pk)
    return redirect("referrals:detail", public_id=notification.referral.public_id)


@login_required
@require_POST
def notification_read_all(request):
    count = notification_mark_read(user=request.user)
    messages.success(request, _("%(count)s notification(s) marked as read.") % {"count": count})
    return redirect("notifications:list")
