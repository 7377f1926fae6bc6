"""``POST /api/v1/outreach/lists/{id}/households/``: a partner system (the list's
``loader_client``, scope ``outreach:write``) loads households into a visit list.

The households go through ``outreach.loading.load_households``, exactly as an imported
file's rows do: all of a call is stored or none of it, and a household whose
``source_row_id`` is already in the list is counted ``unchanged``, so a call sent again
(a time-out, a retry) adds nothing. Another client, or a person signed in, gets the 404 of
a list that does not exist.
"""

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from outreach.api.serializers import (
    HouseholdLoadIn,
    HouseholdLoadOut,
    as_rows,
    field_of,
)
from outreach.loading import LoadRefused, load_households
from outreach.models import VisitList
from welfare_portal.api.permissions import PartnerScope, partner_of


class HouseholdLoadView(APIView):
    """POST: up to 1,000 households into the list; 201 with the counts, or 400 naming every
    bad household (nothing stored)."""

    permission_classes = [PartnerScope]
    required_scopes = ["outreach:write"]
    error_statuses = (404,)

    @extend_schema(
        operation_id="outreach_households_load",
        summary="Load households into a visit list",
        description=(
            "All or nothing, idempotent by source_row_id. A household that breaks the "
            "loading rules refuses the whole call: the 400 (the one error shape) names each "
            "problem in `fields` (`households.1.people.0.phone`) and, as well, in `errors`: "
            "a list of {index, field, message}, the index being the household's position."
        ),
        request=HouseholdLoadIn,
        responses={201: HouseholdLoadOut},
    )
    def post(self, request, public_id):
        partner = partner_of(request)
        visit_list = (
            VisitList.objects.filter(public_id=public_id, loader_client=partner).first()
            if partner is not None
            else None
        )
        if visit_list is None:
            raise Http404
        incoming = HouseholdLoadIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        rows = as_rows(incoming.validated_data["households"])
        try:
            report = load_households(visit_list, rows, client=partner)
        except LoadRefused as refused:
            return Response(refusal(refused), status=400)
        return Response(
            HouseholdLoadOut({"created": report.created, "unchanged": report.unchanged}).data,
            status=201,
        )


def refusal(refused: LoadRefused) -> dict:
    errors = [
        {"index": error.line, "field": field_of(error.field), "message": error.message}
        for error in refused.report.errors
    ]
    fields: dict[str, list[str]] = {}
    for error in errors:
        fields.setdefault(f"households.{error['index']}.{error['field']}", []).append(
            error["message"]
        )
    return {
        "error": "invalid",
        "message": _("Some households are not valid, so none was loaded."),
        "fields": fields,
        "errors": errors,
    }
