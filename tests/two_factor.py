"""Test helpers for two-factor authentication: a confirmed authenticator and its codes."""

import time

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.middleware import SESSION_SEEN_KEY, SESSION_STARTED_KEY

TEST_DEVICE_NAME = "test authenticator"


def authenticator(user) -> TOTPDevice:
    """The user's confirmed TOTP device, created the first time it is asked for."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name=TEST_DEVICE_NAME, confirmed=True)


def totp_code(device: TOTPDevice) -> str:
    """A code the device accepts now: the current one, or the next one when the current
    one was already used (django-otp refuses a code twice), waiting for it if need be."""
    device.refresh_from_db()
    step_now = int(time.time() - device.t0) // device.step - device.drift
    step = max(step_now, device.last_t + 1)
    if step > step_now + device.tolerance:
        time.sleep(device.step - (time.time() - device.t0) % device.step + 0.1)
        return totp_code(device)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = device.t0 + (step + device.drift) * device.step + 1
    return f"{totp.token():0{device.digits}d}"


def mark_session_verified(client, user, *, with_device: bool = True) -> None:
    """What a real sign-in leaves in the session: the activity stamps, and (unless
    ``with_device`` is false) the authenticator that verified the second factor."""
    session = client.session
    now = int(time.time())
    session[SESSION_STARTED_KEY] = now
    session[SESSION_SEEN_KEY] = now
    if with_device:
        session[DEVICE_ID_SESSION_KEY] = authenticator(user).persistent_id
    session.save()
