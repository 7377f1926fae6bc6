"""Identity numbers (Hong Kong identity card, Taiwan national ID): validate, mask, protect.

The scheme:

* ``normalise`` turns what a person typed into one canonical form (no spaces, upper case,
  no brackets) and checks both the format and the check digit, so a typo is caught at
  the form rather than stored.
* ``mask`` gives the only form that may be shown on screen or written to a log line,
  e.g. ``A12****(*)`` or ``A12*****89``. It leaves at least 10,000 valid numbers that
  fit, so a mask with a yes/no answer from somewhere cannot be narrowed to the number.
* ``encrypt``/``decrypt`` keep the number at rest with Fernet (AES-128-CBC + HMAC-SHA256,
  random IV, so the same number encrypts differently every time). The keys come from
  ``settings.IDENTITY_ENCRYPTION_KEYS``: the first key encrypts, every key decrypts, so a
  key is rotated by putting the new one first and re-encrypting at leisure.
* ``reencrypt`` and ``decrypts_with_primary`` carry a key rotation out: the first re-encrypts
  a stored token under the first key (``MultiFernet.rotate``), the second says whether the
  first key alone already reads it, so the old key can be removed once none is left
  (``manage.py reencrypt_identities``, ``--check``).
* ``keyed_hash`` is an HMAC-SHA256 of ``"<id_type>:<normalised>"`` under
  ``settings.IDENTITY_HASH_KEY``. It is deterministic, so it can be indexed and compared to
  find the same person twice without decrypting anything; being keyed, it cannot be
  reversed by hashing every possible number without the key.
* ``protect`` does all of the above and returns a ``ProtectedIdentity`` whose ``repr``
  shows only the type and the masked number.

The number itself is never put into an error message, and this module logs nothing.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = [
    "IdType",
    "ProtectedIdentity",
    "decrypt",
    "decrypts_with_primary",
    "encrypt",
    "keyed_hash",
    "mask",
    "normalise",
    "protect",
    "reencrypt",
    "rehash",
]


class IdType(models.TextChoices):
    HKID = "hkid", _("Hong Kong identity card")
    TWID = "twid", _("Taiwan national identification card")


# After whitespace is removed and the text upper-cased. Brackets are accepted only around
# the check character, which is how the number is printed on the card.
_HKID_RE = re.compile(r"([A-Z]{1,2})([0-9]{6})(?:\(([0-9A])\)|([0-9A]))")
_TWID_RE = re.compile(r"[A-Z][12][0-9]{8}")

_HKID_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)
_HKID_SPACE_VALUE = 36
_TWID_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 1)
_TWID_LETTER_VALUES = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34,
    "J": 18, "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25,
    "S": 26, "T": 27, "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}  # fmt: skip

_MSG_TYPE = _("Choose the kind of identity document.")
_MSG_HKID_FORMAT = _("Enter a Hong Kong identity card number like A123456(7).")
_MSG_TWID_FORMAT = _("Enter a Taiwan ID number like A123456789.")
_MSG_CHECK_DIGIT = _("This identity card number is not valid: its check digit does not match.")


def _id_type(id_type: str) -> IdType:
    try:
        return IdType(id_type)
    except ValueError:
        raise ValidationError(_MSG_TYPE, code="type") from None


def _hkid_check_character(prefix: str, digits: str) -> str:
    """The check character for a one- or two-letter prefix and six digits."""
    values = [_HKID_SPACE_VALUE] if len(prefix) == 1 else []
    values += [ord(letter) - ord("A") + 10 for letter in prefix]
    values += [int(digit) for digit in digits]
    total = sum(value * weight for value, weight in zip(values, _HKID_WEIGHTS, strict=True))
    check = (11 - total % 11) % 11
    return "A" if check == 10 else str(check)


def _twid_check_ok(number: str) -> bool:
    tens, units = divmod(_TWID_LETTER_VALUES[number[0]], 10)
    digits = [int(digit) for digit in number[1:]]
    total = tens * 1 + units * 9
    total += sum(digit * weight for digit, weight in zip(digits[:8], _TWID_WEIGHTS, strict=True))
    total += digits[8] * 1
    return total % 10 == 0


def _clean(raw: str) -> str:
    # NFKC folds full-width letters, digits and brackets (as typed with a Chinese input
    # method) into ASCII; then all whitespace goes, wherever it is.
    return "".join(unicodedata.normalize("NFKC", raw).split()).upper()


def normalise(id_type: str, raw: str) -> str:
    """Return the canonical form of an identity number, or raise ``ValidationError``.

    HKID: ``"A123456(3)"``, ``"a 123456 (3)"`` -> ``"A1234563"``. TWID: ``"a123456789"`` ->
    ``"A123456789"``. Error codes: ``type``, ``format``, ``check_digit``.
    """
    kind = _id_type(id_type)
    text = _clean(raw) if isinstance(raw, str) else ""
    if kind == IdType.HKID:
        match = _HKID_RE.fullmatch(text)
        if match is None:
            raise ValidationError(_MSG_HKID_FORMAT, code="format")
        prefix, digits, bracketed, bare = match.groups()
        check = bracketed or bare
        if check != _hkid_check_character(prefix, digits):
            raise ValidationError(_MSG_CHECK_DIGIT, code="check_digit")
        return f"{prefix}{digits}{check}"
    if _TWID_RE.fullmatch(text) is None:
        raise ValidationError(_MSG_TWID_FORMAT, code="format")
    if not _twid_check_ok(text):
        raise ValidationError(_MSG_CHECK_DIGIT, code="check_digit")
    return text


def mask(id_type: str, normalised: str) -> str:
    """The form that may be shown: ``A1234563`` -> ``A12****(*)``, ``A123456789`` ->
    ``A12*****89``.

    Each leaves 10,000 valid numbers that fit (HKID: four hidden digits, the check
    character hidden too, as it follows from them; Taiwan ID: five hidden digits, of which
    the shown check digit rules out nine in ten). The 10,000 is what stops a mask plus any
    yes/no oracle from giving the number away: the earlier ``A123***(3)`` left about 91
    (issue 14 item 2).

    The input is normalised (and so validated) first, so a malformed value raises
    ``ValidationError`` instead of being half-masked.
    """
    kind = _id_type(id_type)
    number = normalise(kind, normalised)
    if kind == IdType.HKID:
        letters = len(number) - 7  # one or two letters, six digits, one check character
        return f"{number[: letters + 2]}****(*)"
    return f"{number[:3]}*****{number[-2:]}"


@functools.lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str | bytes, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(keys):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"IDENTITY_ENCRYPTION_KEYS[{position}] is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from None
    return MultiFernet(fernets)


def _fernet() -> MultiFernet:
    keys = getattr(settings, "IDENTITY_ENCRYPTION_KEYS", None)
    if isinstance(keys, str | bytes):
        keys = [keys]
    if not keys or not isinstance(keys, Sequence):
        raise ImproperlyConfigured("IDENTITY_ENCRYPTION_KEYS must list at least one Fernet key.")
    return _multi_fernet(tuple(keys))


def encrypt(normalised: str) -> str:
    """Encrypt with the first key of ``settings.IDENTITY_ENCRYPTION_KEYS``; a Fernet token."""
    return _fernet().encrypt(normalised.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """Decrypt a token made by ``encrypt`` with any of the configured keys.

    Raises ``ValueError`` (with no part of the token or plaintext in it) if no key fits or
    the token is damaged.
    """
    fernet = _fernet()
    try:
        if not isinstance(token, str):
            raise TypeError
        return fernet.decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, TypeError):
        raise ValueError("identity number could not be decrypted") from None


def _primary_fernet() -> MultiFernet:
    """The first configured key alone (the one ``encrypt`` uses)."""
    _fernet()  # the same checks and messages for a missing or malformed key list
    keys = settings.IDENTITY_ENCRYPTION_KEYS
    first = keys if isinstance(keys, str | bytes) else keys[0]
    return _multi_fernet((first,))


def decrypts_with_primary(token: str) -> bool:
    """True if the first key of ``settings.IDENTITY_ENCRYPTION_KEYS`` alone decrypts
    ``token``: it needs no re-encryption, and no other key to be read."""
    try:
        if not isinstance(token, str):
            raise TypeError
        _primary_fernet().decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError, TypeError):
        return False
    return True


def reencrypt(token: str) -> str:
    """``token`` decrypted with whichever configured key fits and encrypted again under the
    first key (``MultiFernet.rotate``; the token's timestamp is kept). The number itself
    never leaves this function.

    Raises ``ValueError`` (with no part of the token or plaintext in it) if no key fits or
    the token is damaged, like ``decrypt``.
    """
    fernet = _fernet()
    try:
        if not isinstance(token, str):
            raise TypeError
        return fernet.rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, TypeError):
        raise ValueError("identity number could not be decrypted") from None


def rehash(id_type: str, token: str) -> str:
    """The keyed hash (``keyed_hash``, under the current ``IDENTITY_HASH_KEY``) of the
    number that ``token`` holds: what ``id_number_hash`` must be after the hash key is
    rotated. ``ValueError`` if the token cannot be decrypted or the stored document type is
    not one we know (nothing of the number in the message)."""
    number = decrypt(token)
    try:
        return keyed_hash(id_type, number)
    except ValidationError:
        raise ValueError("identity number has an unknown document type") from None


def keyed_hash(id_type: str, normalised: str) -> str:
    """Hex HMAC-SHA256 of ``"<id_type>:<normalised>"`` under ``settings.IDENTITY_HASH_KEY``.

    The value is hashed as given: pass it through ``normalise`` first so the same number
    typed two ways gives the same digest.
    """
    kind = _id_type(id_type)
    key = getattr(settings, "IDENTITY_HASH_KEY", "")
    if not key:
        raise ImproperlyConfigured("IDENTITY_HASH_KEY must be set.")
    if isinstance(key, str):
        key = key.encode("utf-8")
    message = f"{kind.value}:{normalised}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, repr=False)
class ProtectedIdentity:
    """What is stored for an identity number: ciphertext, keyed hash and masked form."""

    id_type: str
    ciphertext: str
    digest: str
    masked: str

    def __repr__(self) -> str:
        return f"ProtectedIdentity(id_type={self.id_type!r}, masked={self.masked!r})"

    __str__ = __repr__


def protect(id_type: str, raw: str) -> ProtectedIdentity:
    """Validate ``raw`` and return it encrypted, hashed and masked (``ValidationError`` if bad)."""
    kind = _id_type(id_type)
    number = normalise(kind, raw)
    return ProtectedIdentity(
        id_type=kind.value,
        ciphertext=encrypt(number),
        digest=keyed_hash(kind, number),
        masked=mask(kind, number),
    )
