"""Identity numbers: validation, masking, encryption with key rotation, keyed hashing.

No database is needed: everything here is pure computation over settings.
"""

import contextlib
import re

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ValidationError
from django.utils import translation

from referrals.identity import (
    IdType,
    ProtectedIdentity,
    decrypt,
    encrypt,
    keyed_hash,
    mask,
    normalise,
    protect,
)

HKID = IdType.HKID
TWID = IdType.TWID


def _error(id_type, raw) -> ValidationError:
    with pytest.raises(ValidationError) as excinfo:
        normalise(id_type, raw)
    return excinfo.value


# --- Hong Kong identity card -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # " A123456": 36*9 + 10*8 + 1*7 + 2*6 + 3*5 + 4*4 + 5*3 + 6*2 = 481;
        # 481 % 11 = 8; (11 - 8) % 11 = 3.
        ("A123456(3)", "A1234563"),
        ("A1234563", "A1234563"),
        ("a123456(3)", "A1234563"),
        (" A 123456 (3) ", "A1234563"),
        ("\tA123456 ( 3 )\n", "A1234563"),
        ("Ａ１２３４５６（３）", "A1234563"),  # full-width, as typed with a Chinese IME
        # Two letters, "AB987654": 10*9 + 11*8 + 9*7 + 8*6 + 7*5 + 6*4 + 5*3 + 4*2 = 371;
        # 371 % 11 = 8; (11 - 8) % 11 = 3.
        ("AB987654(3)", "AB9876543"),
        ("ab9876543", "AB9876543"),
        # "XY908070": 33*9 + 34*8 + 9*7 + 0*6 + 8*5 + 0*4 + 7*3 + 0*2 = 693 = 11*63;
        # 693 % 11 = 0; (11 - 0) % 11 = 0.
        ("XY908070(0)", "XY9080700"),
        # Check character "A": " G123456": 36*9 + 16*8 + 1*7 + 2*6 + 3*5 + 4*4 + 5*3 + 6*2
        # = 324 + 128 + 77 = 529; 529 % 11 = 1; (11 - 1) % 11 = 10, written "A".
        ("G123456(A)", "G123456A"),
        ("g123456(a)", "G123456A"),
        ("G123456A", "G123456A"),
        # Check digit 0 from sum % 11 == 0: " K000000": 36*9 + 20*8 = 484 = 11*44.
        ("K000000(0)", "K0000000"),
    ],
)
def test_valid_hkid_is_normalised(raw, expected):
    assert normalise(HKID, raw) == expected
    assert normalise("hkid", raw) == expected


@pytest.mark.parametrize("normalised", ["A1234563", "AB9876543", "G123456A"])
def test_normalise_is_idempotent(normalised):
    assert normalise(HKID, normalise(HKID, normalised)) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "A123456(4)",
        "A1234560",
        "A123456(A)",
        "G123456(0)",  # the right check character is A, not 0
        "AB987654(2)",
        "B123456(3)",  # A123456's check digit on another letter
        "K000000(A)",
    ],
)
def test_hkid_with_a_wrong_check_digit_is_rejected(raw):
    error = _error(HKID, raw)
    assert error.code == "check_digit"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "A12345(6)",  # too short
        "A12345",
        "A1234567(8)",  # seven digits
        "A12B456(3)",  # a letter among the digits
        "AO23456(3)",  # letter O for a zero
        "ABC123456(3)",  # three letters
        "1234563",  # no letter
        "A123456(B)",  # check character other than 0-9 or A
        "A123456",  # no check character
        "A123456((3))",
        "A(123456)3",  # brackets belong around the check character only
        "A123456(3",
        "A123456-3",
    ],
)
def test_hkid_in_a_bad_format_is_rejected(raw):
    error = _error(HKID, raw)
    assert error.code == "format"


def test_hkid_format_and_check_digit_messages():
    with translation.override("en"):
        assert _error(HKID, "A12345").messages == [
            "Enter a Hong Kong identity card number like A123456(7)."
        ]
        assert _error(HKID, "A123456(4)").messages == [
            "This identity card number is not valid: its check digit does not match."
        ]


