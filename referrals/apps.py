from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = _("Referrals")

    def ready(self) -> None:
        # Register the Celery tasks in every process, not only in workers (Celery imports
        # task modules lazily there): the web process publishes outbox messages to
        # ``referrals.tasks.run_outbox_message`` by name (referrals/outbox.py).
        from referrals import tasks  # noqa: F401
        from referrals.health import CHECKS
        from welfare_portal import health

        for name, check in CHECKS.items():
            health.register(name, check)
