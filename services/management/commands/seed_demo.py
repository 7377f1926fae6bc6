from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import DEMO_PASSWORD, build_users
from services.demo import build_directory


class Command(BaseCommand):
    help = (
        "Build the demo: a synthetic service directory for all 18 districts and one user "
        "for every role. Safe to run again: records are updated in place."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=DEMO_PASSWORD,
            help="Password for every demo user (default: %(default)s).",
        )
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Run even though DEBUG is off (demo users with a known password!).",
        )

    def handle(self, *args, password: str, allow_production: bool, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "DEBUG is off: this looks like production. seed_demo creates users with a "
                "published password; pass --allow-production if that is really what you want."
            )
        counts = build_directory()
        self.stdout.write(
            f"Directory: {counts['units']} service units, {counts['organisations']} "
            f"organisations, {counts['sub_districts']} sub-districts."
        )
        users = build_users(password=password)
        self.stdout.write(self.style.SUCCESS(f"Demo users (password for all: {password}):"))
        for demo in users:
            self.stdout.write(f"  {demo.username:<22} {demo.description}")
