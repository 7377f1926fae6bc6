"""Identity-key rotation end to end (issue 15): new key first, ``reencrypt_identities``, old key
removed, every number still readable; the hash key's rotation with ``--rehash``.

Runs on SQLite and PostgreSQL alike: it needs no database tool, only the table.
"""

import uuid

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from referrals import identity
from referrals.duplicates import duplicate_check
from referrals.models import Referral
from referrals.submission import referral_save_draft, referral_submit
from services.models import NeedCategory
from tests import factories
from tests.referrals.conftest import file_through_page

pytestmark = pytest.mark.django_db

OLD_KEY, NEW_KEY, LOST_KEY = (Fernet.generate_key().decode() for _ in range(3))
NEW_HASH_KEY = "rotated-test-only-hmac-key-5d1e0c93b7a24f68"
# What each referral was filed with: (document type, as typed, as stored).
PEOPLE = {
    "form-1": ("hkid", "A123456(3)", "A1234563"),
    "form-2": ("twid", "f234567898", "F234567898"),
    "service": ("hkid", "AB987654(3)", "AB9876543"),
    "draft": ("hkid", "G123456(A)", "G123456A"),
    "factory": ("twid", "A123456789", "A123456789"),
}
NAMES = {key: (f"測試{n}", f"Test Person {key}") for n, key in enumerate(PEOPLE)}


def values(district, key: str, phone: str) -> dict:
    name_zh, name_en = NAMES[key]
    return {
        "district": district,
        "subject_name_zh": name_zh,
        "subject_name_en": name_en,
        "phone": phone,
        "address": "Flat C, 2/F, Synthetic House, Sham Shui Po",
        "household": "lives_alone",
        "risk_factors": [],
        "consent_basis": "consent",
        "consent_given_by": "subject",
        "consent_method": "verbal",
        "consent_given_at": timezone.now(),
    }


@pytest.fixture
def filed(settings, client, referrer, caring_team, referral_form):
    """Five referrals whose identity numbers were encrypted under OLD_KEY alone: two through
    the referral form, one through ``referral_submit``, a draft, and one straight from the
    factory (a closed case); plus one with no identity number. Returns {pk: number}."""
    settings.IDENTITY_ENCRYPTION_KEYS = [OLD_KEY]
    client.force_login(referrer)
    for n, key in enumerate(["form-1", "form-2"]):
        id_type, typed, _ = PEOPLE[key]
        name_zh, name_en = NAMES[key]
        answer = file_through_page(
            client,
            referral_form(
                id_type=id_type,
                id_number=typed,
                subject_name_zh=name_zh,
                subject_name_en=name_en,
                phone=f"6987 65{n}0",
            ),
        )
        assert answer.status_code == 302, answer.content[:500]
    district = factories.district("F")
    needs = NeedCategory.objects.filter(code="carer_support")
    referral_submit(
        referrer=referrer,
        team=caring_team,
        token=uuid.uuid4(),
        values=values(district, "service", "+85261234001"),
        needs=needs,
        identity=identity.protect("hkid", PEOPLE["service"][1]),
    )
    referral_save_draft(
        referrer=referrer,
        team=caring_team,
        token=uuid.uuid4(),
        values=values(district, "draft", "+85261234002"),
        needs=needs,
        identity=identity.protect("hkid", PEOPLE["draft"][1]),
    )
    protected = identity.protect("twid", PEOPLE["factory"][1])
    factories.ReferralFactory(
        status="completed",
        id_type=protected.id_type,
        id_number_encrypted=protected.ciphertext,
        id_number_hash=protected.digest,
        id_number_masked=protected.masked,
    )
    factories.ReferralFactory(status="submitted")  # no identity number: not examined
    numbers = {
        referral.pk: identity.decrypt(referral.id_number_encrypted)
        for referral in Referral.objects.exclude(id_number_encrypted="")
    }
    assert sorted(numbers.values()) == sorted(stored for _, _, stored in PEOPLE.values())
    return numbers


def run(*args) -> tuple[str, str]:
    """``reencrypt_identities`` as an operator runs it: (standard output, standard error)."""
    import io

    out, err = io.StringIO(), io.StringIO()
    call_command("reencrypt_identities", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args, match: str) -> tuple[str, str, CommandError]:
    import io

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=match) as excinfo:
        call_command("reencrypt_identities", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), excinfo.value


