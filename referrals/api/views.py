"""The partner API's referral endpoints. Every query starts from ``api_referrals``: the
selectors' visibility for a partner (its organisation's units, what it filed) or for the
signed-in person; anything else is a 404."""

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics
from rest_framework.response import Response
from rest_framework.reverse import reverse

from referrals.api.filters import ReferralFilter
from referrals.api.intake import IntakeNotAllowed, file_referral, idempotency_key
from referrals.api.pagination import SourcesQuerySet, SyncPagination
from referrals.api.serializers import (
    DeclineIn,
    ReferralDetailOut,
    ReferralFiledOut,
    ReferralIn,
    ReferralSummaryOut,
    StatusIn,
    VersionIn,
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointOut,
)
from referrals.api.sync_rows import attach_lead_units, attach_tasks, with_sync_relations
from referrals.audit import log_personal_data_access, log_personal_data_access_many
from referrals.lifecycle import Actor, reader_unit_ids, reading_roles
from referrals.models import (
    AccessLog,
    Referral,
    ReferralEvent,
    ReferralTask,
    Status,
    WebhookEndpoint,
)
from referrals.selectors import (
    partner_sync_sources,
    referrals_visible_to,
    referrals_visible_to_partner,
)
from referrals.services import ACTION_SERVICES, referral_accept, referral_decline
from welfare_portal.api.etags import IF_MATCH_PATTERN, etag, none_match, version_from_tag
from welfare_portal.api.permissions import PartnerScope, partner_of
from welfare_portal.api.serializers import ErrorOut


def api_referrals(request) -> QuerySet[Referral]:
    if request is None:  # the OpenAPI generator inspecting the view
        return Referral.objects.none()
    partner = partner_of(request)
    if partner is not None:
        rows = referrals_visible_to_partner(partner)
    else:
        rows = referrals_visible_to(request.user).exclude(status=Status.DRAFT)
    return with_api_relations(rows)


def with_api_relations(rows: QuerySet[Referral]) -> QuerySet[Referral]:
    """What every answer about a referral shows: its places, lead unit and tasks."""
    return rows.select_related("district", "sub_district", "assigned_unit").prefetch_related(
        Prefetch(
            "tasks",
            queryset=ReferralTask.objects.select_related("unit__organisation")
            .with_need_codes()
            .order_by("created_at", "pk"),
        )
    )


def task_reader(request):
    """Who reads a referral's tasks, for ``lifecycle.tasks_for``: (roles, unit ids) per
    referral, from what was loaded with it (no query). A partner system is the referrer of
    what it filed and a unit through its organisation's tasks; a person as on the page."""
    partner = partner_of(request)

    def reader(referral: Referral):
        if partner is not None:
            unit_ids = reader_unit_ids(referral, partner=partner)
            roles = reading_roles(referral=referral, partner=partner)
            if partner.service_user_id is not None and referral.referrer_id == (
                partner.service_user_id
            ):
                roles = roles | {Actor.REFERRER}
            return roles, unit_ids
        user = request.user
        return reading_roles(referral=referral, user=user), reader_unit_ids(referral, user=user)

    return reader


