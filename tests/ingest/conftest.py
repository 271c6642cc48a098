"""Signed-in users with ingestion keys, for the API key and OTLP tests."""

from __future__ import annotations

from typing import Any

from tests.agents.conftest import Caller, MakeCaller, caller, count_rows
from tests.auth.conftest import SignIn, sign_in

__all__ = ["Caller", "MakeCaller", "SignIn", "caller", "count_rows", "sign_in"]

API_KEY_FIELDS = "id name prefix createdAt lastUsedAt revokedAt"
CREATE_KEY = f"""
mutation($name: String!) {{ createApiKey(name: $name) {{ key apiKey {{ {API_KEY_FIELDS} }} }} }}
"""
LIST_KEYS = f"{{ apiKeys {{ {API_KEY_FIELDS} }} }}"
REVOKE_KEY = f"mutation($id: UUID!) {{ revokeApiKey(id: $id) {{ {API_KEY_FIELDS} }} }}"


async def make_key(owner: Caller, name: str = "collector") -> dict[str, Any]:
    """A new key of `owner`: `{key, apiKey}`."""
    created: dict[str, Any] = (await owner.ok(CREATE_KEY, name=name))["createApiKey"]
    return created
