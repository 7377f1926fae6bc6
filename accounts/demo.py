"""Demo users, one for every role, attached to units of the demo directory, and demo OAuth2
clients. In debug mode they get the published demo credentials; anywhere else
(``seed_demo --allow-production``) random ones, which the command prints once."""

import base64
import secrets
from dataclasses import dataclass

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership, User
from districts.models import WelfareOffice
from services.models import ServiceUnit

DEMO_PASSWORD = "welfare-demo-2026"  # noqa: S105 - printed for the demo on purpose
# The authenticator key (base32, as apps take it) of the demo users whose role requires
# two-factor authentication; `manage.py demo_totp USER` prints the current code.
DEMO_TOTP_SECRET = "WELFAREPORTALDEMOSECRETKEY234567"  # noqa: S105 - published for the demo
DEMO_TOTP_DEVICE_NAME = "demo authenticator"


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    role: str  # a Membership.Role, or "administrator"
    scope: str  # service unit code or welfare office code
    description: str


DEMO_USERS = [
    DemoUser("admin", "Headquarters Admin", "administrator", "", "administrator (headquarters)"),
    DemoUser(
        "officer.ssp",
        "Chan Tai Man",
        Membership.Role.DISTRICT_OFFICER,
        "SSP",
        "district officer, Sham Shui Po office",
    ),
    DemoUser(
        "officer.kt",
        "Lee Siu Ming",
        Membership.Role.DISTRICT_OFFICER,
        "KT",
        "district officer, Kwun Tong office (another office)",
    ),
    DemoUser(
        "referrer.ssp",
        "Wong Mei Ling",
        Membership.Role.REFERRER,
        "care-team-f01",
        "caring-team member (referrer), Sham Shui Po sub-district 01",
    ),
    DemoUser(
        "worker.ifsc.ssp",
        "Cheung Ka Yan",
        Membership.Role.UNIT_STAFF,
        "ifsc-f-01",
        "unit staff, Sham Shui Po IFSC 1",
    ),
    DemoUser(
        "supervisor.ifsc.ssp",
        "Ho Wing Sze",
        Membership.Role.UNIT_SUPERVISOR,
        "ifsc-f-01",
        "unit supervisor, Sham Shui Po IFSC 1",
    ),
    DemoUser(
        "worker.iccmw.ssp",
        "Lam Chi Keung",
        Membership.Role.UNIT_STAFF,
        "iccmw-f-01",
        "unit staff, Sham Shui Po ICCMW (another unit)",
    ),
    DemoUser(
        "worker.hotline",
        "Yip Hoi Ting",
        Membership.Role.UNIT_STAFF,
        "carer-hotline-01",
        "unit staff, Carer Support Hotline 182183 (reaches the people urgent notices name)",
    ),
    DemoUser(
        "worker.decc.ssp",
        "Tang Mei Fung",
        Membership.Role.UNIT_STAFF,
        "decc-f-01",
        "unit staff, Sham Shui Po District Elderly Community Centre 1 (an elderly centre)",
    ),
    DemoUser(
        "worker.prc.ssp",
        "Kwok Siu Wah",
        Membership.Role.UNIT_STAFF,
        "prc-ssp",
        "unit staff, Sham Shui Po Parents/Relatives Resource Centre",
    ),
    DemoUser(
        "worker.ifsc.kt",
        "Fung Chi Wai",
        Membership.Role.UNIT_STAFF,
        "ifsc-j-01",
        "unit staff, Kwun Tong IFSC 1 (the second district's unit)",
    ),
]


@dataclass(frozen=True)
class DemoCredentials:
    """Per username its password and (roles that require two-factor) authenticator key in
    base32; per OAuth2 client id its secret."""

    published: bool
    passwords: dict[str, str]
    totp_secrets: dict[str, str]
    client_secrets: dict[str, str]


@transaction.atomic
def build_users(*, credentials: DemoCredentials | None = None) -> list[DemoUser]:
    """Create or refresh the demo users and their memberships (keyed by username), with
    ``credentials`` (by default the published ones)."""
    credentials = credentials or demo_credentials(published=True)
    for demo in DEMO_USERS:
        first_name, _, last_name = demo.full_name.partition(" ")
        user, _ = User.objects.update_or_create(
            username=demo.username,
            defaults={
                "first_name": first_name,
                "last_name": last_name,
                "email": f"{demo.username}@example.org",
                "is_staff": demo.role == "administrator",
                "is_superuser": demo.role == "administrator",
                "is_active": True,
            },
        )
        user.set_password(credentials.passwords[demo.username])
        user.save(update_fields=["password"])
        if demo.role in DEMO_TWO_FACTOR_ROLES:
            _demo_authenticator(user, secret=credentials.totp_secrets[demo.username])
        if demo.role == "administrator":
            continue
        scope = (
            {"welfare_office": WelfareOffice.objects.get(code=demo.scope)}
            if demo.role == Membership.Role.DISTRICT_OFFICER
            else {"service_unit": ServiceUnit.objects.get(code=demo.scope)}
        )
        Membership.objects.get_or_create(user=user, role=demo.role, **scope)
    return DEMO_USERS


