import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Membership
from districts.models import District, SubDistrict, WelfareOffice
from referrals.models import (
    OPEN_TASK_STATUSES,
    TASK_STATUSES,
    ConsentBasis,
    ConsentGivenBy,
    ConsentMethod,
    Household,
    Referral,
    ReferralTask,
)
from services.models import Organisation, ServiceUnit, UnitType

TEST_PASSWORD = "correct-horse-battery-staple"
# PBKDF2's deliberate slowness is a production feature; tests only need hashes to match. The
# keyed hasher is the one OAuth2 client secrets are stored with (accounts/hashers.py).
FAST_PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "accounts.hashers.HMACSHA256SecretHasher",
]


def district(code: str) -> District:
    """The 18 districts come from the data migration; tests look them up, never invent them."""
    return District.objects.get(code=code)


def office(code: str) -> WelfareOffice:
    return WelfareOffice.objects.get(code=code)


def unit_type(code: str) -> UnitType:
    return UnitType.objects.get(code=code)


class SubDistrictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SubDistrict
        django_get_or_create = ["code"]

    district = factory.LazyFunction(lambda: district("F"))
    code = factory.Sequence(lambda n: f"T{n:03d}")
    name_en = factory.LazyAttribute(lambda o: f"Test sub-district {o.code}")
    name_zh = factory.LazyAttribute(lambda o: f"測試小區{o.code}")


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"test-ngo-{n}")
    name_en = factory.Sequence(lambda n: f"Test NGO {n}")
    name_zh = factory.Sequence(lambda n: f"測試機構{n}")


class ServiceUnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceUnit
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"test-unit-{n}")
    unit_type = factory.LazyFunction(lambda: unit_type("IFSC"))
    organisation = factory.SubFactory(OrganisationFactory)
    district = factory.LazyFunction(lambda: district("F"))
    name_en = factory.LazyAttributeSequence(lambda o, n: f"{o.unit_type.name_en} test {n}")
    name_zh = factory.LazyAttributeSequence(lambda o, n: f"{o.unit_type.name_zh}測試{n}")
    email = factory.LazyAttribute(lambda o: f"{o.code}@example.org")
    languages = factory.LazyFunction(lambda: ["yue", "eng"])
    capacity = 100
    current_load = 10

    @factory.post_generation
    def catchment_districts(self, create, extracted, **kwargs):
        if create and extracted:
            self.catchment_districts.set(extracted)

    @factory.post_generation
    def catchment_sub_districts(self, create, extracted, **kwargs):
        if create and extracted:
            self.catchment_sub_districts.set(extracted)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Person {n}")

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or TEST_PASSWORD)
        if create:
            self.save(update_fields=["password"])


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Membership.Role.UNIT_STAFF
    service_unit = factory.SubFactory(ServiceUnitFactory)


class ReferralFactory(factory.django.DjangoModelFactory):
    """A referral already past submission (status ``submitted`` unless told), with consent.

    It is written straight to the table to put a referral in any status for a test; the
    lifecycle itself is exercised through ``referrals.services``.
    """

    class Meta:
        model = Referral
        skip_postgeneration_save = True

    referrer = factory.SubFactory(UserFactory)
    referring_team = factory.SubFactory(ServiceUnitFactory)
    district = factory.LazyFunction(lambda: district("F"))
    reference = factory.Sequence(lambda n: f"TEST-2026-{n:06d}")
    status = "submitted"
    submitted_at = factory.LazyFunction(timezone.now)
    subject_name_zh = "陳大文"
    subject_name_en = "Chan Tai Man"
    phone = "+85291234567"
    household = Household.LIVES_ALONE
    consent_basis = ConsentBasis.CONSENT
    consent_given_by = ConsentGivenBy.SUBJECT
    consent_method = ConsentMethod.VERBAL
    consent_given_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def task(obj, create, extracted, **kwargs):
        """A referral held by a unit holds that unit's task, as migration 0016 gives every
        referral from before tasks: the lead, in the referral's status (``task=False``: none,
        for the migration's own test)."""
        if not create or extracted is False:
            return
        if obj.assigned_unit_id is None or obj.status not in TASK_STATUSES:
            return
        ReferralTask.objects.create(
            referral=obj,
            unit_id=obj.assigned_unit_id,
            is_lead=True,
            status=obj.status,
            routing_rule=obj.routing_rule,
            due_at=obj.due_at,
            overdue_at=obj.overdue_at,
            outcome_summary=obj.outcome_summary,
            closed_at=None if obj.status in OPEN_TASK_STATUSES else timezone.now(),
        )