class ReferralList(generics.ListAPIView):
    """GET: referrals assigned to the caller's organisation's units or filed by the client
    (partner token), or visible to the signed-in person; oldest change first. POST: file a
    referral (partner systems set up for intake)."""

    permission_classes = [PartnerScope]
    required_scopes = ["referrals:read"]
    scopes_by_method = {"POST": ["referrals:write"]}
    serializer_class = ReferralSummaryOut
    filterset_class = ReferralFilter
    pagination_class = SyncPagination

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "task_reader": task_reader(self.request)}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Referral.objects.none()
        return api_referrals(self.request)

    def list(self, request, *args, **kwargs):
        """A page of 500 is some 10,000 objects (models, their rows' dicts); held by DRF's
        reference cycles (the view and its request, the serializer and its fields, the
        response and its view) they outlived the request until a full collection of the
        garbage collector (100-300 ms, the sync's p95). Here each row is drawn by one
        serializer that holds none of them (``ListSerializer`` keeps its rows in its
        arguments), the answer is a plain list and the pagination lets go of its page: they
        are freed when the response is."""
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        summary = self.get_serializer()  # one row's serializer, holding no rows
        response = self.get_paginated_response([summary.to_representation(r) for r in page])
        self.paginator.page = None
        return response

    def dispatch(self, request, *args, **kwargs):
        """The view's own hold on its response (DRF's ``self.response``), let go: the
        response refers to the view, and the pair would be garbage only a collection finds."""
        response = super().dispatch(request, *args, **kwargs)
        self.__dict__.pop("response", None)
        return response

    def paginate_queryset(self, queryset):
        partner = partner_of(self.request)
        if partner is not None:
            # The same rows, each source of the partner's read in index order.
            sources = [self.filter_queryset(s) for s in partner_sync_sources(partner)]
            rows = with_sync_relations(Referral.objects.all())
            whole = with_sync_relations(queryset.prefetch_related(None))
            queryset = SourcesQuerySet(sources, rows, whole=whole)
        page = super().paginate_queryset(queryset)
        if partner is not None:
            attach_lead_units(page)
            attach_tasks(page)
        log_personal_data_access_many(
            user=self.request.user,
            referrals=page or [],
            channel=AccessLog.Channel.API,
            detail=caller(self.request),
            client=partner_of(self.request),
        )
        return page

    @extend_schema(
        request=ReferralIn,
        responses={201: ReferralFiledOut, 422: ErrorOut},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=True,
                pattern=r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$",
                description="Names this submission: resending the same key and body gives "
                "back the same referral (header Idempotent-Replayed: true).",
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        partner = partner_of(request)
        if partner is None:
            raise IntakeNotAllowed(_("People file referrals with the form, not the API."))
        intake = file_referral(partner=partner, key=idempotency_key(request), body=request.data)
        # The answer is the filing's: its reference and status, not yet its units' tasks
        # (routing may still be on its way; ``GET`` the referral for them).
        referral = referrals_visible_to_partner(partner).select_related(
            "district", "sub_district", "assigned_unit"
        )
        referral = referral.get(pk=intake.referral.pk)
        location = reverse("api:referral-detail", args=[referral.reference], request=request)
        headers = {"Location": location, "ETag": etag(referral.version)}
        if not intake.created:
            headers["Idempotent-Replayed"] = "true"
        return Response(ReferralFiledOut(referral).data, status=201, headers=headers)


def caller(request) -> str:
    partner = partner_of(request)
    return f"client {partner.application.client_id}" if partner else "session"


class ReferralDetail(generics.RetrieveAPIView):
    """One referral in full, with its timeline; the identity number is masked."""

    permission_classes = [PartnerScope]
    required_scopes = ["referrals:read"]
    serializer_class = ReferralDetailOut
    lookup_field = "reference"

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "task_reader": task_reader(self.request)}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Referral.objects.none()
        return api_referrals(self.request).prefetch_related(
            "needs",
            Prefetch(
                "events", queryset=ReferralEvent.objects.select_related("unit").order_by("at")
            ),
        )

    @extend_schema(
        responses={200: ReferralDetailOut, 304: None},
        parameters=[
            OpenApiParameter(
                "If-None-Match",
                location=OpenApiParameter.HEADER,
                description="The ETag of the copy you hold: 304 (no body) if it is current.",
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        referral = self.get_object()
        headers = {"ETag": etag(referral.version)}
        if not none_match(request.headers.get("If-None-Match", ""), referral.version):
            # The caller's copy is current: nothing is shown, so nothing is logged.
            return Response(status=304, headers=headers)
        show_identity = shows_identity(request) and bool(referral.id_number_encrypted)
        log_personal_data_access(
            user=request.user,
            referral=referral,
            channel=AccessLog.Channel.API,
            detail=caller(request) + (", identity number in full" if show_identity else ""),
            client=partner_of(request),
        )
        context = {
            **self.get_serializer_context(),
            "show_identity": show_identity,
            **timeline_reader(request, referral),
        }
        serializer = self.get_serializer(referral, context=context)
        return Response(serializer.data, headers=headers)


def timeline_reader(request, referral: Referral) -> dict:
    """Who reads the timeline, for ``lifecycle.timeline_for``: a partner acting as the
    assigned unit sees what the unit sees, one that filed the referral what a referrer sees.
    A partner's capacity costs no query (the assigned unit is loaded with the referral); a
    signed-in person's is one read of their memberships, as on the referral's page."""
    partner = partner_of(request)
    if partner is not None:
        roles = reading_roles(referral=referral, partner=partner)
        unit_ids = reader_unit_ids(referral, partner=partner)
        return {
            "reader_roles": roles,
            "reader_id": partner.service_user_id,
            "reader_unit_ids": unit_ids,
        }
    roles = reading_roles(referral=referral, user=request.user)
    unit_ids = reader_unit_ids(referral, user=request.user)
    return {"reader_roles": roles, "reader_id": request.user.pk, "reader_unit_ids": unit_ids}


def shows_identity(request) -> bool:
    """Only a partner token granted ``referrals:identity`` sees identity numbers in full."""
    return partner_of(request) is not None and request.auth.allow_scopes(["referrals:identity"])


# --- Actions: the same lifecycle services as the pages -----------------------------------


class ReferralAction(generics.GenericAPIView):
    """Base for the write endpoints: the referral must be the caller's (else 404), the
    caller's partner must act for the assigned unit, and ``If-Match`` (or ``version`` in the
    body) must name the version the caller saw (else 409)."""

    permission_classes = [PartnerScope]
    required_scopes = ["referrals:write"]
    lookup_field = "reference"
    serializer_class = ReferralSummaryOut
    input_serializer = VersionIn
    error_statuses = (409,)  # the version sent is not the current one

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Referral.objects.none()
        return api_referrals(self.request)

    def expected_version(self, request, sent: int | None) -> int:
        header = request.headers.get("If-Match", "")
        if not header.strip():
            if sent is None:
                raise exceptions.ValidationError(
                    {"version": [_("Send the version you saw, in If-Match or as “version”.")]}
                )
            return sent
        version = version_from_tag(header)
        if version is None:
            raise exceptions.ValidationError({"If-Match": [_("Not a version number.")]})
        return version

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

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "If-Match",
                location=OpenApiParameter.HEADER,
                pattern=IF_MATCH_PATTERN,
                description="The version you saw (the ETag), or send it as “version”.",
            )
        ]
    )
    def post(self, request, *args, **kwargs):
        referral = self.get_object()
        incoming = self.input_serializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        version = self.expected_version(request, data.pop("version", None))
        # A refusal (stale version 409, a step one may not take 404, the wrong status or a
        # missing reason 400) is answered by the exception handler from its class.
        updated = self.act(referral, data, version)
        # A unit declining its part of a shared referral leaves it (``tasks_seen_by``): the
        # answer is still its own step, read past the visibility it no longer has.
        updated = self.get_queryset().filter(pk=updated.pk).first() or with_api_relations(
            Referral.objects
        ).get(pk=updated.pk)
        context = {"task_reader": task_reader(request)}
        return Response(
            ReferralSummaryOut(updated, context=context).data,
            headers={"ETag": etag(updated.version)},
        )


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