# --- Taiwan national ID -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # A=10: 1*1 + 0*9 + (1*8 + 2*7 + 3*6 + 4*5 + 5*4 + 6*3 + 7*2 + 8*1) + 9 = 1 + 120 + 9 = 130.
        ("A123456789", "A123456789"),
        ("a123456789", "A123456789"),
        (" A 1234 56789 ", "A123456789"),
        # F=15: 1 + 45 + (16 + 21 + 24 + 25 + 24 + 21 + 16 + 9) + 8 = 210.
        ("F234567898", "F234567898"),
        # I=34 (not in alphabetical order): 3 + 36 + 2*8 + 5 = 60.
        ("I200000005", "I200000005"),
        # O=35: 3 + 45 + 1*8 + 4 = 60.
        ("O100000004", "O100000004"),
        # W=32: 3 + 18 + 2*(8+7+6+5+4+3+2+1) + 7 = 100.
        ("W222222227", "W222222227"),
    ],
)
def test_valid_taiwan_id_is_normalised(raw, expected):
    assert normalise(TWID, raw) == expected
    assert normalise("twid", raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["A123456788", "A123456780", "B123456789", "I200000004", "F234567899", "W222222228"],
)
def test_taiwan_id_with_a_wrong_check_digit_is_rejected(raw):
    assert _error(TWID, raw).code == "check_digit"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "A323456789",  # second character must be 1 or 2
        "A023456789",
        "AA23456789",
        "A12345678",  # too short
        "A1234567890",  # too long
        "1123456789",  # no letter
        "A12345678X",
        "A1234563",  # an HKID is not a Taiwan ID
    ],
)
def test_taiwan_id_in_a_bad_format_is_rejected(raw):
    assert _error(TWID, raw).code == "format"


def test_taiwan_format_message():
    with translation.override("en"):
        assert _error(TWID, "A323456789").messages == ["Enter a Taiwan ID number like A123456789."]


def test_a_valid_hkid_is_not_a_valid_taiwan_id_and_vice_versa():
    assert _error(TWID, "A123456(3)").code == "format"
    assert _error(HKID, "A123456789").code == "format"


# --- Document type ------------------------------------------------------------------------


@pytest.mark.parametrize("id_type", ["", "passport", "HKID", None])
def test_unknown_id_type_is_rejected(id_type):
    error = _error(id_type, "A123456(3)")
    assert error.code == "type"
    with translation.override("en"):
        assert error.messages == ["Choose the kind of identity document."]


def test_id_type_choices():
    assert IdType.values == ["hkid", "twid"]
    assert IdType.HKID == "hkid"
    assert IdType.TWID == "twid"


# --- Error messages leak nothing ----------------------------------------------------------


@pytest.mark.parametrize(
    ("id_type", "raw", "code"),
    [
        ("hkid", "Z987650(8)", "check_digit"),  # Z987650's check digit is 3
        ("hkid", "Z98765", "format"),
        ("hkid", "Z98X650(3)", "format"),
        ("twid", "B387654320", "format"),
        ("twid", "B198765430", "check_digit"),
        ("passport", "Z987650(3)", "type"),
    ],
)
@pytest.mark.parametrize("language", ["en", "zh-hant"])
def test_error_messages_contain_no_digits_of_the_input(id_type, raw, code, language):
    error = _error(id_type, raw)
    assert error.code == code
    assert not error.params
    digits = "".join(re.findall(r"[0-9]", raw))
    # Every run of three of the input's digits (the example number in the format
    # messages shares single digits with anything, so single digits cannot be tested).
    runs = {digits[i : i + 3] for i in range(len(digits) - 2)}
    assert runs
    with translation.override(language):
        for text in [*error.messages, str(error), repr(error)]:
            compact = re.sub(r"\s", "", text)
            assert raw.strip() not in text
            for run in runs:
                assert run not in compact, (run, text)
        if code != "format":
            assert not re.search(r"[0-9]", "".join(error.messages))


# --- Masking ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_type", "value", "masked"),
    [
        (HKID, "A1234563", "A12****(*)"),
        (HKID, "G123456A", "G12****(*)"),
        (HKID, "AB9876543", "AB98****(*)"),
        (HKID, "XY9080700", "XY90****(*)"),
        (HKID, "a123456(3)", "A12****(*)"),  # normalised first
        (TWID, "A123456789", "A12*****89"),
        (TWID, "F234567898", "F23*****98"),
    ],
)
def test_mask(id_type, value, masked):
    assert mask(id_type, value) == masked