DEMO_TWO_FACTOR_ROLES = (
    "administrator",
    Membership.Role.DISTRICT_OFFICER,
    Membership.Role.UNIT_SUPERVISOR,
)


def _demo_authenticator(user: User, *, secret: str = DEMO_TOTP_SECRET) -> TOTPDevice:
    """A confirmed TOTP device with the key ``secret`` (base32; by default the published demo
    key); any other device of the user is removed."""
    key = base64.b32decode(secret).hex()
    TOTPDevice.objects.filter(user=user).exclude(name=DEMO_TOTP_DEVICE_NAME).delete()
    device, _ = TOTPDevice.objects.update_or_create(
        user=user, name=DEMO_TOTP_DEVICE_NAME, defaults={"key": key, "confirmed": True}
    )
    return device


DEMO_CLIENT_SECRET = "welfare-demo-client-2026"  # noqa: S105 - printed for the demo on purpose


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    unit: str  # the client's organisation is this unit's
    scopes: tuple[str, ...]
    intake_team: str  # unit code, or "" if the client files no referrals
    description: str


DEMO_CLIENTS = [
    DemoClient(
        "demo-ifsc-ssp",
        "ifsc-f-01",
        ("referrals:read", "referrals:write", "directory:read"),
        "",
        "case system of the NGO running Sham Shui Po IFSC 1: reads and updates its referrals",
    ),
    DemoClient(
        "demo-care-team-app",
        "care-team-f01",
        ("referrals:read", "referrals:write", "directory:read"),
        "care-team-f01",
        "app of the Sham Shui Po 01 caring team's NGO: files referrals through the API",
    ),
    DemoClient(
        "demo-swd-notices",
        "dswo-ssp",
        ("notices:write",),
        "dswo-ssp",
        "SWD's relay of hospital notices (a carer admitted): sends urgent notices",
    ),
]


@transaction.atomic
def build_partner_clients(*, credentials: DemoCredentials | None = None) -> list[DemoClient]:
    """Create or refresh the demo OAuth2 clients (client credentials), keyed by client id,
    with the secrets of ``credentials`` (by default the published one)."""
    from oauth2_provider.models import Application

    from accounts.models import PartnerClient

    credentials = credentials or demo_credentials(published=True)
    for demo in DEMO_CLIENTS:
        unit = ServiceUnit.objects.select_related("organisation").get(code=demo.unit)
        application, _ = Application.objects.update_or_create(
            client_id=demo.client_id,
            defaults={
                "name": demo.description[:255],
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_CLIENT_CREDENTIALS,
                "client_secret": credentials.client_secrets[demo.client_id],  # hashed on save
            },
        )
        PartnerClient.objects.update_or_create(
            application=application,
            defaults={
                "organisation": unit.organisation,
                "scopes": list(demo.scopes),
                "intake_team": (
                    ServiceUnit.objects.get(code=demo.intake_team) if demo.intake_team else None
                ),
            },
        )
    return DEMO_CLIENTS


def demo_credentials(*, published: bool, password: str | None = None) -> DemoCredentials:
    """The published demo credentials (debug mode only), or fresh random ones for each user
    and client, which exist nowhere else once the command that prints them has ended."""
    two_factor = [d.username for d in DEMO_USERS if d.role in DEMO_TWO_FACTOR_ROLES]
    if published:
        return DemoCredentials(
            published=True,
            passwords=dict.fromkeys((d.username for d in DEMO_USERS), password or DEMO_PASSWORD),
            totp_secrets=dict.fromkeys(two_factor, DEMO_TOTP_SECRET),
            client_secrets=dict.fromkeys((c.client_id for c in DEMO_CLIENTS), DEMO_CLIENT_SECRET),
        )
    return DemoCredentials(
        published=False,
        passwords={d.username: secrets.token_urlsafe(15) for d in DEMO_USERS},
        totp_secrets={
            name: base64.b32encode(secrets.token_bytes(20)).decode() for name in two_factor
        },
        client_secrets={c.client_id: secrets.token_urlsafe(32) for c in DEMO_CLIENTS},
    )
