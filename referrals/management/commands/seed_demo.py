from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import (
    DEMO_CLIENT_SECRET,
    DEMO_PASSWORD,
    DEMO_TOTP_SECRET,
    build_partner_clients,
    build_users,
)
from referrals.demo import build_referrals
from services.demo import build_directory


class Command(BaseCommand):
    help = (
        "Build the demo: a synthetic service directory for all 18 districts and one user "
        "for every role, and optionally N synthetic referrals. Safe to run again: records are "
        "updated in place and referrals topped up to N, never duplicated."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=DEMO_PASSWORD,
            help="Password for every demo user (default: %(default)s).",
        )
        parser.add_argument(
            "--referrals",
            type=int,
            default=0,
            metavar="N",
            help="Make sure N synthetic demo referrals exist (COPY on PostgreSQL).",
        )
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Run even though DEBUG is off (demo users with a known password!).",
        )

    def handle(self, *args, password: str, referrals: int, allow_production: bool, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "DEBUG is off: this looks like production. seed_demo creates users with a "
                "published password; pass --allow-production if that is really what you want."
            )
        if referrals < 0:
            raise CommandError("--referrals must be 0 or more.")
        counts = build_directory()
        self.stdout.write(
            f"Directory: {counts['units']} service units, {counts['organisations']} "
            f"organisations, {counts['sub_districts']} sub-districts."
        )
        users = build_users(password=password)
        self.stdout.write(self.style.SUCCESS(f"Demo users (password for all: {password}):"))
        for demo in users:
            self.stdout.write(f"  {demo.username:<22} {demo.description}")
        self.stdout.write(
            f"Two-factor key of admin, officers and supervisor: {DEMO_TOTP_SECRET} "
            "(current codes: manage.py demo_totp)."
        )
        clients = build_partner_clients()
        self.stdout.write(
            self.style.SUCCESS(f"Demo API clients (client secret for all: {DEMO_CLIENT_SECRET}):")
        )
        for client in clients:
            self.stdout.write(f"  {client.client_id:<22} {client.description}")
        if referrals:
            added = build_referrals(referrals, log=self.stdout.write)
            self.stdout.write(
                f"Referrals: {added:,} synthetic referrals added ({referrals:,} wanted)."
            )
