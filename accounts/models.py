from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person who signs in. What they may see and do comes from their memberships.

    The administrator role (headquarters) is ``is_superuser``: full access to the
    Django admin and every district.
    """

    preferred_language = models.CharField(
        _("preferred language"), max_length=10, choices=settings.LANGUAGES, blank=True
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    @property
    def is_administrator(self) -> bool:
        return self.is_active and self.is_superuser


class Membership(models.Model):
    """Ties a user to the service unit, welfare office or caring team they work for."""

    class Role(models.TextChoices):
        REFERRER = "referrer", _("Referrer")
        UNIT_STAFF = "unit_staff", _("Unit staff")
        UNIT_SUPERVISOR = "unit_supervisor", _("Unit supervisor")
        DISTRICT_OFFICER = "district_officer", _("District officer")

    UNIT_ROLES = (Role.REFERRER, Role.UNIT_STAFF, Role.UNIT_SUPERVISOR)
    STAFF_ROLES = (Role.UNIT_STAFF, Role.UNIT_SUPERVISOR)  # work the unit's cases

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    service_unit = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("service unit or caring team"),
    )
    welfare_office = models.ForeignKey(
        "districts.WelfareOffice",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="memberships",
        verbose_name=_("welfare office"),
    )
    caseload_limit = models.PositiveSmallIntegerField(
        _("caseload limit"),
        null=True,
        blank=True,
        help_text=_("Open cases this worker may own at once. Empty: the portal's default."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(
                name="membership_scope_matches_role",
                condition=(
                    Q(
                        role__in=["referrer", "unit_staff", "unit_supervisor"],
                        service_unit__isnull=False,
                        welfare_office__isnull=True,
                    )
                    | Q(
                        role="district_officer",
                        service_unit__isnull=True,
                        welfare_office__isnull=False,
                    )
                ),
                violation_error_message=_(
                    "A unit role needs a service unit; a district officer needs a welfare office."
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "role", "service_unit"],
                condition=Q(service_unit__isnull=False),
                name="membership_unique_unit_role",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "welfare_office"],
                condition=Q(welfare_office__isnull=False),
                name="membership_unique_office_role",
            ),
        ]

    def __str__(self) -> str:
        scope = self.service_unit or self.welfare_office
        return f"{self.user} · {self.get_role_display()} · {scope}"


class PartnerClient(models.Model):
    """An OAuth2 client (client-credentials) that acts for one organisation's case system.

    The OAuth2 application (django-oauth-toolkit) holds the credentials; this row says whose
    cases the client may see and which API scopes it may ask for.
    """

    class Scope(models.TextChoices):
        REFERRALS_READ = "referrals:read", _("Read the organisation's referrals")
        REFERRALS_WRITE = "referrals:write", _("Update the organisation's referrals")
        DIRECTORY_READ = "directory:read", _("Read the service directory")
        REFERRALS_IDENTITY = "referrals:identity", _("See identity numbers in full")
        NOTICES_WRITE = "notices:write", _("Send urgent notices (a carer admitted to hospital)")
        OUTREACH_WRITE = "outreach:write", _("Load households into visit lists")

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="partner",
        verbose_name=_("OAuth2 application"),
    )
    organisation = models.ForeignKey(
        "services.Organisation",
        on_delete=models.CASCADE,
        related_name="api_clients",
        verbose_name=_("organisation"),
    )
    scopes = models.JSONField(
        _("allowed scopes"),
        default=list,
        blank=True,
        help_text=_("What tokens of this client may be granted."),
    )
    intake_team = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("files referrals as"),
        help_text=_(
            "The organisation's team or unit named as the referrer when this client files "
            "referrals (scope referrals:write). Leave blank if the client may not file any."
        ),
    )
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="partner_client",
        verbose_name=_("service account"),
        help_text=_("Recorded as the referrer of what the client files; it cannot sign in."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("partner API client")
        verbose_name_plural = _("partner API clients")

    def __str__(self) -> str:
        return f"{self.organisation} · {self.application}"

    def clean(self) -> None:
        team = self.intake_team
        if team is not None and team.organisation_id != self.organisation_id:
            raise ValidationError(
                {"intake_team": _("Choose a team or unit of the client's own organisation.")}
            )

    def referrer_account(self) -> "User":
        """The service account named as referrer, created the first time it is needed (under
        a row lock, so two first submissions at once make one account)."""
        if self.service_user_id is None:
            with transaction.atomic():
                locked = PartnerClient.objects.select_for_update().get(pk=self.pk)
                if locked.service_user_id is None:
                    user = User(
                        username=f"api-client-{self.pk}",
                        first_name=str(self.application.name)[:150],
                        is_active=False,
                    )
                    user.set_unusable_password()
                    user.save()
                    locked.service_user = user
                    locked.save(update_fields=["service_user"])
                self.service_user = locked.service_user
        return self.service_user


class TwoFactorEnrolmentCode(models.Model):
    """A one-time code an administrator issues so that a person can set up an authenticator
    (after a reset of their two-factor authentication, or for a new account). Only a hash
    is kept; the code is shown once, expires and is used up by the enrolment it allows.

    That a person was ever issued one also means they never enrol with the password alone
    again (``accounts.two_factor.two_factor_state``)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="two_factor_enrolment_codes",
        verbose_name=_("user"),
    )
    code_hash = models.CharField(_("code hash"), max_length=64, unique=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("two-factor enrolment code")
        verbose_name_plural = _("two-factor enrolment codes")

    def __str__(self) -> str:
        return f"{self.user} · {self.created_at:%Y-%m-%d %H:%M}"
