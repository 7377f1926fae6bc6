"""``POST /api/v1/notices/``: an urgent notice from the hospital side (issue 16).

The body names the carer admitted to hospital and the people they care for. Each person is
checked as a referral filed through the API is (``intake.validated``: the referral's fields,
then the page's submission rules), with what every notice's referral carries already set
(``notices.person_values``: urgent, the exemption, the pathway's risk factor), so a person
the rules would refuse is named with the reason and nothing of the notice is stored. The
``Idempotency-Key`` names the notice, as for a referral.
"""

import uuid

from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from referrals.api.intake import (
    KEY_PATTERN,
    IntakeNotAllowed,
    KeyReused,
    fingerprint,
    idempotency_key,
    validated,
)
from referrals.api.serializers import InRangeDateTimeField, PhoneField
from referrals.notices import Person, earlier_fingerprint, notice_receive, person_values
from welfare_portal.api.permissions import PartnerScope, partner_of
from welfare_portal.api.serializers import ErrorOut

MAX_PEOPLE = 10


class NoticeIn(serializers.Serializer):
    carer_name = serializers.CharField(max_length=100)
    carer_phone = PhoneField(max_length=32, required=False, allow_blank=True)
    admitted_at = InRangeDateTimeField(required=False, allow_null=True)
    hospital = serializers.CharField(max_length=120, required=False, allow_blank=True)
    cared_for = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=MAX_PEOPLE,
        help_text="The people the carer cares for, each as a referral body "
        "(POST /api/v1/referrals/) without consent fields: district, names, phone, "
        "address, needs …",
    )


class NoticeReferralOut(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.CharField()
    url = serializers.CharField()


class NoticeOut(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    received_at = serializers.DateTimeField()
    referrals = NoticeReferralOut(many=True)


def person_token(partner, key: str, index: int) -> uuid.UUID:
    """The submission token of the ``index``-th person of a notice: keyed with the server's
    secret, as ``intake.submission_token`` is."""
    digest = salted_hmac("referrals.api.notice-token", f"{partner.pk}:{key}:{index}").digest()
    return uuid.UUID(bytes=digest[:16])


class NoticeList(APIView):
    """POST: an urgent notice; it opens an urgent referral per person cared for, assigned at
    once to the carers' hotline and the local unit on the 24-hour clock."""

    permission_classes = [PartnerScope]
    required_scopes = ["notices:write"]

    @extend_schema(
        request=NoticeIn,
        responses={201: NoticeOut, 400: ErrorOut, 422: ErrorOut},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                location=OpenApiParameter.HEADER,
                required=True,
                pattern=f"^{KEY_PATTERN.pattern}$",
                description="Names this notice: resending the same key and body gives back "
                "the same referrals (header Idempotent-Replayed: true).",
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        partner = partner_of(request)
        if partner is None or partner.intake_team_id is None:
            raise IntakeNotAllowed(_("This client is not set up to send notices."))
        key = idempotency_key(request)
        if not isinstance(request.data, dict):
            raise exceptions.ParseError(_("Send the notice as a JSON object."))
        digest = fingerprint(request.data)
        earlier = earlier_fingerprint(partner, key)
        if earlier is not None and earlier != digest:
            raise KeyReused(
                _("This Idempotency-Key was used with another request body. Use a new key.")
            )
        incoming = NoticeIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        carer, hospital = data["carer_name"], data.get("hospital", "")
        people = people_in(data["cared_for"], carer=carer, hospital=hospital)
        intake = notice_receive(
            partner=partner,
            key=key,
            fingerprint=digest,
            carer_name=carer,
            carer_phone=data.get("carer_phone", ""),
            admitted_at=data.get("admitted_at"),
            hospital=hospital,
            people=people,
            token_for=lambda index: person_token(partner, key, index),
        )
        headers = {} if intake.created else {"Idempotent-Replayed": "true"}
        return Response(NoticeOut(answer(intake, request)).data, status=201, headers=headers)


def people_in(bodies, *, carer: str, hospital: str) -> list[Person]:
    """Each person cared for, checked as a referral filed through the API with what a
    notice's referral carries; all the refusals at once, per person (``cared_for.1.phone``)."""
    people, errors = [], {}
    for index, body in enumerate(bodies):
        try:
            submission = validated(person_values(body, carer_name=carer, hospital=hospital))
        except exceptions.ValidationError as error:
            errors[str(index)] = error.detail
            continue
        people.append(Person(submission.values, submission.needs, submission.identity))
    if errors:
        raise exceptions.ValidationError({"cared_for": errors})
    return people


def answer(intake, request) -> dict:
    return {
        "public_id": intake.notice.public_id,
        "received_at": intake.notice.received_at,
        "referrals": [
            {
                "reference": referral.reference,
                "status": referral.status,
                "url": reverse("api:referral-detail", args=[referral.reference], request=request),
            }
            for referral in intake.referrals
        ],
    }
