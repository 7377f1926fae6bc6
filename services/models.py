from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from districts.models import District, SubDistrict
from welfare_portal.bilingual import BilingualNameMixin, prefers_chinese


class Language(models.TextChoices):
    """Languages a unit can serve clients in (ISO 639-3 codes)."""

    CANTONESE = "yue", _("Cantonese")
    PUTONGHUA = "cmn", _("Putonghua")
    ENGLISH = "eng", _("English")
    URDU = "urd", _("Urdu")
    NEPALI = "nep", _("Nepali")
    HINDI = "hin", _("Hindi")
    TAGALOG = "tgl", _("Tagalog")
    INDONESIAN = "ind", _("Indonesian")
    THAI = "tha", _("Thai")
    PUNJABI = "pan", _("Punjabi")
    SIGN = "hks", _("Hong Kong Sign Language")


def validate_languages(value) -> None:
    if not isinstance(value, list):
        raise ValidationError(_("Languages must be a list of language codes."))
    unknown = sorted({code for code in value if code not in Language.values}, key=str)
    if unknown:
        raise ValidationError(
            _("Unknown language code(s): %(codes)s."), params={"codes": ", ".join(unknown)}
        )


class NeedCategory(BilingualNameMixin):
    """A kind of need a referral can name; data, so headquarters can add categories."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    ordering = models.PositiveSmallIntegerField(_("ordering"), default=0)

    class Meta:
        ordering = ["ordering", "code"]
        verbose_name = _("need category")
        verbose_name_plural = _("need categories")


class UnitType(BilingualNameMixin):
    """A kind of service unit (IFSC, ICCMW, DECC …); data, not an enum."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    notes = models.TextField(_("notes"), blank=True)
    needs = models.ManyToManyField(
        NeedCategory, blank=True, related_name="unit_types", verbose_name=_("needs served")
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("unit type")
        verbose_name_plural = _("unit types")


class Organisation(BilingualNameMixin):
    class Kind(models.TextChoices):
        NGO = "ngo", _("Non-governmental organisation")
        GOVERNMENT = "government", _("Government department")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.NGO)
    website = models.URLField(_("website"), blank=True)
    is_demo_data = models.BooleanField(
        _("synthetic demo record"),
        default=False,
        help_text=_("Invented for the demo; not a real organisation."),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")


class ServiceUnitQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)

    def serving_district(self, district):
        """Units located in ``district`` or whose catchment reaches into it."""
        through_districts = ServiceUnit.catchment_districts.through.objects.filter(
            serviceunit_id=OuterRef("pk"), district=district
        )
        through_sub_districts = ServiceUnit.catchment_sub_districts.through.objects.filter(
            serviceunit_id=OuterRef("pk"), subdistrict__district=district
        )
        return self.filter(
            Q(district=district) | Exists(through_districts) | Exists(through_sub_districts)
        )

    def serving_sub_district(self, sub_district):
        """Units whose catchment names ``sub_district`` or its whole district."""
        through_districts = ServiceUnit.catchment_districts.through.objects.filter(
            serviceunit_id=OuterRef("pk"), district_id=sub_district.district_id
        )
        through_sub_districts = ServiceUnit.catchment_sub_districts.through.objects.filter(
            serviceunit_id=OuterRef("pk"), subdistrict=sub_district
        )
        return self.filter(Exists(through_districts) | Exists(through_sub_districts))

    def search(self, text: str):
        text = text.strip()
        if not text:
            return self
        return self.filter(
            Q(name_en__icontains=text)
            | Q(name_zh__icontains=text)
            | Q(code__iexact=text)
            | Q(unit_type__name_en__icontains=text)
            | Q(unit_type__name_zh__icontains=text)
            | Q(organisation__name_en__icontains=text)
            | Q(organisation__name_zh__icontains=text)
        )

    def order_by_name(self):
        return self.order_by("name_zh" if prefers_chinese() else "name_en", "code")


