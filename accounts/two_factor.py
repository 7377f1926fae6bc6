"""Two-factor authentication (TOTP, django-otp): who needs it, setting it up, checking codes.

District officers, unit supervisors and administrators must verify a time-based code after
their password; everyone else may turn it on. A session is "verified" once django-otp has
recorded the device that accepted a code (``request.user.is_verified()``).

A wrong code counts as a failed login for django-axes (the ``user_login_failed`` signal), so
guessing codes locks the account and the address out like guessing passwords does; on top of
that django-otp throttles each device (1, 2, 4 ... seconds between tries).
"""

import base64
import io
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership, User

REQUIRED_ROLES = (Membership.Role.DISTRICT_OFFICER, Membership.Role.UNIT_SUPERVISOR)
DEVICE_NAME = "authenticator"


@dataclass(frozen=True)
class TwoFactorState:
    required: bool  # the user's role makes a second factor compulsory
    has_device: bool  # a confirmed authenticator is registered

    @property
    def must_verify(self) -> bool:
        """A session of this user is held at the two-factor pages until a code is checked."""
        return self.required or self.has_device


def two_factor_state(*, user: User) -> TwoFactorState:
    """Whether ``user`` must use a second factor and already has one, in one query."""
    row = (
        User.objects.filter(pk=user.pk)
        .annotate(
            required_role=Exists(
                Membership.objects.filter(user=OuterRef("pk"), role__in=REQUIRED_ROLES)
            ),
            has_device=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        )
        .values_list("is_superuser", "required_role", "has_device")
        .first()
    )
    if row is None:
        return TwoFactorState(required=False, has_device=False)
    is_superuser, required_role, has_device = row
    return TwoFactorState(required=is_superuser or required_role, has_device=has_device)


def confirmed_device(*, user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def pending_device(*, user: User) -> TOTPDevice:
    """The authenticator being set up: one unconfirmed device per user, kept until confirmed
    so that reloading the set-up page shows the same secret."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def is_locked_out(*, request: HttpRequest, user: User) -> bool:
    return AxesProxyHandler.is_locked(request, credentials={"username": user.get_username()})


def totp_verify(*, request: HttpRequest, device: TOTPDevice, token: str) -> bool:
    """Check ``token`` against ``device``; on success mark the session verified (and confirm a
    device being set up), on failure record a failed login for the lockout."""
    user = request.user
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
        verified = locked.verify_token(token.strip().replace(" ", ""))
        if verified and not locked.confirmed:
            locked.confirmed = True
            locked.save(update_fields=["confirmed"])
            # A second authenticator set up later replaces the first.
            TOTPDevice.objects.filter(user=user).exclude(pk=locked.pk).delete()
    if verified:
        otp_login(request, locked)
        request.session.cycle_key()
    else:
        user_login_failed.send(
            sender=__name__, credentials={"username": user.get_username()}, request=request
        )
    return verified


def totp_disable(*, user: User) -> None:
    TOTPDevice.objects.filter(user=user).delete()


def secret_for_display(device: TOTPDevice) -> str:
    """The key as authenticator apps want it typed: base32, in groups of four."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code_svg(device: TOTPDevice) -> str:
    """The ``otpauth://`` URL of ``device`` as an inline SVG (drawn on the server, no script).

    Path-based SVG with presentation attributes only, so it needs no ``style`` and passes a
    strict Content-Security-Policy."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    # Drop the XML declaration: the SVG goes inside the HTML page.
    return svg[svg.index("<svg") :]
