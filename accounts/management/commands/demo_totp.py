import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.demo import DEMO_TOTP_DEVICE_NAME


class Command(BaseCommand):
    help = (
        "Print the current two-factor code of demo users (the authenticator seed_demo gives "
        "the administrator, district officers and unit supervisor), instead of a phone app."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "usernames", nargs="*", metavar="USERNAME", help="Demo users (default: all)."
        )
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Run even though DEBUG is off (prints current codes for the demo accounts).",
        )

    def handle(self, *args, usernames: list[str], allow_production: bool, **options):
        if not settings.DEBUG and not allow_production:
            raise CommandError(
                "DEBUG is off: this looks like production. demo_totp prints sign-in codes; "
                "pass --allow-production if that is really what you want."
            )
        devices = TOTPDevice.objects.filter(
            name=DEMO_TOTP_DEVICE_NAME, confirmed=True
        ).select_related("user")
        if usernames:
            devices = devices.filter(user__username__in=usernames)
        devices = sorted(devices, key=lambda device: device.user.username)
        missing = set(usernames) - {device.user.username for device in devices}
        if missing:
            raise CommandError(
                f"No demo authenticator for: {', '.join(sorted(missing))} "
                "(run seed_demo first; only roles that require two-factor have one)."
            )
        now = time.time()
        for device in devices:
            totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
            totp.time = now
            code = f"{totp.token():0{device.digits}d}"
            left = device.step - int(now - device.t0) % device.step
            self.stdout.write(f"{device.user.username:<22} {code}  (valid for {left}s more)")
