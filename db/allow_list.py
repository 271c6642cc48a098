"""The allow-list of persisted operations: a JSON file of sha256 hex → document.

Read once per path and checked entry by entry; `register_operations` adds documents to it
(the CLI's `register-operations`). The request path (server/persisted.py) and the limits
extension (schema/limits.py) ask `is_allowed`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from core.settings import ConfigurationError

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
HASHED_DOCUMENTS = 64  # at most 64 x MAX_QUERY_BYTES held


@functools.lru_cache(maxsize=HASHED_DOCUMENTS)
def sha256_hex(document: str) -> str:
    """The APQ hash of a document: sha256 of its UTF-8 bytes, lower-case hex.

    Remembered for the last few documents: a request's document is checked by the HTTP
    view and again before execution, and clients send the same few documents over and
    over (the key is the string, whose own hash Python keeps once computed).
    """
    return hashlib.sha256(document.encode()).hexdigest()


@functools.cache
def load_allow_list(path: Path) -> Mapping[str, str]:
    """The allow-list file: a JSON object of sha256 hex → document, each hash checked.

    Read once per path (at start: the app's lifespan loads it); a bad file is a
    ConfigurationError naming PERSISTED_OPERATIONS_FILE.
    """
    prefix = f"configuration error: PERSISTED_OPERATIONS_FILE: {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{prefix}: cannot be read: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{prefix}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"{prefix}: must be a JSON object of sha256 → document")
    for key, document in data.items():
        if not isinstance(document, str) or not SHA256_HEX.match(key):
            raise ConfigurationError(f"{prefix}: {key!r} is not a sha256 hex → document entry")
        if sha256_hex(document) != key:
            raise ConfigurationError(f"{prefix}: {key} is not the sha256 of its document")
    return MappingProxyType(dict(data))


def is_allowed(allow_list: Mapping[str, str], query: str) -> bool:
    """Whether `query` is one of the allow-list's documents, byte for byte."""
    return sha256_hex(query) in allow_list


def register_operations(path: Path, documents: list[str]) -> list[str]:
    """Add documents to the allow-list file (created when missing); their hashes, in order."""
    existing: dict[str, str] = {}
    if path.exists():
        load_allow_list.cache_clear()
        existing = dict(load_allow_list(path))
        load_allow_list.cache_clear()
    hashes = []
    for document in documents:
        digest = sha256_hex(document)
        existing[digest] = document
        hashes.append(digest)
    path.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return hashes
