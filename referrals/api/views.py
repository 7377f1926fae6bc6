"""The partner API's referral endpoints. Every query starts from ``api_referrals``: a
partner's organisation's units, or the signed-in person's visible referrals; anything else is
a 404."""

import django_filters
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.pagination import CursorPagination

from referrals.api.permissions import PartnerScope, partner_of
from referrals.api.serializers import ReferralDetailOut, ReferralSummaryOut
from referrals.models import AccessLog, Referral, ReferralEvent, RiskLevel, Status
from referrals.selectors import referrals_visible_to
from referrals.services import log_personal_data_access, log_personal_data_access_many


def api_referrals(request) -> QuerySet[Referral]:
    if request is None:  # the OpenAPI generator inspecting the view
        return Referral.objects.none()
    partner = partner_of(request)
    if partner is not None:
        return Referral.objects.exclude(status=Status.DRAFT).filter(
            assigned_unit__organisation_id=partner.organisation_id
        )
    return referrals_visible_to(request.user).exclude(status=Status.DRAFT)


class ReferralFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    risk_level = django_filters.ChoiceFilter(choices=RiskLevel.choices)
    unit = django_filters.CharFilter(field_name="assigned_unit__code")
    district = django_filters.CharFilter(field_name="district__code")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gt")

    class Meta:
        model = Referral
        fields = ["status", "risk_level", "unit", "district", "updated_after"]


class SyncPagination(CursorPagination):
    """Ordered by last update, then id: a partner pulling page after page sees every row
    once, and a row changed meanwhile comes again after its new update time."""

    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class ReferralList(generics.ListAPIView):
    """Referrals assigned to the caller's organisation's units (partner token), or visible
    to the signed-in person; oldest change first."""

    permission_classes = [PartnerScope]
    required_scopes = ["referrals:read"]
    serializer_class = ReferralSummaryOut
    filterset_class = ReferralFilter
    pagination_class = SyncPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Referral.objects.none()
        return api_referrals(self.request).select_related(
            "district", "sub_district", "assigned_unit"
        )

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        log_personal_data_access_many(
            user=self.request.user,
            referrals=page or [],
            channel=AccessLog.Channel.API,
            detail=self._caller(),
        )
        return page

    def _caller(self) -> str:
        partner = partner_of(self.request)
        return f"client {partner.application.client_id}" if partner else "session"


class ReferralDetail(generics.RetrieveAPIView):
    """One referral in full, with its timeline; the identity number is masked."""

    permission_classes = [PartnerScope]
    required_scopes = ["referrals:read"]
    serializer_class = ReferralDetailOut
    lookup_field = "reference"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Referral.objects.none()
        return (
            api_referrals(self.request)
            .select_related("district", "sub_district", "assigned_unit")
            .prefetch_related(
                "needs",
                Prefetch(
                    "events", queryset=ReferralEvent.objects.select_related("unit").order_by("at")
                ),
            )
        )

    @extend_schema(responses=ReferralDetailOut)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        partner = partner_of(request)
        log_personal_data_access(
            user=request.user,
            referral=self.get_object(),
            channel=AccessLog.Channel.API,
            detail=f"client {partner.application.client_id}" if partner else "session",
        )
        return response