def stored() -> dict[int, tuple[str, str, str, int]]:
    return {
        row[0]: row[1:]
        for row in Referral.objects.exclude(id_number_encrypted="").values_list(
            "pk", "id_number_encrypted", "id_number_hash", "id_number_masked", "version"
        )
    }


def assert_tells_nothing_personal(*texts: str) -> None:
    rows = Referral.objects.values_list(
        "id_number_encrypted", "id_number_hash", "subject_name_zh", "subject_name_en"
    )
    secrets = {value for row in rows for value in row if value}
    secrets |= {stored for _, _, stored in PEOPLE.values()}
    secrets |= {stored[1:-1] for _, _, stored in PEOPLE.values()}
    for text in texts:
        for secret in secrets:
            assert secret not in text


# --- The rotation, end to end -------------------------------------------------------------


def test_rotation_new_key_first_reencrypt_then_old_key_removed(settings, filed):
    # Before the command, the new key alone reads none of them: the test means something.
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY]
    for referral in Referral.objects.filter(pk__in=filed):
        with pytest.raises(ValueError, match="could not be decrypted"):
            identity.decrypt(referral.id_number_encrypted)

    # 1. The new key first, the old one still listed.
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    before = stored()
    out, _, _ = run_failing("--check", match="^5 identity numbers are not yet encrypted")
    assert "Checked 5 identity numbers: 0 under the first key, 5 not yet, 0 unreadable." in out
    assert stored() == before  # --check changes nothing

    # 2. Re-encrypt, two rows a transaction (so three batches).
    out, err = run("--batch-size", "2")
    assert (
        "Examined 5 identity numbers: 5 re-encrypted under the first key, 0 already under "
        "it, 0 changed concurrently (skipped), 0 unreadable."
    ) in out
    assert not err
    after = stored()
    for pk, (token, digest, masked, version) in after.items():
        assert token != before[pk][0]
        # The hash, the mask and the version (an open page stays current) do not move.
        assert (digest, masked, version) == before[pk][1:]
    assert_tells_nothing_personal(out, err)

    # 3. The check passes now.
    out, _ = run("--check")
    assert "Checked 5 identity numbers: 5 under the first key, 0 not yet, 0 unreadable." in out
    assert "no longer needed" in out

    # 4. The old key removed: every number still reads, and is the one filed.
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY]
    for referral in Referral.objects.filter(pk__in=filed):
        assert identity.decrypt(referral.id_number_encrypted) == filed[referral.pk]
        assert identity.decrypts_with_primary(referral.id_number_encrypted)


def test_a_second_run_rotates_nothing(settings, filed):
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    run()
    once = stored()
    out, _ = run()
    assert "5 identity numbers: 0 re-encrypted under the first key, 5 already under it" in out
    assert stored() == once  # not even re-encrypted with a new IV


def test_an_edit_made_while_it_runs_is_not_overwritten(settings, filed):
    """Another writer (a referrer correcting the number) changes a row between the command's
    read of its batch and its write: the compare-and-swap leaves the edit standing. The
    edit is made, through the same database, just before the command's first UPDATE."""
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    edited = min(filed)
    correction = identity.protect("hkid", "K000000(0)")  # encrypted under NEW_KEY, as the web does
    done = []

    def edit_first(execute, sql, params, many, context):
        if not done and sql.startswith("UPDATE") and Referral._meta.db_table in sql:
            done.append(sql)
            Referral.objects.filter(pk=edited).update(
                id_number_encrypted=correction.ciphertext, id_number_hash=correction.digest
            )
        return execute(sql, params, many, context)

    with connection.execute_wrapper(edit_first):
        out, _ = run()

    assert done
    assert "4 re-encrypted under the first key, 0 already under it, 1 changed concurrently" in out
    assert "left as the edit wrote them, not overwritten" in out
    row = Referral.objects.get(pk=edited)
    assert (row.id_number_encrypted, row.id_number_hash) == (
        correction.ciphertext,
        correction.digest,
    )
    run("--check")  # the edit was written under the first key: nothing is left to do
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY]
    assert identity.decrypt(row.id_number_encrypted) == "K0000000"
    for pk in set(filed) - {edited}:
        referral = Referral.objects.get(pk=pk)
        assert identity.decrypt(referral.id_number_encrypted) == filed[pk]


