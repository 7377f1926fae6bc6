"""``manage.py seed_outreach_demo``: outreach's part of the demo alone, on a database
``seed_demo`` has seeded (``seed_demo`` runs the same part itself, registered in
``OutreachConfig.ready``: referrals may not import outreach)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from outreach.demo import demo_part


class Command(BaseCommand):
    help = (
        "Build outreach's demo on top of seed_demo's directory and users: one visit list per "
        "demo caring team of the demo offices' districts (Sham Shui Po, Kwun Tong), with "
        "invented households assigned to the team. Safe to run again: what exists is "
        "kept, nothing is duplicated."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Run even though DEBUG is off (as seed_demo --allow-production).",
        )

    def handle(self, *args, allow_production: bool, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "DEBUG is off: this looks like production. seed_outreach_demo creates demo "
                "visit lists of invented households; pass --allow-production if that is "
                "really what you want."
            )
        try:
            demo_part(self.stdout.write)
        except LookupError as error:
            raise CommandError(str(error)) from None
