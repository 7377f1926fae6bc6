"""The partner API's referral endpoints. Every query starts from ``api_referrals``: a
partner's organisation's units, or the signed-in person's visible referrals; anything else is
a 404."""

import django_filters
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from referrals.api.permissions import PartnerScope, partner_of
from referrals.api.serializers import (
    DeclineIn,
    ReferralDetailOut,
    ReferralSummaryOut,
    StatusIn,
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointOut,
)
from referrals.models import (
    AccessLog,
    Referral,
    ReferralEvent,
    RiskLevel,
    Status,
    WebhookEndpoint,
)
from referrals.selectors import referrals_visible_to
from referrals.services import (
    ACTION_SERVICES,
    Conflict,
    NotPermitted,
    ReferralError,
    log_personal_data_access,
    log_personal_data_access_many,
    referral_accept,
    referral_decline,
)


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
        referral = self.get_object()
        partner = partner_of(request)
        log_personal_data_access(
            user=request.user,
            referral=referral,
            channel=AccessLog.Channel.API,
            detail=f"client {partner.application.client_id}" if partner else "session",
        )
        return Response(self.get_serializer(referral).data)


# --- Actions: the same lifecycle services as the pages -----------------------------------


class ReferralAction(generics.GenericAPIView):
    """Base for the write endpoints: the referral must be the caller's (else 404), the
    caller's partner must act for the assigned unit, and ``If-Match`` (or ``version`` in the
    body) must name the version the caller saw (else 409)."""

    permission_classes = [PartnerScope]
    required_scopes = ["referrals:write"]
    lookup_field = "reference"
    serializer_class = ReferralSummaryOut
    input_serializer = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Referral.objects.none()
        return api_referrals(self.request).select_related(
            "district", "sub_district", "assigned_unit"
        )

    def expected_version(self, request) -> int | None:
        raw = request.headers.get("If-Match", "").strip('"W/ ') or request.data.get("version")
        if raw in (None, ""):
            raise exceptions.ValidationError(
                {"version": [_("Send the version you saw, in If-Match or as “version”.")]}
            )
        try:
            return int(raw)
        except (TypeError, ValueError) as error:
            raise exceptions.ValidationError({"version": [_("Not a version number.")]}) from error

    def act(self, referral, data, version):
        raise NotImplementedError

    def run(self, service, referral, version, **kwargs):
        partner = partner_of(self.request)
        return service(
            referral_id=referral.pk,
            actor=None if partner else self.request.user,
            partner=partner,
            expected_version=version,
            **kwargs,
        )

    def post(self, request, *args, **kwargs):
        referral = self.get_object()
        data = {}
        if self.input_serializer is not None:
            incoming = self.input_serializer(data=request.data)
            incoming.is_valid(raise_exception=True)
            data = incoming.validated_data
        version = self.expected_version(request)
        try:
            updated = self.act(referral, data, version)
        except Conflict as error:
            raise ConflictError(str(error.message)) from error
        except NotPermitted as error:
            raise Http404 from error
        except ReferralError as error:
            raise exceptions.ValidationError({"status": [str(error.message)]}) from error
        updated = self.get_queryset().get(pk=updated.pk)
        return Response(ReferralSummaryOut(updated).data, headers={"ETag": f'"{updated.version}"'})


class ConflictError(exceptions.APIException):
    status_code = 409
    default_detail = "Conflict"


class AcceptReferral(ReferralAction):
    """Accept a referral assigned to one of the organisation's units."""

    def act(self, referral, data, version):
        return self.run(referral_accept, referral, version)


class DeclineReferral(ReferralAction):
    """Decline with a reason; the referral goes on to the next unit or to triage."""

    input_serializer = DeclineIn

    def act(self, referral, data, version):
        return self.run(referral_decline, referral, version, reason=data["reason"])


class UpdateReferralStatus(ReferralAction):
    """in_progress (start or resume), on_hold (reason), completed (outcome) or failed
    (reason)."""

    input_serializer = StatusIn

    def act(self, referral, data, version):
        steps = [ACTION_SERVICES[action] for action in StatusIn.STEPS[data.pop("status")]]
        service = steps[-1] if referral.status == Status.ON_HOLD else steps[0]
        return self.run(service, referral, version, **data)


# --- Webhook endpoints, registered by the partner for its organisation --------------------


class PartnerOnly(PartnerScope):
    """Endpoints that belong to an organisation: partner tokens only."""

    def has_permission(self, request, view) -> bool:
        return partner_of(request) is not None and super().has_permission(request, view)


def organisation_endpoints(view) -> QuerySet[WebhookEndpoint]:
    if getattr(view, "swagger_fake_view", False):
        return WebhookEndpoint.objects.none()
    return WebhookEndpoint.objects.filter(organisation_id=partner_of(view.request).organisation_id)


class WebhookEndpointList(generics.ListCreateAPIView):
    """The organisation's webhook endpoints; registering one answers with its secret."""

    permission_classes = [PartnerOnly]
    required_scopes = ["referrals:read"]
    serializer_class = WebhookEndpointOut
    pagination_class = None

    def get_queryset(self):
        return organisation_endpoints(self)

    @extend_schema(request=WebhookEndpointIn, responses={201: WebhookEndpointCreated})
    def post(self, request, *args, **kwargs):
        incoming = WebhookEndpointIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        endpoint = incoming.save(organisation_id=partner_of(request).organisation_id)
        return Response(WebhookEndpointCreated(endpoint).data, status=201)


class WebhookEndpointDetail(generics.RetrieveDestroyAPIView):
    """One of the organisation's endpoints; DELETE stops the calls."""

    permission_classes = [PartnerOnly]
    required_scopes = ["referrals:read"]
    serializer_class = WebhookEndpointOut

    def get_queryset(self):
        return organisation_endpoints(self)
