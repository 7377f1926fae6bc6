"""The access log: who saw a referral's personal data, when, and through which channel.

Every face that shows personal data (page, API, export, admin) records it here.
"""

from collections.abc import Iterable

from django.db import connections, router
from django.utils import timezone

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
    """One row per referral shown (a list page, an API page), in one INSERT. On PostgreSQL
    the ids go as one array (``unnest``): a 500-row API page's ``bulk_create`` spent more
    in building 500 models and binding 3,000 parameters than the insert took."""
    user_id, client_id, detail = (
        getattr(user, "pk", None),
        getattr(client, "pk", None),
        detail[:200],
    )
    ids = [referral.pk for referral in referrals]
    if not ids:
        return
    if connections[router.db_for_write(AccessLog)].vendor == "postgresql":
        _insert_unnested(ids, user_id=user_id, client_id=client_id, channel=channel, detail=detail)
        return
    AccessLog.objects.bulk_create(
        AccessLog(
            user_id=user_id, client_id=client_id, referral_id=pk, channel=channel, detail=detail
        )
        for pk in ids
    )


def _insert_unnested(ids: list[int], **columns) -> None:
    """The rows ``bulk_create`` would write, ``at`` the time as ``auto_now_add`` sets it."""
    table = AccessLog._meta.db_table
    with connections[router.db_for_write(AccessLog)].cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" (at, user_id, client_id, referral_id, channel, detail)'  # noqa: S608
            " SELECT %s, %s, %s, unnest(%s::bigint[]), %s, %s",
            [
                timezone.now(),
                columns["user_id"],
                columns["client_id"],
                ids,
                columns["channel"],
                columns["detail"],
            ],
        )
