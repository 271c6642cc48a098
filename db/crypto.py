"""Encryption at rest: AES-256-GCM under a keyring of named keys (DATA_ENCRYPTION_KEYS).

A sealed value is a 12-byte random nonce followed by the ciphertext and its 16-byte tag.
Each row stores the id of the key that sealed it, so a new key can become current while
rows sealed under the old one are still read, until `consciousness rotate-data-key` has
re-sealed them. The associated data names the row and the column, so a ciphertext copied
into another row or column does not open: tampering, a swap and a wrong key all fail
closed with `DataKeyError`, never with wrong plaintext.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256


class DataKeyError(Exception):
    """A sealed value could not be opened: unknown key id, wrong key, or altered data."""


class Keyring:
    """The data keys by id, and the id of the one that seals new values."""

    def __init__(self, current_id: str, keys: Mapping[str, bytes]) -> None:
        if current_id not in keys:
            raise ValueError(f"the current data key {current_id!r} is not in the keyring")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise ValueError(f"data key {key_id!r} is {len(key)} bytes, not {KEY_BYTES}")
        self.current_id = current_id
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """`plaintext` sealed under the current key, bound to `associated_data`."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._ciphers[self.current_id].encrypt(nonce, plaintext, associated_data)

    def open(self, key_id: str, sealed: bytes, associated_data: bytes) -> bytes:
        """The plaintext of `sealed`; DataKeyError unless key and associated data match."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DataKeyError(f"data key {key_id!r} is not in DATA_ENCRYPTION_KEYS")
        try:
            return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise DataKeyError(
                f"a value sealed under data key {key_id!r} does not open: the key is wrong, "
                "or the value was altered or moved from another row or column"
            ) from None
