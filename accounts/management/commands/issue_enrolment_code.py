from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.two_factor import reset_two_factor


class Command(BaseCommand):
    help = (
        "Reset a person's two-factor authentication and print a one-time enrolment code, as "
        "the admin action does: for the first administrator (made with createsuperuser), "
        "who has nobody to ask. Their authenticator and backup codes are removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", metavar="USERNAME")

    def handle(self, *args, username: str, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        issued = reset_two_factor(user=user, issued_by=None)
        self.stdout.write(
            f"Enrolment code for {username}: {issued.code} (single use, expires "
            f"{issued.expires_at:%Y-%m-%d %H:%M} UTC). Sign in with the password, then enter it."
        )
