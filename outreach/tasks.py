"""Outreach's Celery tasks: thin, like ``referrals/tasks.py``; each calls an idempotent
service, so a task run twice (``acks_late``) does no harm."""

from celery import shared_task

from outreach import privacy


@shared_task(name="outreach.tasks.remove_refused_details", acks_late=True)
def remove_refused_details() -> int:
    """Daily (beat "outreach-retention"): households past retention lose their people's
    details (``outreach/privacy.py``; batched, a run cut short is continued by the next)."""
    return privacy.remove_refused_details()
