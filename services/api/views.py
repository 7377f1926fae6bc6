"""The directory through the partner API (scope ``directory:read``), read-only: the same
selector and filters as the directory page, and an Open Referral HSDS-shaped export."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from districts.models import District
from services.filters import DirectoryFilter
from services.models import Organisation, ServiceUnit
from services.selectors import directory_units
from welfare_portal.api.permissions import PartnerScope


class DistrictOut(serializers.ModelSerializer):
    welfare_office = serializers.CharField(source="welfare_office.code")

    class Meta:
        model = District
        fields = ["code", "name_en", "name_zh", "region", "welfare_office"]


class UnitOut(serializers.ModelSerializer):
    unit_type = serializers.CharField(source="unit_type.code")
    organisation = serializers.CharField(source="organisation.code")
    district = serializers.CharField(source="district.code")
    phone = serializers.SerializerMethodField()
    catchment_districts = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    catchment_sub_districts = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True
    )

    class Meta:
        model = ServiceUnit
        fields = [
            "code",
            "name_en",
            "name_zh",
            "unit_type",
            "organisation",
            "district",
            "address_en",
            "address_zh",
            "phone",
            "email",
            "languages",
            "capacity",
            "current_load",
            "is_active",
            "catchment_districts",
            "catchment_sub_districts",
        ]

    def get_phone(self, unit) -> str:
        return unit.phone.as_e164 if unit.phone else ""


class DirectoryPage(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class DirectoryView:
    permission_classes = [PartnerScope]
    required_scopes = ["directory:read"]


class DistrictList(DirectoryView, generics.ListAPIView):
    """Hong Kong's 18 districts and the welfare office covering each."""

    serializer_class = DistrictOut
    pagination_class = None
    queryset = District.objects.select_related("welfare_office").order_by("code")


class UnitList(DirectoryView, generics.ListAPIView):
    """Service units: ``q``, ``type``, ``district`` (served), ``need``, ``include_inactive``."""

    serializer_class = UnitOut
    filterset_class = DirectoryFilter
    pagination_class = DirectoryPage
    queryset = directory_units()


class HsdsExport(DirectoryView, generics.GenericAPIView):
    """The directory in the shape of Open Referral HSDS 3: organizations, services (one per
    unit), locations and service areas (the catchment)."""

    pagination_class = None
    queryset = directory_units()

    @extend_schema(responses={200: dict})
    def get(self, request, *args, **kwargs):
        units = list(self.get_queryset().active())
        organisations = Organisation.objects.filter(units__in=units).distinct().order_by("code")
        return Response(
            {
                "organizations": [
                    {
                        "id": o.code,
                        "name": o.name_en,
                        "alternate_name": o.name_zh,
                        "website": o.website,
                    }
                    for o in organisations
                ],
                "services": [
                    {
                        "id": unit.code,
                        "organization_id": unit.organisation.code,
                        "name": unit.name_en,
                        "alternate_name": unit.name_zh,
                        "status": "active",
                        "email": unit.email,
                        "languages": unit.languages,
                        "service_areas": [
                            {
                                "id": f"{unit.code}:{d.code}",
                                "name": d.name_en,
                                "extent_type": "district",
                            }
                            for d in unit.catchment_districts.all()
                        ]
                        + [
                            {
                                "id": f"{unit.code}:{s.code}",
                                "name": s.name_en,
                                "extent_type": "sub_district",
                            }
                            for s in unit.catchment_sub_districts.all()
                        ],
                    }
                    for unit in units
                ],
                "locations": [
                    {
                        "id": f"{unit.code}:location",
                        "organization_id": unit.organisation.code,
                        "name": unit.name_en,
                        "addresses": [
                            {
                                "address_1": unit.address_en or unit.address_zh,
                                "region": unit.district.name_en,
                                "country": "HK",
                            }
                        ],
                    }
                    for unit in units
                ],
            }
        )