def _candidates_fitting(id_type, masked, fill_ins):
    """Every valid number whose mask is ``masked``: what an attacker holding the mask must
    still choose among."""
    fitting = 0
    for candidate in fill_ins:
        with contextlib.suppress(ValidationError):
            fitting += mask(id_type, candidate) == masked
    return fitting


def test_an_hkid_mask_leaves_ten_thousand_candidates():
    """The mask plus any yes/no answer (issue 14 item 2) must not narrow a number down:
    at least 10,000 valid numbers fit each mask."""
    masked = mask(HKID, "G123456A")
    fill_ins = (f"G12{digits:04d}{check}" for digits in range(10_000) for check in "0123456789A")
    assert _candidates_fitting(HKID, masked, fill_ins) >= 10_000


def test_a_taiwan_id_mask_leaves_ten_thousand_candidates():
    masked = mask(TWID, "A123456789")
    fill_ins = (f"A12{digits:05d}89" for digits in range(100_000))
    assert _candidates_fitting(TWID, masked, fill_ins) >= 10_000


def test_mask_hides_the_middle_digits():
    masked = mask(HKID, "AB9876543")
    assert "654" not in masked
    assert "9876543" not in masked
    assert "5678" not in mask(TWID, "F234567898")


@pytest.mark.parametrize(("id_type", "value"), [(HKID, "A1234564"), (TWID, "A12"), ("x", "A1")])
def test_mask_refuses_a_value_that_is_not_a_valid_number(id_type, value):
    with pytest.raises(ValidationError):
        mask(id_type, value)


# --- Encryption ---------------------------------------------------------------------------


def _keys():
    return Fernet.generate_key().decode(), Fernet.generate_key().decode()


@pytest.mark.parametrize("number", ["A1234563", "AB9876543", "A123456789"])
def test_encrypt_decrypt_round_trip(number):
    token = encrypt(number)
    assert isinstance(token, str)
    assert decrypt(token) == number


@pytest.mark.parametrize("number", ["A1234563", "A123456789"])
def test_ciphertext_does_not_contain_the_number(number):
    token = encrypt(number)
    digits = re.sub(r"[^0-9]", "", number)
    assert number not in token
    assert number.lower() not in token.lower()
    assert digits not in token


def test_two_encryptions_of_the_same_number_differ_but_both_decrypt():
    first, second = encrypt("A1234563"), encrypt("A1234563")
    assert first != second
    assert decrypt(first) == decrypt(second) == "A1234563"


def test_encrypt_uses_the_configured_key(settings):
    (key, other) = _keys()
    settings.IDENTITY_ENCRYPTION_KEYS = [key]
    token = encrypt("A1234563")
    assert Fernet(key.encode()).decrypt(token.encode()) == b"A1234563"
    with pytest.raises(InvalidToken):
        Fernet(other.encode()).decrypt(token.encode())


def test_key_rotation(settings):
    new, old = _keys()
    settings.IDENTITY_ENCRYPTION_KEYS = [old]
    old_token = encrypt("A1234563")

    settings.IDENTITY_ENCRYPTION_KEYS = [new, old]
    assert decrypt(old_token) == "A1234563"
    new_token = encrypt("A1234563")
    assert decrypt(new_token) == "A1234563"
    # The first key encrypts.
    assert Fernet(new.encode()).decrypt(new_token.encode()) == b"A1234563"
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(new_token.encode())

    settings.IDENTITY_ENCRYPTION_KEYS = [old]
    with pytest.raises(ValueError, match="^identity number could not be decrypted$"):
        decrypt(new_token)
    assert decrypt(old_token) == "A1234563"

    # Once the old key is retired, only new tokens can be read.
    settings.IDENTITY_ENCRYPTION_KEYS = [new]
    assert decrypt(new_token) == "A1234563"
    with pytest.raises(ValueError, match="could not be decrypted"):
        decrypt(old_token)


@pytest.mark.parametrize("token", ["", "not-a-token", "gAAAAA" + "x" * 60, "\u00e9\u00e9"])
def test_decrypt_rejects_garbage_with_a_value_error(token):
    with pytest.raises(ValueError, match="^identity number could not be decrypted$"):
        decrypt(token)


