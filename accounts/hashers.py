"""A fast keyed hash for OAuth2 client secrets (``OAUTH2_PROVIDER["CLIENT_SECRET_HASHER"]``).

PBKDF2's million iterations make a guessed password expensive to check offline; they also
make every wrong secret sent to ``/o/token/`` cost the server tens of milliseconds of CPU.
Client secrets are long random strings (django-oauth-toolkit makes 128 characters), which no
one guesses whatever the hash, so a keyed HMAC-SHA256 is enough: without the key
(``CLIENT_SECRET_HASH_KEY``, not stored in the database) a stolen hash cannot be checked at
all. People's passwords keep PBKDF2, the first of ``PASSWORD_HASHERS``; secrets hashed with
PBKDF2 before this hasher existed still verify, since Django checks any listed hasher.
"""

import hashlib
import hmac

from django.conf import settings
from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_noop as _


class HMACSHA256SecretHasher(BasePasswordHasher):
    algorithm = "hmac_sha256"

    def encode(self, password, salt):
        self._check_encode_args(password, salt)
        digest = hmac.new(
            settings.CLIENT_SECRET_HASH_KEY.encode(),
            f"{salt}${password}".encode(),
            hashlib.sha256,
        ).hexdigest()
        return f"{self.algorithm}${salt}${digest}"

    def decode(self, encoded):
        algorithm, salt, digest = encoded.split("$", 2)
        assert algorithm == self.algorithm  # noqa: S101 - as Django's own hashers check
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password, encoded):
        decoded = self.decode(encoded)
        return constant_time_compare(encoded, self.encode(password, decoded["salt"]))

    def safe_summary(self, encoded):
        decoded = self.decode(encoded)
        return {
            _("algorithm"): decoded["algorithm"],
            _("salt"): mask_hash(decoded["salt"], show=2),
            _("hash"): mask_hash(decoded["hash"]),
        }

    def harden_runtime(self, password, encoded):
        """Nothing to even out: every check costs the same single HMAC."""
