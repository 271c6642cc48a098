"""DATA_ENCRYPTION_KEYS: its `id:base64` entries, and the key development generates.

Apart from core/settings.py so that the settings module stays a list of settings.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

DATA_KEY_FILE = "data_key"  # the generated development data key
DEVELOPMENT_DATA_KEY_ID = "dev-generated"  # says in every row that it is not a real key
DATA_KEY_BYTES = 32  # AES-256
_DATA_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def parse_data_key(entry: str) -> tuple[str, bytes]:
    """`id:base64` as (id, the 32 key bytes); ValueError saying what is wrong."""
    key_id, _, encoded = entry.partition(":")
    if not _DATA_KEY_ID.match(key_id):
        raise ValueError("each key is id:base64, the id 1-32 of A-Z a-z 0-9 _ . -")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"key {key_id!r} is not valid base64") from None
    if len(key) != DATA_KEY_BYTES:
        raise ValueError(f"key {key_id!r} must be {DATA_KEY_BYTES} bytes, not {len(key)}")
    return key_id, key


def data_keys(
    entries: Sequence[str], current_id: str, data_dir: Path
) -> tuple[str, dict[str, bytes]]:
    """The current data key's id and every data key by id.

    In development, without DATA_ENCRYPTION_KEYS, one key is generated and kept in
    data_dir under the id `dev-generated` (production refuses to start without keys).
    """
    entries = list(entries)
    if not entries:
        path = data_dir / DATA_KEY_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            key = base64.b64encode(secrets.token_bytes(DATA_KEY_BYTES)).decode()
            path.write_text(f"{DEVELOPMENT_DATA_KEY_ID}:{key}")
            path.chmod(0o600)
            log.warning(
                "DATA_ENCRYPTION_KEYS is not set: generated a development data key in %s. "
                "Set DATA_ENCRYPTION_KEYS in production.",
                path,
            )
        entries = [path.read_text().strip()]
    keys = dict(parse_data_key(entry) for entry in entries)
    return current_id or next(iter(keys)), keys
