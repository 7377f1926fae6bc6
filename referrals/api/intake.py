"""Referrals filed by a partner system (``POST /api/v1/referrals/``).

The body is checked twice: its shape by ``ReferralIn`` (codes, types, lengths; phone and
identity numbers and times read as the page reads them), then by the rules of a referral
(``submission_errors``, the page's own), so a partner system meets exactly the rules, and
the messages, a caring-team member does. Submission and routing are the page's too
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
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from rest_framework import exceptions

from accounts.models import PartnerClient
from referrals.api.serializers import ReferralIn
from referrals.identity import ProtectedIdentity
from referrals.models import ApiIntake, Referral
from referrals.submission import protected_identity, referral_submit, submission_errors
from services.models import NeedCategory

# Printable ASCII without spaces at the ends, as the IETF Idempotency-Key draft suggests
# (a UUID is typical); long enough for any client's own scheme.
KEY_PATTERN = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")


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


@dataclass
class Submission:
    values: dict
    needs: list[NeedCategory]
    identity: ProtectedIdentity | None


def idempotency_key(request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not key:
        raise KeyRequired(
            {"Idempotency-Key": [_("Send an Idempotency-Key header, e.g. a new UUID.")]}
        )
    if not KEY_PATTERN.fullmatch(key):
        raise KeyRequired({"Idempotency-Key": [_("Use 1 to 255 printable ASCII characters.")]})
    return key


def submission_token(partner: PartnerClient, key: str) -> uuid.UUID:
    """The form token of a partner's submission under ``key``: keyed with the server's
    secret, so nobody who knows (or guesses) a partner's keys can compute it. Tokens are
    per referrer as well, so even a known one could not take the partner's place."""
    digest = salted_hmac("referrals.api.intake-token", f"{partner.pk}:{key}").digest()
    return uuid.UUID(bytes=digest[:16])


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


def validated(body) -> Submission:
    """The body's shape first (a 400 naming what is malformed), then every rule the page
    applies, answered together, each message as the page shows it beside its field."""
    incoming = ReferralIn(data=body)
    incoming.is_valid(raise_exception=True)
    data = incoming.validated_data
    values, needs = incoming.model_values(), data.get("needs", [])
    errors = submission_errors(values, needs=needs)
    protected = None
    try:
        protected = protected_identity(data.get("id_type", ""), data.get("id_number", ""))
    except ValidationError as error:
        errors.update(error.message_dict)
    if errors:
        raise exceptions.ValidationError(_field_errors(errors))
    return Submission(values=values, needs=needs, identity=protected)


def _field_errors(errors: dict) -> dict:
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
    submission = validated(body)
    try:
        with transaction.atomic():
            referral, created = referral_submit(
                referrer=partner.referrer_account(),
                team=partner.intake_team,
                token=submission_token(partner, key),
                values=submission.values,
                needs=submission.needs,
                identity=submission.identity,
            )
            if created:
                ApiIntake.objects.create(
                    client=partner, key=key, fingerprint=digest, referral=referral
                )
    except ValidationError as error:  # the service's own guard of the rules checked above
        errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
        raise exceptions.ValidationError(_field_errors(errors)) from error
    if not created:  # the same key, sent twice at once: the other request filed it
        return Intake(_replay(partner, key, digest) or referral, created=False)
    return Intake(referral, created=True)
