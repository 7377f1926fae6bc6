"""Referrals filed by a partner system (``POST /api/v1/referrals/``).

The body is checked twice: its shape by ``ReferralIn`` (codes, types, lengths), then by the
referral form itself (``ReferralForm`` with ``submitting=True``), so a partner system meets
exactly the rules a caring-team member does. Submission and routing are the form's too
(``referral_submit``). The ``Idempotency-Key`` names the submission: the same key with the
same body gives back the referral it filed; with another body it is refused.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework import exceptions

from accounts.models import PartnerClient
from referrals.api.serializers import ReferralIn
from referrals.models import ApiIntake, Referral
from referrals.submission import referral_submit
from referrals.web.forms import ReferralForm
from services.models import ServiceUnit

# Printable ASCII without spaces at the ends, as the IETF Idempotency-Key draft suggests
# (a UUID is typical); long enough for any client's own scheme.
KEY_PATTERN = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")
NAMESPACE = uuid.UUID("6f1d9a52-8d7c-4f57-9a31-3c3a55e0c2b1")


class KeyRequired(exceptions.ValidationError):
    error_code = "idempotency_key_required"


class KeyReused(exceptions.APIException):
    status_code = 422
    error_code = "idempotency_key_reused"


class IntakeNotAllowed(exceptions.PermissionDenied):
    error_code = "intake_not_allowed"


@dataclass
class Intake:
    referral: Referral
    created: bool


def idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not key:
        raise KeyRequired(
            {"Idempotency-Key": [_("Send an Idempotency-Key header, e.g. a new UUID.")]}
        )
    if not KEY_PATTERN.fullmatch(key):
        raise KeyRequired({"Idempotency-Key": [_("Use 1 to 255 printable ASCII characters.")]})
    return key


def fingerprint(body) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # A lone surrogate (JSON allows "\ud800") has no UTF-8 form; such a body is refused by
    # validation, but its fingerprint must not fail first. Valid text hashes as before.
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _replay(partner: PartnerClient, key: str, digest: str) -> Referral | None:
    earlier = ApiIntake.objects.select_related("referral").filter(client=partner, key=key).first()
    if earlier is None:
        return None
    if earlier.fingerprint != digest:
        raise KeyReused(
            _("This Idempotency-Key was used with another request body. Use a new key.")
        )
    return earlier.referral


def _validated(partner: PartnerClient, body, token: uuid.UUID) -> ReferralForm:
    incoming = ReferralIn(data=body)
    incoming.is_valid(raise_exception=True)
    team = partner.intake_team
    form = ReferralForm(
        data={**incoming.form_data(), "token": str(token), "team": team.pk},
        teams=ServiceUnit.objects.filter(pk=team.pk),
        submitting=True,
        instance=Referral(),
    )
    if not form.is_valid():
        raise exceptions.ValidationError(_field_errors(form.errors))
    return form


def _field_errors(errors) -> dict:
    return {
        ("non_field_errors" if name == "__all__" else name): [str(m) for m in messages]
        for name, messages in errors.items()
    }


def file_referral(*, partner: PartnerClient, key: str, body) -> Intake:
    """Submit the referral ``body`` describes as ``partner``'s team, once per key."""
    if partner.intake_team_id is None:
        raise IntakeNotAllowed(_("This client is not set up to file referrals."))
    if not isinstance(body, dict):
        raise exceptions.ParseError(_("Send the referral as a JSON object."))
    digest = fingerprint(body)
    earlier = _replay(partner, key, digest)
    if earlier is not None:
        return Intake(earlier, created=False)
    token = uuid.uuid5(NAMESPACE, f"{partner.pk}:{key}")
    form = _validated(partner, body, token)
    data = form.cleaned_data
    try:
        with transaction.atomic():
            referral, created = referral_submit(
                referrer=partner.referrer_account(),
                team=data["team"],
                token=token,
                values=form.model_values(),
                needs=data["needs"],
                identity=data["identity"],
            )
            if created:
                ApiIntake.objects.create(
                    client=partner, key=key, fingerprint=digest, referral=referral
                )
    except ValidationError as error:
        raise exceptions.ValidationError({"non_field_errors": error.messages}) from error
    if not created:  # the same key, sent twice at once: the other request filed it
        return Intake(_replay(partner, key, digest) or referral, created=False)
    return Intake(referral, created=True)
