#!/usr/bin/env python3
"""Print fresh secrets for a production ``.env``: ``python3 scripts/new_secrets.py > .env``.

SECRET_KEY (Django's signing key), IDENTITY_ENCRYPTION_KEYS (a Fernet key: 32 random bytes,
url-safe base64) and IDENTITY_HASH_KEY (the HMAC key for finding duplicates), each new and
random. Needs only Python's standard library, so it runs before anything is installed.
Back the identity keys up: without them the encrypted identity numbers cannot be read.
"""

import base64
import secrets


def new_secrets() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "IDENTITY_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "IDENTITY_HASH_KEY": secrets.token_urlsafe(48),
    }


if __name__ == "__main__":
    for name, value in new_secrets().items():
        print(f"{name}={value}")