def test_decrypt_rejects_a_tampered_token():
    token = encrypt("A1234563")
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(ValueError, match="could not be decrypted") as excinfo:
        decrypt(tampered)
    assert "A1234563" not in str(excinfo.value)
    # The chained InvalidToken is suppressed, so a logged traceback ends at our message.
    assert excinfo.value.__suppress_context__


# --- Keyed hash ---------------------------------------------------------------------------


def test_keyed_hash_is_stable_hex_sha256():
    digest = keyed_hash(HKID, "A1234563")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert keyed_hash("hkid", "A1234563") == digest
    assert keyed_hash(HKID, "A1234563") == digest


def test_keyed_hash_is_hmac_sha256_of_type_and_number(settings):
    import hashlib
    import hmac

    settings.IDENTITY_HASH_KEY = "k" * 40
    expected = hmac.new(b"k" * 40, b"hkid:A1234563", hashlib.sha256).hexdigest()
    assert keyed_hash(HKID, "A1234563") == expected


def test_keyed_hash_differs_by_number_and_by_id_type():
    assert keyed_hash(HKID, "A1234563") != keyed_hash(HKID, "AB9876543")
    assert keyed_hash(HKID, "A123456789") != keyed_hash(TWID, "A123456789")


def test_keyed_hash_depends_on_the_key(settings):
    before = keyed_hash(TWID, "A123456789")
    settings.IDENTITY_HASH_KEY = "another-test-only-hmac-key-0123456789abcdef"
    after = keyed_hash(TWID, "A123456789")
    assert re.fullmatch(r"[0-9a-f]{64}", after)
    assert after != before


def test_keyed_hash_does_not_contain_the_number():
    assert "1234563" not in keyed_hash(HKID, "A1234563")


# --- protect ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_type", "raw", "normalised", "masked"),
    [
        ("hkid", " a123456 (3) ", "A1234563", "A12****(*)"),
        ("hkid", "AB987654(3)", "AB9876543", "AB98****(*)"),
        ("twid", "a123456789", "A123456789", "A12*****89"),
    ],
)
def test_protect(id_type, raw, normalised, masked):
    protected = protect(id_type, raw)
    assert isinstance(protected, ProtectedIdentity)
    assert protected.id_type == id_type
    assert protected.masked == masked
    assert decrypt(protected.ciphertext) == normalised
    assert protected.digest == keyed_hash(id_type, normalised)
    # The same number typed another way is found by its digest.
    assert protect(id_type, normalised).digest == protected.digest


def test_protect_validates():
    with pytest.raises(ValidationError) as excinfo:
        protect("hkid", "A123456(4)")
    assert excinfo.value.code == "check_digit"


@pytest.mark.parametrize(("id_type", "raw"), [("hkid", "AB987654(3)"), ("twid", "F234567898")])
def test_repr_of_protected_identity_shows_only_type_and_mask(id_type, raw):
    protected = protect(id_type, raw)
    normalised = normalise(id_type, raw)
    for text in (repr(protected), str(protected), f"{protected}", f"{protected!r}"):
        assert normalised not in text
        assert normalised[1:-1] not in text
        assert protected.ciphertext not in text
        assert protected.digest not in text
        assert id_type in text
        assert protected.masked in text


def test_protected_identity_is_frozen():
    protected = protect("hkid", "A123456(3)")
    with pytest.raises(AttributeError):
        protected.masked = "A1234563"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("id_type", "number", "stored_before"),
    [
        (HKID, "A1234563", "A123***(3)"),
        (HKID, "AB9876543", "AB987***(3)"),
        (TWID, "A123456789", "A123****89"),
    ],
)
def test_masks_stored_before_are_widened_by_the_migration(id_type, number, stored_before):
    """Migration 0011 rewrites the masks already stored to today's, without decrypting."""
    import importlib

    migration = importlib.import_module(
        "referrals.migrations.0011_token_per_referrer_and_wider_mask"
    )
    assert migration.wider(stored_before) == mask(id_type, number)
    assert migration.wider(mask(id_type, number)) == mask(id_type, number)  # idempotent
