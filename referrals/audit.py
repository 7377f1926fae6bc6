"""The access log: who saw a referral's personal data, when, and through which channel.

Every face that shows personal data (page, API, export, admin) records it here.
"""

from collections.abc import Iterable

from accounts.models import PartnerClient, User
from referrals.models import AccessLog, Referral


def log_personal_data_access(
    *,
    user: User | None,
    referral: Referral,
    channel: str,
    detail: str = "",
    client: PartnerClient | None = None,
) -> AccessLog:
    """``client``: the partner system that read it (API, no user), searchable in the admin."""
    return AccessLog.objects.create(
        user=user, client=client, referral=referral, channel=channel, detail=detail[:200]
    )


def log_personal_data_access_many(
    *,
    user: User | None,
    referrals: Iterable[Referral],
    channel: str,
    detail: str = "",
    client: PartnerClient | None = None,
) -> None:
    """One row per referral shown (a list page, an API page), in one INSERT. By id: the
    relations' descriptors were most of the Python time of a 500-row API page."""
    user_id, client_id, detail = (
        getattr(user, "pk", None),
        getattr(client, "pk", None),
        detail[:200],
    )
    AccessLog.objects.bulk_create(
        AccessLog(
            user_id=user_id,
            client_id=client_id,
            referral_id=referral.pk,
            channel=channel,
            detail=detail,
        )  # fmt: skip
        for referral in referrals
    )
