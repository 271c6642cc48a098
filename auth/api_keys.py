"""Ingestion API keys: how one is made, and the keyed hash that is stored instead of it.

A key is 32 random bytes, so a fast keyed hash (HMAC-SHA256) is the right store for it:
a slow password hash (Argon2) defends low-entropy secrets against guessing and would only
cost every ingestion request milliseconds here. The HMAC key is a signing secret; every
configured secret gives a candidate hash, so keys made before a secret rotation still
match while the old secret is configured.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

API_KEY_MARK = "cak_"  # "consciousness API key": lets secret scanners and people spot one
PREFIX_CHARS = 8
SECRET_BYTES = 32
INGEST_SCOPE = "ingest"  # the only thing a key may do: send OTLP traces


@dataclass(frozen=True)
class NewApiKey:
    """A key just made: the whole key (shown once) and its public prefix."""

    key: str
    prefix: str


def new_api_key() -> NewApiKey:
    """A fresh key `cak_<8 chars>_<secret>`; its prefix is the part up to the second `_`."""
    prefix = API_KEY_MARK + secrets.token_hex(PREFIX_CHARS // 2)
    return NewApiKey(f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}", prefix)


def looks_like_api_key(value: str) -> bool:
    """Whether `value` has the shape of one of our keys (checked before any lookup)."""
    return value.startswith(API_KEY_MARK) and len(value) < 128


def api_key_hash(key: str, secret: str) -> str:
    """HMAC-SHA256 of `key` under `secret`, hex: what the api_keys table stores."""
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()


def candidate_hashes(key: str, secrets_newest_first: Sequence[str]) -> list[str]:
    """The hash of `key` under every configured secret, newest first."""
    return [api_key_hash(key, secret) for secret in secrets_newest_first]
