"""Two-factor authentication (TOTP, django-otp): who needs it, setting it up, checking codes.

District officers, unit supervisors and administrators must verify a time-based code after
their password; everyone else may turn it on. A session is "verified" once django-otp has
recorded the device that accepted a code (``request.user.is_verified()``).

A wrong code counts as a failed login for django-axes (the ``user_login_failed`` signal), so
guessing codes locks the account and the address out like guessing passwords does; on top of
that django-otp throttles each device (1, 2, 4 ... seconds between tries).

Backup codes (django-otp's static plugin): setting up an authenticator gives the person
``BACKUP_CODE_COUNT`` single-use codes, shown once; any of them replaces an authenticator code
at the code step, once. Making a new set removes the old one.

Enrolment: a person who must use a second factor, or whose two-factor authentication an
administrator has ever reset, sets up an authenticator only with a one-time enrolment code
the administrator issued (``issue_enrolment_code``: kept as a hash, single use, valid for
``ENROLMENT_CODE_HOURS``), never with the password alone. Wrong backup or enrolment codes
count as failed logins like wrong authenticator codes.
"""

import base64
import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpRequest
from django.utils import timezone
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership, TwoFactorEnrolmentCode, User

REQUIRED_ROLES = (Membership.Role.DISTRICT_OFFICER, Membership.Role.UNIT_SUPERVISOR)
DEVICE_NAME = "authenticator"
BACKUP_DEVICE_NAME = "backup codes"
BACKUP_CODE_COUNT = 10
ENROLMENT_CODE_HOURS = 72
# The session remembers the enrolment code a person entered until the authenticator it
# allows is confirmed (the code is used up then, not before: a reload keeps the same key).
ENROLMENT_SESSION_KEY = "_two_factor_enrolment_code"


@dataclass(frozen=True)
class TwoFactorState:
    required: bool  # the user's role makes a second factor compulsory
    has_device: bool  # a confirmed authenticator is registered
    was_reset: bool = False  # an administrator has issued an enrolment code to the user

    @property
    def must_verify(self) -> bool:
        """A session of this user is held at the two-factor pages until a code is checked."""
        return self.required or self.has_device

    @property
    def enrolment_needs_code(self) -> bool:
        """Setting up an authenticator needs an administrator's enrolment code."""
        return not self.has_device and (self.required or self.was_reset)


def two_factor_state(*, user: User) -> TwoFactorState:
    """Whether ``user`` must use a second factor and already has one, in one query."""
    row = (
        User.objects.filter(pk=user.pk)
        .annotate(
            required_role=Exists(
                Membership.objects.filter(user=OuterRef("pk"), role__in=REQUIRED_ROLES)
            ),
            has_device=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
            was_reset=Exists(TwoFactorEnrolmentCode.objects.filter(user=OuterRef("pk"))),
        )
        .values_list("is_superuser", "required_role", "has_device", "was_reset")
        .first()
    )
    if row is None:
        return TwoFactorState(required=False, has_device=False)
    is_superuser, required_role, has_device, was_reset = row
    return TwoFactorState(
        required=is_superuser or required_role, has_device=has_device, was_reset=was_reset
    )


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
    device being set up), on failure record a failed login for the lockout.

    A device being set up by someone whose enrolment needs a code is confirmed only if the
    code remembered in the session is still good, and that uses the code up."""
    user = request.user
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
        verified = locked.verify_token(token.strip().replace(" ", ""))
        if verified and not locked.confirmed:
            verified = _confirm(request, locked)
    return _settle(request, locked, verified)


def _confirm(request: HttpRequest, device: TOTPDevice) -> bool:
    user = request.user
    if two_factor_state(user=user).enrolment_needs_code:
        used = TwoFactorEnrolmentCode.objects.filter(
            pk=request.session.get(ENROLMENT_SESSION_KEY),
            user=user,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        ).update(used_at=timezone.now())
        if not used:
            return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    # A second authenticator set up later replaces the first.
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    request.session.pop(ENROLMENT_SESSION_KEY, None)
    return True


def _settle(request: HttpRequest, device, verified: bool) -> bool:
    """After a code was checked: verify the session, or count a failed login."""
    if verified:
        otp_login(request, device)
        request.session.cycle_key()
    else:
        user_login_failed.send(
            sender=__name__,
            credentials={"username": request.user.get_username()},
            request=request,
        )
    return verified


def totp_disable(*, user: User) -> None:
    """Remove the authenticator and the backup codes."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


# --- Backup codes ----------------------------------------------------------------------------


def normalise_backup_code(code: str) -> str:
    """As stored: lower case, without the spaces and hyphens a person may type."""
    return re.sub(r"[\s-]", "", code).lower()


def backup_device(*, user: User) -> StaticDevice | None:
    return StaticDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def backup_codes_left(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@transaction.atomic
def issue_backup_codes(*, user: User) -> list[str]:
    """A new set of single-use backup codes (the old set stops working); shown once."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return [f"{code[:4]}-{code[4:]}" for code in codes]


def backup_code_verify(*, request: HttpRequest, device: StaticDevice, code: str) -> bool:
    """Like ``totp_verify`` for a backup code, which is used up by the sign-in it allows."""
    with transaction.atomic():
        locked = StaticDevice.objects.select_for_update().get(pk=device.pk, user=request.user)
        verified = locked.verify_token(normalise_backup_code(code))
    return _settle(request, locked, verified)


# --- Enrolment codes -------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedEnrolmentCode:
    user: User
    code: str  # shown once, never stored
    expires_at: datetime


def _enrolment_hash(code: str) -> str:
    return hashlib.sha256(re.sub(r"[\s-]", "", code).upper().encode()).hexdigest()


@transaction.atomic
def reset_two_factor(*, user: User, issued_by: User | None) -> IssuedEnrolmentCode:
    """An administrator's reset (lost phone, or a new account): every device of ``user`` is
    removed (their sessions lose the second factor), earlier enrolment codes stop working,
    and a new enrolment code is issued."""
    for device in devices_for_user(user, confirmed=None):
        device.delete()
    now = timezone.now()
    TwoFactorEnrolmentCode.objects.filter(user=user, used_at__isnull=True).update(expires_at=now)
    raw = base64.b32encode(secrets.token_bytes(10)).decode()  # 16 characters, 80 bits
    code = "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))
    expires_at = now + timedelta(hours=ENROLMENT_CODE_HOURS)
    TwoFactorEnrolmentCode.objects.create(
        user=user, code_hash=_enrolment_hash(code), issued_by=issued_by, expires_at=expires_at
    )
    return IssuedEnrolmentCode(user=user, code=code, expires_at=expires_at)


def usable_enrolment_code(*, user: User, code_id) -> bool:
    return TwoFactorEnrolmentCode.objects.filter(
        pk=code_id, user=user, used_at__isnull=True, expires_at__gt=timezone.now()
    ).exists()


def enrolment_code_accept(*, request: HttpRequest, code: str) -> bool:
    """Check an enrolment code the signed-in person typed; if it is theirs and still good,
    remember it in the session (the set-up page then shows a key), else count a failure."""
    found = (
        TwoFactorEnrolmentCode.objects.filter(
            user=request.user,
            code_hash=_enrolment_hash(code),
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .values_list("pk", flat=True)
        .first()
    )
    if found is None:
        user_login_failed.send(
            sender=__name__,
            credentials={"username": request.user.get_username()},
            request=request,
        )
        return False
    request.session[ENROLMENT_SESSION_KEY] = found
    return True


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
