"""What anyone may learn about other open referrals for the same person, and how often.

The referral form warns its referrer of possible duplicates before they submit; the
referral's page lists the duplicates linked at submission. Both answer a question about
people the asker may have no right to know about, so both ask here (issue 14 item 2):

* A referral the asker may see (``referrals_visible_to``) is named: reference, status, unit.
  Any other is only "a referral for this person may already be open": the district office
  checks it, as the link made at submission shows them (and only them).
* Every hit on the form is written to the access log of the referral it found, so whoever
  probes a person's records is on that record.
* Checks cost: a referrer may check so many different identity numbers or phone numbers an
  hour (``DUPLICATE_CHECKS_PER_HOUR``); the same form posted again costs nothing. With the
  mask leaving 10,000 candidates (``identity.mask``) guessing a number from a mask is then
  out of reach.
* The form's own referral is never its duplicate: a form submitted twice at once must not
  warn its referrer about the referral the other request has just created (item 18).
"""

import hashlib
import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from referrals.audit import log_personal_data_access_many
from referrals.errors import ReferralError
from referrals.models import AccessLog, Referral
from referrals.selectors import (
    DuplicateHint,
    duplicate_hints,
    possible_duplicates,
    referrals_visible_to,
)
from welfare_portal.cache import counting_cache

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 3600
LOG_DETAIL = "duplicate check on the referral form"


class TooManyChecks(ReferralError):
    """The referrer has checked too many different people in the last hour."""

    status_code = 429
    code = "too_many_duplicate_checks"


@dataclass(frozen=True)
class DuplicateWarning:
    """The form's warning: the referrals named to this referrer, and whether there are
    others it may not name."""

    named: list[DuplicateHint] = field(default_factory=list)
    elsewhere: bool = False

    def __bool__(self) -> bool:
        return bool(self.named) or self.elsewhere


@dataclass(frozen=True)
class DuplicateLinks:
    """The duplicates linked to a referral, as its page may show them to one reader."""

    visible: list[Referral]
    hidden: int


def _visible_pks(user: User, referrals: list[Referral]) -> set[int]:
    if not referrals:
        return set()
    return set(
        referrals_visible_to(user)
        .filter(pk__in=[r.pk for r in referrals])
        .values_list("pk", flat=True)
    )


def _spend_check(user: User, *, id_hash: str, phone: str) -> None:
    """Count a check of a new identity number or phone number; refuse past the limit."""
    probe = hashlib.sha256(f"{id_hash}|{phone}".encode()).hexdigest()[:16]
    key = f"duplicate-checks:{user.pk}"
    now, cache = time.time(), counting_cache()
    recent = {p: at for p, at in (cache.get(key) or {}).items() if at > now - WINDOW_SECONDS}
    if probe in recent:
        return
    if len(recent) >= settings.DUPLICATE_CHECKS_PER_HOUR:
        logger.warning("duplicate checks refused for user %s: over the hourly limit", user.pk)
        raise TooManyChecks(
            _(
                "You have checked many different people for open referrals in the last "
                "hour. Try again later, or ask your district office."
            )
        )
    recent[probe] = now
    cache.set(key, recent, WINDOW_SECONDS)


def duplicate_check(
    *,
    user: User,
    token,
    id_hash: str = "",
    phone: str = "",
    names: tuple[str, ...] = (),
    exclude_pk: int | None = None,
) -> DuplicateWarning:
    """The warning for a form about to be submitted by ``user`` (``TooManyChecks`` past
    the hourly limit). ``token`` is the form's: its own referral is not a duplicate."""
    if not (id_hash or phone):
        return DuplicateWarning()
    _spend_check(user, id_hash=id_hash, phone=phone)
    found = [
        referral
        for referral in possible_duplicates(
            id_hash=id_hash, phone=phone, names=names, exclude_pk=exclude_pk
        )
        if not (referral.referrer_id == user.pk and referral.submission_token == token)
    ]
    if not found:
        return DuplicateWarning()
    log_personal_data_access_many(
        user=user, referrals=found, channel=AccessLog.Channel.PAGE, detail=LOG_DETAIL
    )
    logger.info("duplicate check by user %s matched %d open referral(s)", user.pk, len(found))
    visible = _visible_pks(user, found)
    return DuplicateWarning(
        named=duplicate_hints([r for r in found if r.pk in visible]),
        elsewhere=any(r.pk not in visible for r in found),
    )


def duplicate_links(*, user: User, referral: Referral) -> DuplicateLinks:
    """The duplicates linked to ``referral`` that ``user`` may open, and how many others
    there are (another office's: that office sees them on its own page)."""
    linked = list(referral.possible_duplicates.all())
    visible = _visible_pks(user, linked)
    return DuplicateLinks(
        visible=[r for r in linked if r.pk in visible],
        hidden=sum(r.pk not in visible for r in linked),
    )
