"""Demo users, one for every role, attached to units of the demo directory."""

from dataclasses import dataclass

from django.db import transaction

from accounts.models import Membership, User
from districts.models import WelfareOffice
from services.models import ServiceUnit

DEMO_PASSWORD = "welfare-demo-2026"  # noqa: S105 - printed for the demo on purpose


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
]


@transaction.atomic
def build_users(*, password: str = DEMO_PASSWORD) -> list[DemoUser]:
    """Create or refresh the demo users and their memberships (keyed by username)."""
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
        user.set_password(password)
        user.save(update_fields=["password"])
        if demo.role == "administrator":
            continue
        scope = (
            {"welfare_office": WelfareOffice.objects.get(code=demo.scope)}
            if demo.role == Membership.Role.DISTRICT_OFFICER
            else {"service_unit": ServiceUnit.objects.get(code=demo.scope)}
        )
        Membership.objects.get_or_create(user=user, role=demo.role, **scope)
    return DEMO_USERS
