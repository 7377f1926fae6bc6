"""Re-encrypt every stored identity number under the first key (issue 15).

The rules for one token are ``referrals.identity``'s (``reencrypt``, ``decrypts_with_primary``,
``rehash``); this command walks the table in batches of primary keys, one transaction per
batch, and writes each row only if it still holds what was read (compare-and-swap), so an
edit made while it runs is never overwritten. It prints counts and referral references,
never a number, a token or a name.
"""

from dataclasses import dataclass, field

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from referrals.identity import decrypt, decrypts_with_primary, reencrypt, rehash
from referrals.models import Referral

BATCH_SIZE = 500
FIELDS = ("pk", "reference", "id_type", "id_number_encrypted", "id_number_hash")


@dataclass
class Tally:
    examined: int = 0
    reencrypted: int = 0  # rotated to the first key now
    under_primary: int = 0  # already readable with the first key alone
    not_yet: int = 0  # --check: still needs an older key
    changed: int = 0  # edited while the command ran: left as it was
    rehashed: int = 0
    stale_hashes: int = 0  # --check --rehash: hash not under the current hash key
    unreadable: list[str] = field(default_factory=list)


def label(pk: int, reference: str | None) -> str:
    """How a referral is named in the output: its reference, or a draft's row id."""
    return reference or f"draft (id {pk})"


def read_batch(after: int, size: int) -> list[tuple]:
    """The next ``size`` rows (``FIELDS``) with an identity number, past primary key
    ``after``, in primary-key order."""
    return list(
        Referral.objects.exclude(id_number_encrypted="")
        .filter(pk__gt=after)
        .order_by("pk")
        .values_list(*FIELDS)[:size]
    )


def rotate_row(row, tally: Tally, *, with_hash: bool) -> None:
    """Re-encrypt (and with ``with_hash`` re-hash) one row if it needs it, compare-and-swap."""
    pk, reference, id_type, token, digest = row
    tally.examined += 1
    try:
        primary = decrypts_with_primary(token)
        new_token = token if primary else reencrypt(token)
        new_digest = rehash(id_type, token) if with_hash else digest
    except ValueError:
        tally.unreadable.append(label(pk, reference))
        return
    changes = {}
    if new_token != token:
        changes["id_number_encrypted"] = new_token
    if new_digest != digest:
        changes["id_number_hash"] = new_digest
    # Neither ``version`` nor ``updated_at`` moves: the referral's content is the same, so
    # an open page stays current and partners' sync sees no change.
    if changes and not (
        Referral.objects.filter(pk=pk, id_number_encrypted=token, id_number_hash=digest).update(
            **changes
        )
    ):
        tally.changed += 1
        return
    tally.under_primary += primary
    tally.reencrypted += not primary
    tally.rehashed += "id_number_hash" in changes


def check_row(row, tally: Tally, *, with_hash: bool) -> None:
    pk, reference, id_type, token, digest = row
    tally.examined += 1
    try:
        if decrypts_with_primary(token):
            tally.under_primary += 1
        else:
            decrypt(token)
            tally.not_yet += 1
        if with_hash and rehash(id_type, token) != digest:
            tally.stale_hashes += 1
    except ValueError:
        tally.unreadable.append(label(pk, reference))


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored identity number under the first key of "
        "IDENTITY_ENCRYPTION_KEYS (after putting a new key first), in batches, never "
        "overwriting a concurrent edit. --check changes nothing and fails while any number "
        "still needs an older key; --rehash also recomputes the identity hashes under the "
        "current IDENTITY_HASH_KEY. Prints counts and references only."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            metavar="N",
            help=f"Rows per transaction (default {BATCH_SIZE}).",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing: count the numbers not yet under the first key and exit "
            "non-zero if there are any (then the old key must stay).",
        )
        parser.add_argument(
            "--rehash",
            action="store_true",
            help="Also recompute id_number_hash under the current IDENTITY_HASH_KEY (after "
            "rotating the hash key); with --check, count the hashes still to recompute.",
        )

    def handle(self, *args, batch_size: int, check: bool, rehash: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        tally = Tally()
        step = check_row if check else rotate_row
        last = 0
        while True:
            with transaction.atomic():  # one transaction per batch
                rows = read_batch(last, batch_size)
                for row in rows:
                    step(row, tally, with_hash=rehash)
            if not rows:
                break
            last = rows[-1][0]
        if check:
            self._report_check(tally, with_hash=rehash)
        else:
            self._report_rotation(tally, with_hash=rehash)

    def _report_rotation(self, tally: Tally, *, with_hash: bool) -> None:
        self.stdout.write(
            f"Examined {tally.examined:,} identity numbers: {tally.reencrypted:,} re-encrypted "
            f"under the first key, {tally.under_primary:,} already under it, "
            f"{tally.changed:,} changed concurrently (skipped), "
            f"{len(tally.unreadable):,} unreadable."
        )
        if with_hash:
            self.stdout.write(
                f"Identity hashes: {tally.rehashed:,} recomputed under the current "
                "IDENTITY_HASH_KEY."
            )
        if tally.changed:
            self.stdout.write(
                self.style.WARNING(
                    f"{tally.changed:,} referrals were edited while this ran and were left as "
                    "the edit wrote them, not overwritten. Run "
                    "`reencrypt_identities --check` to confirm they are under the first key."
                )
            )
        self._fail_if_unreadable(tally, done="The others were done.")
        self.stdout.write(self.style.SUCCESS("Done."))

    def _report_check(self, tally: Tally, *, with_hash: bool) -> None:
        self.stdout.write(
            f"Checked {tally.examined:,} identity numbers: {tally.under_primary:,} under the "
            f"first key, {tally.not_yet:,} not yet, {len(tally.unreadable):,} unreadable."
        )
        if with_hash:
            self.stdout.write(
                f"Identity hashes: {tally.stale_hashes:,} not under the current IDENTITY_HASH_KEY."
            )
        self._fail_if_unreadable(tally, done="Nothing was changed.")
        if tally.not_yet:
            raise CommandError(
                f"{tally.not_yet:,} identity numbers are not yet encrypted under the first "
                "key: run `manage.py reencrypt_identities`, and keep the old key in "
                "IDENTITY_ENCRYPTION_KEYS until this check passes."
            )
        if tally.stale_hashes:
            raise CommandError(
                f"{tally.stale_hashes:,} identity hashes are not under the current "
                "IDENTITY_HASH_KEY: run `manage.py reencrypt_identities --rehash`."
            )
        self.stdout.write(
            self.style.SUCCESS(
                "Every identity number is encrypted under the first key: keys after the "
                "first in IDENTITY_ENCRYPTION_KEYS are no longer needed."
            )
        )

    def _fail_if_unreadable(self, tally: Tally, *, done: str) -> None:
        if not tally.unreadable:
            return
        for name in tally.unreadable:
            self.stderr.write(f"  unreadable: {name}")
        raise CommandError(
            f"{len(tally.unreadable):,} identity numbers could not be decrypted with any key "
            "in IDENTITY_ENCRYPTION_KEYS (referrals listed above). Put back the key they were "
            f"encrypted with and run again. {done}"
        )
