"""Visit lists, the households loaded into them, the people in each, and each household's
timeline."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from outreach.models.choices import (
    AgeBand,
    HouseholdStatus,
    ListSource,
    PersonRole,
)
from referrals.identity import IdType
from welfare_portal.bilingual import BilingualNameMixin


class VisitList(models.Model):
    """A list of households to visit, made by a district office for one purpose."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(
        _("purpose"),
        max_length=200,
        help_text=_("What the list is for, e.g. “Elderly living alone, Housing Department match”."),
    )
    source = models.CharField(_("source"), max_length=20, choices=ListSource.choices)
    source_detail = models.CharField(_("source details"), max_length=200, blank=True)
    welfare_office = models.ForeignKey(
        "districts.WelfareOffice",
        on_delete=models.PROTECT,
        related_name="visit_lists",
        verbose_name=_("welfare office"),
        help_text=_("The office whose districts the list covers."),
    )
    target_date = models.DateField(_("target completion date"))
    loader_client = models.ForeignKey(
        "accounts.PartnerClient",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("partner system that loads it"),
        help_text=_("The partner API client allowed to load households into this list."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    is_demo_data = models.BooleanField(_("synthetic demo record"), default=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("visit list")
        verbose_name_plural = _("visit lists")

    def __str__(self) -> str:
        return self.name


class Estate(BilingualNameMixin):
    """A housing estate or building and the sub-district it is in: how a household's
    address finds its sub-district (and so its caring team)."""

    sub_district = models.ForeignKey(
        "districts.SubDistrict",
        on_delete=models.PROTECT,
        related_name="estates",
        verbose_name=_("sub-district"),
    )
    is_demo_data = models.BooleanField(_("synthetic demo record"), default=False)

    class Meta:
        ordering = ["name_en"]
        verbose_name = _("estate")
        verbose_name_plural = _("estates")
        constraints = [
            models.UniqueConstraint(fields=["name_zh"], name="estate_unique_name_zh"),
            models.UniqueConstraint(fields=["name_en"], name="estate_unique_name_en"),
        ]


class Household(models.Model):
    """One address on a visit list, the caring team that visits it, and where it stands."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    visit_list = models.ForeignKey(
        VisitList,
        on_delete=models.CASCADE,
        related_name="households",
        verbose_name=_("visit list"),
    )
    source_row_id = models.CharField(
        _("source row id"),
        max_length=64,
        help_text=_("The source's own id of the row: loading it again changes nothing."),
    )
    # Address: estate (or building), block, floor, flat; the estate is matched to an
    # ``Estate`` when one is known, which gives the sub-district.
    estate_name = models.CharField(_("estate or building"), max_length=120)
    estate = models.ForeignKey(
        Estate,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="households",
        verbose_name=_("known estate"),
    )
    block = models.CharField(_("block"), max_length=40, blank=True)
    floor = models.CharField(_("floor"), max_length=10, blank=True)
    flat = models.CharField(_("flat"), max_length=10, blank=True)
    district = models.ForeignKey(
        "districts.District",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("district"),
    )
    sub_district = models.ForeignKey(
        "districts.SubDistrict",
        on_delete=models.PROTECT,
        related_name="households",
        verbose_name=_("sub-district"),
    )
    team = models.ForeignKey(
        "services.ServiceUnit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="outreach_households",
        verbose_name=_("caring team"),
    )
    # Why it was listed, and the priority that gives (or the office's override).
    reasons = models.JSONField(_("listing reasons"), default=list, blank=True)
    high_load_indicators = models.PositiveSmallIntegerField(
        _("high-load carer indicators met"), default=0
    )
    priority = models.PositiveSmallIntegerField(_("priority from the reasons"), default=0)
    priority_override = models.PositiveSmallIntegerField(
        _("priority set by the office"), null=True, blank=True
    )
    effective_priority = models.GeneratedField(
        expression=Coalesce("priority_override", "priority"),
        output_field=models.PositiveSmallIntegerField(),
        db_persist=True,
        verbose_name=_("priority"),
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=HouseholdStatus.choices,
        default=HouseholdStatus.TO_VISIT,
    )
    status_note = models.TextField(_("note on the status"), blank=True)
    not_at_home_count = models.PositiveSmallIntegerField(_("visits with nobody at home"), default=0)
    revisit_on = models.DateField(_("revisit on"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    personal_data_removed_at = models.DateTimeField(
        _("personal details removed"),
        null=True,
        blank=True,
        help_text=_("Set when retention removed the people's details (a refusal kept as such)."),
    )
    version = models.PositiveIntegerField(
        _("version"), default=1, help_text=_("Raised by every change; detects concurrent edits.")
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        constraints = [
            models.UniqueConstraint(
                fields=["visit_list", "source_row_id"], name="household_unique_source_row"
            ),
        ]
        indexes = [
            # A team's list: what is left, by priority, then walking the building. Partial
            # over the statuses a list can show, with the status out of the key, so the
            # query's OR over them still reads the index in order (a LIMIT stops early).
            models.Index(
                "team",
                models.F("effective_priority").desc(),
                "estate_name",
                "block",
                "floor",
                "flat",
                "id",
                name="household_team_left",
                condition=Q(status__in=["to_visit", "revisit", "referred"]),
            ),
            models.Index(fields=["visit_list", "status"], name="household_list_status"),
            models.Index(fields=["district", "status"], name="household_district_status"),
            models.Index(
                fields=["closed_at"],
                name="household_refused_closed",
                condition=Q(status="refused", personal_data_removed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        parts = [self.estate_name, self.block, self.floor and f"{self.floor}/F", self.flat]
        return ", ".join(str(part) for part in parts if part)


class Person(models.Model):
    """Someone living in a listed household. The identity number is kept exactly as a
    referral keeps it: encrypted, with a keyed hash to find the same person, and a mask."""

    household = models.ForeignKey(
        Household, on_delete=models.CASCADE, related_name="people", verbose_name=_("household")
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100, blank=True)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    age_band = models.CharField(
        _("age band"), max_length=8, choices=AgeBand.choices, blank=True, default=""
    )
    role = models.CharField(
        _("role in the household"),
        max_length=12,
        choices=PersonRole.choices,
        default=PersonRole.ELDER,
    )
    phone = PhoneNumberField(_("phone"), blank=True)
    id_type = models.CharField(
        _("identity document"), max_length=4, choices=IdType.choices, blank=True
    )
    id_number_encrypted = models.TextField(_("identity number (encrypted)"), blank=True)
    id_number_hash = models.CharField(
        _("identity number (keyed hash)"), max_length=64, blank=True, db_index=True
    )
    id_number_masked = models.CharField(_("identity number (masked)"), max_length=16, blank=True)

    class Meta:
        ordering = ["household", "position", "id"]
        verbose_name = _("person in a household")
        verbose_name_plural = _("people in households")

    def __str__(self) -> str:
        return self.name or str(_("(no name)"))

    @property
    def name(self) -> str:
        if self.name_zh and self.name_en:
            return f"{self.name_zh} {self.name_en}"
        return self.name_zh or self.name_en


class HouseholdEvent(models.Model):
    """One entry in a household's timeline: loaded, assigned or moved, visited, referred,
    reopened, closed, a referral that came back, details removed."""

    class Kind(models.TextChoices):
        LOADED = "loaded", _("Loaded into the list")
        MOVED = "moved", _("Moved to another team")
        PRIORITY = "priority", _("Priority changed")
        VISIT = "visit", _("Visit")
        REFERRAL = "referral", _("Referral")
        RETURNED = "returned", _("Referral came back")
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")
        REMOVED = "removed", _("Personal details removed")

    household = models.ForeignKey(
        Household, on_delete=models.CASCADE, related_name="events", verbose_name=_("household")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    at = models.DateTimeField(_("at"), default=timezone.now, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    note = models.TextField(_("note"), blank=True)
    visit = models.ForeignKey(
        "outreach.Visit",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("visit"),
    )
    referral = models.ForeignKey(
        "referrals.Referral",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("referral"),
    )

    class Meta:
        ordering = ["household", "at", "id"]
        verbose_name = _("household event")
        verbose_name_plural = _("household events")

    def __str__(self) -> str:
        return f"{self.household} · {self.get_kind_display()}"
