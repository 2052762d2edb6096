"""WAHA's webhook signature: `X-Webhook-Hmac`, hex HMAC-SHA512 of the raw body bytes."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_ALGORITHM = "sha512"


def sign(secret: str, body: bytes) -> str:
    """WAHA's `X-Webhook-Hmac`: lower-case hex HMAC-SHA512 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def signature_matches(secret: str, body: bytes, signature: str) -> bool:
    """Constant-time comparison of the header with the expected MAC (hex, any case)."""
    given = signature.strip().lower()
    if not given.isascii():
        return False
    return hmac.compare_digest(sign(secret, body), given)
