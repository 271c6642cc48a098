"""No GraphQL output type exposes a secret: passwords, hashes, keys, or tokens other than
the ones AuthPayload exists to hand out."""

from __future__ import annotations

from graphql import GraphQLInterfaceType, GraphQLObjectType

from schema.schema import schema

SECRET_WORDS = ("password", "hash", "secret", "token", "jti", "salt", "apikey", "api_key")

DOCUMENTED = {
    # The sign-in result: handing these to their owner is its purpose.
    ("AuthPayload", "accessToken"),
    ("AuthPayload", "refreshToken"),
    ("AuthPayload", "tokenType"),
    # Root operations named after what they take, not fields that return a secret.
    ("Mutation", "refreshToken"),
    ("Mutation", "renewConnectionToken"),
    # Ingestion keys: the operations, and the key's record (id, name, prefix; never the key
    # or its hash). CreateApiKeyPayload.key hands the new key to its owner once.
    ("Query", "apiKeys"),
    ("Mutation", "createApiKey"),
    ("Mutation", "revokeApiKey"),
    ("CreateApiKeyPayload", "apiKey"),
    # Counts of a model call's tokens (text units), not credentials.
    ("MetricsEvent", "inputTokens"),
    ("MetricsEvent", "outputTokens"),
}


def _output_fields() -> list[tuple[str, str]]:
    return [
        (type_.name, field_name)
        for type_ in schema._schema.type_map.values()
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType)
        and not type_.name.startswith("__")
        for field_name in type_.fields
    ]


def _leaking(fields: list[tuple[str, str]]) -> list[str]:
    return [
        f"{type_name}.{field}"
        for type_name, field in fields
        if any(word in field.lower() for word in SECRET_WORDS)
        and (type_name, field) not in DOCUMENTED
    ]


def test_no_output_field_is_named_like_a_secret() -> None:
    assert _leaking(_output_fields()) == []


def test_the_documented_exceptions_still_exist() -> None:
    assert set(_output_fields()) >= DOCUMENTED


def test_the_walk_would_catch_a_secret() -> None:
    assert _leaking([("User", "passwordHash"), ("Agent", "apiKey")]) == [
        "User.passwordHash",
        "Agent.apiKey",
    ]
    assert len(_output_fields()) > 100  # the walk sees the whole schema
