"""Routing rules: data headquarters edits in the admin."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

from referrals.models.choices import Household, RiskFactor, RiskLevel
from referrals.sla import SlaUnit
from welfare_portal.bilingual import BilingualNameMixin


@deconstructible
class ChoiceListValidator:
    """For JSON lists whose items must be among ``allowed``."""

    def __init__(self, allowed):
        self.allowed = tuple(allowed)

    def __call__(self, value) -> None:
        if not isinstance(value, list):
            raise ValidationError(_("Give a list."))
        unknown = sorted({str(item) for item in value if item not in self.allowed})
        if unknown:
            raise ValidationError(
                _("Unknown value(s): %(values)s."), params={"values": ", ".join(unknown)}
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, ChoiceListValidator) and self.allowed == other.allowed


class RoutingRule(BilingualNameMixin):
    """Which kind of unit a referral goes to, how fast it must be acknowledged, and what
    happens when it is not. Data, edited by headquarters in the admin.

    A rule matches a referral when every criterion it names matches (an empty criterion
    matches anything): one of its needs, one of its risk levels, one of its risk factors,
    one of its household types, and its district if it names one. Rules are tried in
    ``priority`` order; the first that finds a unit wins (``referrals/routing.py``).
    """

    class WhenOverdue(models.TextChoices):
        REROUTE = "reroute", _("Re-route to the next candidate unit")
        ESCALATE = "escalate", _("Escalate to the district office")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Lower numbers are tried first.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    needs = models.ManyToManyField(
        "services.NeedCategory", blank=True, related_name="+", verbose_name=_("needs (any of)")
    )
    risk_levels = models.JSONField(
        _("risk levels (any of)"),
        default=list,
        blank=True,
        validators=[ChoiceListValidator(RiskLevel.values)],
    )
    risk_factors = models.JSONField(
        _("risk factors (any of)"),
        default=list,
        blank=True,
        validators=[ChoiceListValidator(RiskFactor.values)],
    )
    households = models.JSONField(
        _("households (any of)"),
        default=list,
        blank=True,
        validators=[ChoiceListValidator(Household.values)],
    )
    district = models.ForeignKey(
        "districts.District",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("only in district"),
    )
    unit_types = models.ManyToManyField(
        "services.UnitType", related_name="+", verbose_name=_("route to unit types")
    )
    match_institution = models.BooleanField(
        _("to the institution's matched team"),
        default=False,
        help_text=_(
            "Only for referrals naming a kindergarten or child care centre: the team matched "
            "to it takes the referral."
        ),
    )
    sla_amount = models.PositiveSmallIntegerField(_("time to acknowledge"), default=2)
    sla_unit = models.CharField(
        _("counted in"), max_length=16, choices=SlaUnit.choices, default=SlaUnit.BUSINESS_DAYS
    )
    escalate_at_once = models.BooleanField(
        _("alert the district office at once"),
        default=False,
        help_text=_("For referrals the district office must know about as soon as they arrive."),
    )
    when_overdue = models.CharField(
        _("when not acknowledged in time"),
        max_length=10,
        choices=WhenOverdue.choices,
        default=WhenOverdue.REROUTE,
    )

    class Meta:
        ordering = ["priority", "code"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
