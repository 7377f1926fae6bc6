"""``GET /api/v1/transfers/`` and ``…/transfers/{id}/``: the planned transfers of the
organisation's cases (issue 17), incoming and outgoing, with their handover.

A row is one case of a unit-to-unit plan (``TransferCase``) whose sending or receiving unit
is one of the partner organisation's; a move between workers inside a unit is the unit's
own business and never appears. ``direction`` is the caller's side of it. The handover note
and the reason a family was not told are what a new worker needs, so the receiving side
reads them only while the case is, or has become, its own (moved or accepted); before that
(planned, not moved) and after it declined the case, they are null. No worker's name or
user id is shown, on either side. Every row that shows a handover note writes an access-log
row for its referral, as a referral read does.
"""

from django.db.models import Case, Q, QuerySet, Value, When
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as django_filters
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, generics, serializers
from rest_framework.pagination import Cursor, CursorPagination

from referrals.api.filters import UtcIsoDateTimeFilter
from referrals.api.views import PartnerOnly, caller
from referrals.audit import log_personal_data_access, log_personal_data_access_many
from referrals.models import AccessLog, TransferCase, TransferPlan
from referrals.transfer_plans import handover_readable
from services.models import ServiceUnit
from welfare_portal.api.permissions import partner_of

State = TransferCase.State


class Direction:
    """The caller's side of a transfer."""

    INCOMING = "incoming"  # to one of the organisation's units
    OUTGOING = "outgoing"  # from one of them
    INTERNAL = "internal"  # between two of them
    CHOICES = [
        (INCOMING, _("Incoming: to one of our units")),
        (OUTGOING, _("Outgoing: from one of our units")),
        (INTERNAL, _("Internal: between two of our units")),
    ]


# The case's own columns an answer reads (with its plan's, referral's and units').
TRANSFER_COLUMNS = (
    "pk",
    "plan",
    "referral",
    "from_unit",
    "to_unit",
    "state",
    "handover_note",
    "family_informed_at",
    "not_informed_reason",
    "moved_at",
    "answered_at",
    "answer_reason",
)


def organisation_transfers(request) -> QuerySet[TransferCase]:
    """The cases of unit-to-unit plans sent from or to the partner organisation's units,
    each with its ``direction``. The units are read first (one query) so that the filter is
    two index scans on plain ids, as ``selectors.referrals_visible_to`` does."""
    partner = partner_of(request) if request is not None else None
    if partner is None:  # the OpenAPI generator inspecting the view
        return TransferCase.objects.none()
    units = list(
        ServiceUnit.objects.filter(organisation_id=partner.organisation_id).values_list(
            "pk", flat=True
        )
    )
    sent, received = Q(from_unit_id__in=units), Q(to_unit_id__in=units)
    return (
        TransferCase.objects.filter(sent | received, plan__kind=TransferPlan.Kind.UNIT)
        .annotate(
            direction=Case(
                When(sent & received, then=Value(Direction.INTERNAL)),
                When(received, then=Value(Direction.INCOMING)),
                default=Value(Direction.OUTGOING),
            )
        )
        .select_related("plan", "referral", "from_unit", "to_unit")
        .only(
            *TRANSFER_COLUMNS,
            "plan__public_id",
            "plan__title",
            "plan__reason",
            "plan__effective_on",
            "plan__state",
            "referral__reference",
            "referral__public_id",
            "from_unit__code",
            "to_unit__code",
        )
    )


def shows_handover(case: TransferCase) -> bool:
    return handover_readable(case, receiving=case.direction == Direction.INCOMING)


# --- Output ---------------------------------------------------------------------------------


class TransferPlanOut(serializers.ModelSerializer):
    """The plan the case moves in: one plan may send cases to several units."""

    id = serializers.UUIDField(source="public_id")

    class Meta:
        model = TransferPlan
        fields = ["id", "title", "reason", "effective_on", "state"]


class TransferReferralOut(serializers.Serializer):
    reference = serializers.CharField()
    public_id = serializers.UUIDField()


