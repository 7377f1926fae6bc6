"""Reads of the service directory."""

from django.db.models import Prefetch, QuerySet

from districts.models import District, SubDistrict
from services.models import Organisation, ServiceUnit, UnitType


def directory_units() -> QuerySet[ServiceUnit]:
    """Units with everything a directory row shows, in a fixed number of queries."""
    return (
        ServiceUnit.objects.select_related("unit_type", "organisation", "district")
        .prefetch_related(
            Prefetch("catchment_districts", queryset=District.objects.order_by("code")),
            Prefetch("catchment_sub_districts", queryset=SubDistrict.objects.order_by("code")),
        )
        .order_by_name()
    )


def directory_totals() -> dict[str, int]:
    return {
        "units": ServiceUnit.objects.count(),
        "active_units": ServiceUnit.objects.active().count(),
        "unit_types": UnitType.objects.count(),
        "organisations": Organisation.objects.count(),
        "sub_districts": SubDistrict.objects.count(),
    }
