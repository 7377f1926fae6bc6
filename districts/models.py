from django.db import models
from django.utils.translation import gettext_lazy as _

from welfare_portal.bilingual import BilingualNameMixin


class Region(models.TextChoices):
    HONG_KONG_ISLAND = "Hong Kong Island", _("Hong Kong Island")
    KOWLOON = "Kowloon", _("Kowloon")
    NEW_TERRITORIES = "New Territories", _("New Territories")


class WelfareOffice(BilingualNameMixin):
    """A District Social Welfare Office of SWD; it covers one or more districts."""

    code = models.SlugField(_("code"), max_length=16, unique=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("welfare office")
        verbose_name_plural = _("welfare offices")


class District(BilingualNameMixin):
    """One of Hong Kong's 18 districts, identified by its District Council letter code."""

    code = models.CharField(_("code"), max_length=2, unique=True)
    region = models.CharField(_("region"), max_length=32, choices=Region.choices)
    welfare_office = models.ForeignKey(
        WelfareOffice,
        on_delete=models.PROTECT,
        related_name="districts",
        verbose_name=_("welfare office"),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("district")
        verbose_name_plural = _("districts")


class SubDistrict(BilingualNameMixin):
    """A sub-district (小區): the area one caring team visits."""

    code = models.SlugField(_("code"), max_length=16, unique=True)
    district = models.ForeignKey(
        District,
        on_delete=models.PROTECT,
        related_name="sub_districts",
        verbose_name=_("district"),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("sub-district")
        verbose_name_plural = _("sub-districts")