class TransferOut(serializers.ModelSerializer):
    """One case of a plan, from the caller's side. ``handover_note`` and
    ``not_informed_reason`` are null for an incoming case that has not reached the unit
    (planned, skipped, taken out of the plan) or that the unit declined."""

    plan = TransferPlanOut()
    referral = TransferReferralOut()
    direction = serializers.ChoiceField(choices=Direction.CHOICES)
    from_unit = serializers.CharField(source="from_unit.code")
    to_unit = serializers.CharField(source="to_unit.code")
    handover_note = serializers.SerializerMethodField()
    not_informed_reason = serializers.SerializerMethodField()

    class Meta:
        model = TransferCase
        fields = [
            "id",
            "plan",
            "referral",
            "direction",
            "from_unit",
            "to_unit",
            "state",
            "handover_note",
            "family_informed_at",
            "not_informed_reason",
            "moved_at",
            "answered_at",
            "answer_reason",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_handover_note(self, case: TransferCase):
        return case.handover_note if shows_handover(case) else None

    @extend_schema_field(serializers.CharField(allow_null=True, allow_blank=True))
    def get_not_informed_reason(self, case: TransferCase):
        return case.not_informed_reason if shows_handover(case) else None


# --- Filters and pages ----------------------------------------------------------------------


class TransferFilter(django_filters.FilterSet):
    """``modified_after``: a case planned, moved or answered, or whose plan ran, after the
    time (a case has no update time of its own: an edit of its handover before the move, or
    its removal from the plan, is not a change this filter sees)."""

    direction = django_filters.ChoiceFilter(choices=Direction.CHOICES)
    state = django_filters.MultipleChoiceFilter(choices=TransferCase.State.choices)
    plan = django_filters.UUIDFilter(field_name="plan__public_id")
    reference = django_filters.CharFilter(field_name="referral__reference")
    modified_after = UtcIsoDateTimeFilter(method="filter_modified_after")

    class Meta:
        model = TransferCase
        fields = ["direction", "state", "plan", "reference", "modified_after"]

    def filter_modified_after(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(
            Q(plan__created_at__gt=value)
            | Q(plan__ran_at__gt=value)
            | Q(moved_at__gt=value)
            | Q(answered_at__gt=value)
        )


class TransferPagination(CursorPagination):
    """Oldest first (by id), so a new case comes at the end of a pass."""

    ordering = ("id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        """A forged position that is not an id is an invalid cursor (404), not an error."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        if not cursor.position.isdigit() or len(cursor.position) > 18:
            raise exceptions.NotFound(self.invalid_cursor_message)
        return Cursor(offset=cursor.offset, reverse=cursor.reverse, position=cursor.position)


# --- Views ----------------------------------------------------------------------------------


def log_handover_reads(request, cases) -> None:
    """One access-log row per case whose handover note is shown (personal data of its
    referral), in one INSERT."""
    log_personal_data_access_many(
        user=request.user,
        referrals=[case.referral for case in cases if shows_handover(case)],
        channel=AccessLog.Channel.API,
        detail=f"{caller(request)}, transfer handover",
        client=partner_of(request),
    )


class TransferList(generics.ListAPIView):
    """The transfers of the organisation's cases, incoming and outgoing (partner tokens)."""

    permission_classes = [PartnerOnly]
    required_scopes = ["referrals:read"]
    serializer_class = TransferOut
    filterset_class = TransferFilter
    pagination_class = TransferPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TransferCase.objects.none()
        return organisation_transfers(self.request)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        log_handover_reads(self.request, page or [])
        return page


class TransferDetail(generics.RetrieveAPIView):
    """One transfer of the organisation's cases; another organisation's is a 404."""

    permission_classes = [PartnerOnly]
    required_scopes = ["referrals:read"]
    serializer_class = TransferOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TransferCase.objects.none()
        return organisation_transfers(self.request)

    def get_object(self):
        case = super().get_object()
        if shows_handover(case):
            log_personal_data_access(
                user=self.request.user,
                referral=case.referral,
                channel=AccessLog.Channel.API,
                detail=f"{caller(self.request)}, transfer handover",
                client=partner_of(self.request),
            )
        return case
