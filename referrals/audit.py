"""The access log: who saw a referral's personal data, when, and through which channel.

Every face that shows personal data (page, API, export, admin) records it here.
"""

from collections.abc import Iterable

from accounts.models import User
from referrals.models import AccessLog, Referral


def log_personal_data_access(
    *, user: User, referral: Referral, channel: str, detail: str = ""
) -> AccessLog:
    return AccessLog.objects.create(
        user=user, referral=referral, channel=channel, detail=detail[:200]
    )


def log_personal_data_access_many(
    *, user: User, referrals: Iterable[Referral], channel: str, detail: str = ""
) -> None:
    """One row per referral shown (a list page, an API page), in one INSERT."""
    AccessLog.objects.bulk_create(
        AccessLog(user=user, referral=referral, channel=channel, detail=detail[:200])
        for referral in referrals
    )
