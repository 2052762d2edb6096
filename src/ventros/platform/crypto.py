"""Secrets at rest (channel API keys, webhook secrets): AES-256-GCM under a key derived
from VENTROS_SECRET_KEY.

Each sealed value names what it belongs to (`context`, e.g. `channel:<id>:api_key`) as
associated data, so a ciphertext copied into another row or column does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
_NONCE_BYTES = 12
_KDF_INFO = b"ventros/secret-box/v1"


class SecretUnreadable(Exception):
    """The sealed value is corrupt, belongs elsewhere, or was sealed under another key."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a secret box needs a 32-byte key")
        self._aead = AESGCM(key)

    @classmethod
    def from_secret(cls, secret: str) -> SecretBox:
        """The box for an application secret (VENTROS_SECRET_KEY), derived with HKDF."""
        return _box_for(secret)

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, token: str, *, context: str) -> str:
        version, _, encoded = token.partition(".")
        if version != VERSION or not encoded:
            raise SecretUnreadable("unknown secret format")
        try:
            raw = base64.urlsafe_b64decode(encoded)
            plaintext = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except (binascii.Error, ValueError, InvalidTag) as error:
            raise SecretUnreadable("secret does not open with this key and context") from error
        return plaintext.decode()


@lru_cache(maxsize=4)
def _box_for(secret: str) -> SecretBox:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO).derive(
        secret.encode()
    )
    return SecretBox(key)
