"""Secrets at rest: MultiFernet rotation and token hashing."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.crypto import InvalidToken, SecretBox, hash_token


def test_a_secret_encrypted_with_an_old_key_still_decrypts_after_rotation():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    ciphertext = SecretBox([old]).encrypt("Pa55-word")

    box = SecretBox([new, old])

    assert box.decrypt(ciphertext) == "Pa55-word"
    assert SecretBox([new]).decrypt(box.rotate(ciphertext)) == "Pa55-word"


def test_a_foreign_ciphertext_is_rejected():
    ciphertext = SecretBox([Fernet.generate_key().decode()]).encrypt("x")

    with pytest.raises(InvalidToken):
        SecretBox([Fernet.generate_key().decode()]).decrypt(ciphertext)


def test_token_hashes_are_stable_and_do_not_contain_the_token():
    assert hash_token("abc") == hash_token("abc")
    assert "abc" not in hash_token("abc") and len(hash_token("abc")) == 64
