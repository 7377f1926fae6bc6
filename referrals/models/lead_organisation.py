"""The lead unit's organisation on the referral (issue 20), kept with ``assigned_unit``.

``Referral.organisation`` is ``assigned_unit.organisation``: a partner's sync reads its
organisation's referrals in index order through it (``selectors.partner_sync_sources``).
``Referral.save`` keeps it (no query when the unit is loaded, as the services pass it; one
when only the unit's id was set); ``lead_unit_columns`` is the same for an ``update`` over
many rows (a transfer's batch). ``lead_moved`` is set once the organisation changed: an
earlier lead's organisation may still see the referral through its closed lead task.
``selectors.referrals_with_organisation_drift`` finds a row where the two disagree; a unit
moved to another organisation (the admin, an import) takes the referrals it leads along
(``unit_moved_organisation``).
"""

from django.apps import apps
from django.db import models
from django.db.models import Q
from django.db.models.signals import post_save
from django.dispatch import receiver

from services.models import ServiceUnit


def lead_unit_columns(unit_id: int) -> dict:
    """What ``save`` keeps, for ``update(assigned_unit_id=unit_id, **lead_unit_columns(…))``."""
    organisation = models.Subquery(
        ServiceUnit.objects.filter(pk=unit_id).values("organisation_id")[:1]
    )
    moved = Q(lead_moved=True) | Q(organisation__isnull=False) & ~Q(organisation=organisation)
    return {
        "organisation_id": organisation,
        "lead_moved": models.Case(models.When(moved, then=True), default=False),
    }


class KeepsLeadOrganisation:
    """``Referral``'s save: ``organisation`` and ``lead_moved`` follow ``assigned_unit``."""

    def save(self, *args, **kwargs):
        fields = kwargs.get("update_fields")
        unit_saved = fields is None or {"assigned_unit", "assigned_unit_id"} & set(fields)
        if unit_saved and self._keep_organisation() and fields is not None:
            kwargs["update_fields"] = {*fields, "organisation", "lead_moved"}
        super().save(*args, **kwargs)
        self._organisation_of = (self.assigned_unit_id, self.organisation_id)

    def _keep_organisation(self) -> bool:
        if "organisation_id" in self.get_deferred_fields():
            self.refresh_from_db(fields=["organisation", "lead_moved"])
        unit_id = self.assigned_unit_id
        cached = self._meta.get_field("assigned_unit").get_cached_value(self, None)
        if unit_id is None:
            organisation_id = None
        elif cached is not None and cached.pk == unit_id:
            organisation_id = cached.organisation_id
        elif getattr(self, "_organisation_of", None) == (unit_id, self.organisation_id):
            return False  # the unit as loaded: its organisation is the one stored
        else:
            units = ServiceUnit.objects.filter(pk=unit_id)
            organisation_id = units.values_list("organisation_id", flat=True).first()
        if organisation_id == self.organisation_id:
            return False
        if self.organisation_id is not None:
            self.lead_moved = True
        self.organisation_id = organisation_id
        return True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        loaded = instance.__dict__
        if "assigned_unit_id" in loaded and "organisation_id" in loaded:
            instance._organisation_of = (instance.assigned_unit_id, instance.organisation_id)
        return instance


def fill_lead_organisations(referrals) -> int:
    """Set ``organisation`` on ``referrals`` (a queryset) written round ``save``: a bulk load
    (the demo's ``COPY`` and ``bulk_create``) names the unit only. One ``UPDATE``."""
    unit = ServiceUnit.objects.filter(pk=models.OuterRef("assigned_unit_id"))
    return referrals.filter(assigned_unit__isnull=False, organisation__isnull=True).update(
        organisation_id=models.Subquery(unit.values("organisation_id")[:1])
    )


@receiver(post_save, sender=ServiceUnit, dispatch_uid="referrals.unit_moved_organisation")
def unit_moved_organisation(sender, instance, created, raw=False, update_fields=None, **_):
    """A unit saved with another organisation: the referrals it leads follow it, in one
    ``UPDATE`` (the new organisation's partner syncs them; the old one's no longer does,
    as the visibility rule says). Loads are written by ``update()`` and never get here."""
    if created or raw or (update_fields is not None and "organisation" not in update_fields):
        return
    referral = apps.get_model("referrals", "Referral")
    referral.objects.filter(assigned_unit=instance).exclude(
        organisation_id=instance.organisation_id
    ).update(organisation_id=instance.organisation_id, lead_moved=True)