def test_an_unreadable_number_is_named_by_reference_and_fails_the_command(settings, filed):
    settings.IDENTITY_ENCRYPTION_KEYS = [LOST_KEY]
    lost = factories.ReferralFactory(
        id_type="hkid", id_number_encrypted=identity.encrypt("K0000000")
    )
    draft = Referral.objects.get(status="draft")
    draft_token = draft.id_number_encrypted
    Referral.objects.filter(pk=draft.pk).update(id_number_encrypted="not-a-fernet-token")
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]  # LOST_KEY is not listed

    out, err, error = run_failing(match="^2 identity numbers could not be decrypted")
    assert "Put back the key they were encrypted with" in str(error)
    assert "4 re-encrypted under the first key" in out and "2 unreadable" in out
    assert err.splitlines() == [
        f"  unreadable: draft (id {draft.pk})",  # a draft has no reference yet
        f"  unreadable: {lost.reference}",
    ]
    assert_tells_nothing_personal(out, err, str(error))
    assert draft_token not in out + err
    # The others were done, and the unreadable ones left as they were.
    assert Referral.objects.get(pk=lost.pk).id_number_encrypted == lost.id_number_encrypted
    _, err, _ = run_failing("--check", match="^2 identity numbers could not be decrypted")
    assert f"  unreadable: {lost.reference}" in err


def test_rehash_makes_duplicates_findable_under_a_new_hash_key(settings, filed, referrer):
    settings.IDENTITY_ENCRYPTION_KEYS = [OLD_KEY]
    service = Referral.objects.get(subject_name_en=NAMES["service"][1])
    settings.IDENTITY_HASH_KEY = NEW_HASH_KEY
    new_digest = identity.keyed_hash("hkid", "AB9876543")

    def warning():
        return duplicate_check(user=referrer, token=uuid.uuid4(), id_hash=new_digest)

    assert not warning()  # the stored hashes are still under the old hash key
    out, _, _ = run_failing("--check", "--rehash", match="^5 identity hashes are not under")
    assert "Identity hashes: 5 not under the current IDENTITY_HASH_KEY." in out

    out, _ = run("--rehash", "--batch-size", "3")
    assert "0 re-encrypted under the first key, 5 already under it" in out
    assert "Identity hashes: 5 recomputed under the current IDENTITY_HASH_KEY." in out
    assert_tells_nothing_personal(out)

    assert [hint.reference for hint in warning().named] == [service.reference]
    run("--check", "--rehash")
    for pk, number in filed.items():
        referral = Referral.objects.get(pk=pk)
        assert referral.id_number_hash == identity.keyed_hash(referral.id_type, number)
    out, _ = run("--rehash")
    assert "Identity hashes: 0 recomputed" in out


def test_rotating_both_keys_at_once(settings, filed):
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    settings.IDENTITY_HASH_KEY = NEW_HASH_KEY
    out, _ = run("--rehash")
    assert "5 re-encrypted under the first key" in out
    assert "5 recomputed" in out
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY]
    run("--check", "--rehash")


def test_batch_size_must_be_positive(filed):
    run_failing("--batch-size", "0", match="--batch-size must be 1 or more")


# --- The rules in referrals.identity ------------------------------------------------------


def test_reencrypt_moves_a_token_to_the_first_key(settings):
    settings.IDENTITY_ENCRYPTION_KEYS = [OLD_KEY]
    token = identity.encrypt("A1234563")
    assert identity.decrypts_with_primary(token)
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert not identity.decrypts_with_primary(token)
    rotated = identity.reencrypt(token)
    assert identity.decrypts_with_primary(rotated)
    assert Fernet(NEW_KEY.encode()).decrypt(rotated.encode()) == b"A1234563"
    settings.IDENTITY_ENCRYPTION_KEYS = [NEW_KEY]
    assert identity.decrypt(rotated) == "A1234563"


@pytest.mark.parametrize("token", ["", "not-a-token", "gAAAAA" + "x" * 60, "\u00e9", None])
def test_reencrypt_and_the_primary_check_refuse_garbage(token):
    with pytest.raises(ValueError, match="^identity number could not be decrypted$"):
        identity.reencrypt(token)
    assert identity.decrypts_with_primary(token) is False


def test_rehash_is_the_keyed_hash_of_the_number_under_the_current_key(settings):
    token = identity.encrypt("A1234563")
    settings.IDENTITY_HASH_KEY = NEW_HASH_KEY
    assert identity.rehash("hkid", token) == identity.keyed_hash("hkid", "A1234563")
    with pytest.raises(ValueError, match="^identity number has an unknown document type$"):
        identity.rehash("passport", token)
