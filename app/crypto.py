"""Encryption of secrets at rest (MultiFernet, so keys can rotate) and one-way token hashing."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBox:
    """Encrypts and decrypts secrets with the configured keys; the first key encrypts."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is required")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        """Return the plaintext; raises :class:`InvalidToken` for a foreign or damaged value."""
        return self._fernet.decrypt(token).decode("utf-8")

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt ``token`` under the newest key."""
        return self._fernet.rotate(token)


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest used to store and look up bearer secrets.

    Tokens are 256-bit random values, so a fast unsalted hash is enough: there is nothing to
    brute-force, and lookups by hash need a deterministic value.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


__all__ = ["SecretBox", "InvalidToken", "hash_token", "new_token", "tokens_equal"]
