from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.demo import DemoCredentials, build_partner_clients, build_users, demo_credentials
from referrals.demo import build_referrals
from referrals.demo_cases import build_caseload
from referrals.demo_parts import other_parts
from referrals.demo_workspaces import build_notice, build_workspaces, true_loads
from services.demo import build_directory


class Command(BaseCommand):
    help = (
        "Build the demo: a synthetic service directory for all 18 districts and one user "
        "for every role, and optionally N synthetic referrals. Safe to run again: records are "
        "updated in place and referrals topped up to N, never duplicated. With DEBUG on the "
        "users and API clients get the published demo credentials; with DEBUG off "
        "(--allow-production) random ones, printed once (each run makes new ones)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=None,
            help="Password for every demo user, DEBUG on only (default: the published one).",
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
            help="Run even though DEBUG is off (demo users and API clients with random "
            "credentials, printed once).",
        )

    def handle(self, *args, password, referrals: int, allow_production: bool, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "DEBUG is off: this looks like production. seed_demo creates demo users and "
                "API clients; pass --allow-production if that is really what you want (they "
                "get random credentials, printed once)."
            )
        if not settings.DEBUG and password is not None:
            raise CommandError(
                "--password works only with DEBUG on: with DEBUG off every demo user gets a "
                "random password, printed once."
            )
        if referrals < 0:
            raise CommandError("--referrals must be 0 or more.")
        credentials = demo_credentials(published=settings.DEBUG, password=password)
        counts = build_directory()
        self.stdout.write(
            f"Directory: {counts['units']} service units, {counts['organisations']} "
            f"organisations, {counts['sub_districts']} sub-districts."
        )
        users = build_users(credentials=credentials)
        clients = build_partner_clients(credentials=credentials)
        if credentials.published:
            self._print_published(credentials, users, clients)
        else:
            self._print_random(credentials, users, clients)
        if referrals:
            self._build_cases(referrals)
        for part in other_parts():  # the other apps' parts (outreach's visit lists)
            part(self.stdout.write)
        # The directory gives every unit an invented load; the home page and routing read
        # the counter, so it is set to the unit's true load (its open cases) once more.
        true_loads()

    def _build_cases(self, referrals: int) -> None:
        # The stories first: the overdue sweep that ends them then marks theirs, and leaves
        # the bulk rows (the benchmarks' million) as the generator makes them.
        told, marked = build_workspaces(log=self.stdout.write)
        if told:
            self.stdout.write(
                f"Workspaces: {told} demo cases filed and worked through the services over "
                "13 weeks, for the units and offices of the demo logins (Sham Shui Po, Kwun "
                f"Tong); the overdue sweep marked {marked}."
            )
        added = build_referrals(referrals, log=self.stdout.write)
        self.stdout.write(f"Referrals: {added:,} synthetic referrals added ({referrals:,} wanted).")
        owned = build_caseload()
        if owned:
            self.stdout.write(
                f"Caseloads: {owned} open cases of Sham Shui Po IFSC 1 have a case worker "
                "(sign in as supervisor.ifsc.ssp); a transfer to IFSC 2 is planned."
            )
        opened = build_notice()
        if opened:
            self.stdout.write(
                f"Urgent notice: a carer admitted to hospital, {opened} people to reach "
                "(sign in as worker.hotline)."
            )

    def _print_published(self, credentials: DemoCredentials, users, clients) -> None:
        password = credentials.passwords[users[0].username]
        self.stdout.write(self.style.SUCCESS(f"Demo users (password for all: {password}):"))
        for demo in users:
            self.stdout.write(f"  {demo.username:<22} {demo.description}")
        key = next(iter(credentials.totp_secrets.values()))
        self.stdout.write(
            f"Two-factor key of admin, officers and supervisor: {key} "
            "(current codes: manage.py demo_totp)."
        )
        secret = next(iter(credentials.client_secrets.values()))
        self.stdout.write(
            self.style.SUCCESS(f"Demo API clients (client secret for all: {secret}):")
        )
        for client in clients:
            self.stdout.write(f"  {client.client_id:<22} {client.description}")

    def _print_random(self, credentials: DemoCredentials, users, clients) -> None:
        self.stdout.write(
            self.style.WARNING(
                "DEBUG is off: the demo users and API clients have new random credentials. "
                "They are shown only now: keep them, or run seed_demo again for new ones."
            )
        )
        self.stdout.write(self.style.SUCCESS("Demo users (username, password, two-factor key):"))
        for demo in users:
            key = credentials.totp_secrets.get(demo.username, "-")
            self.stdout.write(
                f"  {demo.username:<22} {credentials.passwords[demo.username]:<22} {key}"
                f"  ({demo.description})"
            )
        self.stdout.write(self.style.SUCCESS("Demo API clients (client id, client secret):"))
        for client in clients:
            secret = credentials.client_secrets[client.client_id]
            self.stdout.write(f"  {client.client_id:<22} {secret}  ({client.description})")