class ServiceUnit(BilingualNameMixin):
    """A service unit in the directory, with where it is and whom it serves."""

    code = models.SlugField(
        _("code"), max_length=40, unique=True, help_text=_("Stable identifier, used by CSV import.")
    )
    unit_type = models.ForeignKey(
        UnitType, on_delete=models.PROTECT, related_name="units", verbose_name=_("unit type")
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="units", verbose_name=_("operator")
    )
    district = models.ForeignKey(
        District,
        on_delete=models.PROTECT,
        related_name="units",
        verbose_name=_("district"),
        help_text=_("Where the unit is located."),
    )
    address_en = models.CharField(_("address (English)"), max_length=300, blank=True)
    address_zh = models.CharField(_("address (Chinese)"), max_length=300, blank=True)
    phone = PhoneNumberField(_("phone"), blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    languages = models.JSONField(
        _("languages served"), default=list, blank=True, validators=[validate_languages]
    )
    capacity = models.PositiveIntegerField(
        _("capacity"), default=0, help_text=_("Open cases the unit can hold.")
    )
    current_load = models.PositiveIntegerField(_("current load"), default=0)
    social_workers = models.PositiveSmallIntegerField(
        _("social workers"),
        null=True,
        blank=True,
        help_text=_(
            "Social workers in the team. A pre-primary team's capacity in children follows "
            "from it (one social worker to 400 children)."
        ),
    )
    is_active = models.BooleanField(_("active"), default=True)
    catchment_districts = models.ManyToManyField(
        District,
        blank=True,
        related_name="catchment_units",
        verbose_name=_("catchment: whole districts"),
    )
    catchment_sub_districts = models.ManyToManyField(
        SubDistrict,
        blank=True,
        related_name="catchment_units",
        verbose_name=_("catchment: sub-districts"),
    )
    is_demo_data = models.BooleanField(
        _("synthetic demo record"),
        default=False,
        help_text=_("Invented for the demo; name, address and figures are not real."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ServiceUnitQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        verbose_name = _("service unit")
        verbose_name_plural = _("service units")
        indexes = [models.Index(fields=["unit_type", "district", "is_active"])]

    @property
    def address(self) -> str:
        if prefers_chinese():
            return self.address_zh or self.address_en
        return self.address_en or self.address_zh

    @property
    def spare_capacity(self) -> int:
        return max(self.capacity - self.current_load, 0)

    @property
    def children_capacity(self) -> int:
        """A pre-primary team's capacity in children: 400 per social worker (issue 17)."""
        return (self.social_workers or 0) * CHILDREN_PER_SOCIAL_WORKER

    def language_labels(self) -> list[str]:
        labels = dict(Language.choices)
        return [str(labels.get(code, code)) for code in self.languages]


# One pre-primary social worker to this many children (the Social Welfare Department's ratio).
CHILDREN_PER_SOCIAL_WORKER = 400


class Institution(BilingualNameMixin):
    """A kindergarten or child care centre, matched to the pre-primary social work team
    (a ``ServiceUnit`` of type PPSW) that serves its children (issue 17)."""

    class Kind(models.TextChoices):
        KINDERGARTEN = "kindergarten", _("Kindergarten")
        CHILD_CARE_CENTRE = "child_care_centre", _("Child care centre")
        KINDERGARTEN_CUM_CCC = "kg_cum_ccc", _("Kindergarten-cum-child care centre")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(
        _("kind"), max_length=20, choices=Kind.choices, default=Kind.KINDERGARTEN
    )
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="institutions", verbose_name=_("district")
    )
    sub_district = models.ForeignKey(
        SubDistrict,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="institutions",
        verbose_name=_("sub-district"),
    )
    enrolment = models.PositiveIntegerField(_("children enrolled"), default=0)
    matched_team = models.ForeignKey(
        ServiceUnit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="institutions",
        limit_choices_to={"unit_type__code": "PPSW"},
        verbose_name=_("pre-primary social work team"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_demo_data = models.BooleanField(_("synthetic demo record"), default=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("pre-primary institution")
        verbose_name_plural = _("pre-primary institutions")
        indexes = [models.Index(fields=["matched_team"], name="institution_team")]
