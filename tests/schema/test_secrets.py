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
}


def _output_fields() -> list[tuple[str, str]]:
    return [
        (type_.name, field_name)
        for type_ in schema._schema.type_map.values()
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType)
        and not type_.name.startswith("__")
        for field_name in type_.fields
    ]


def test_no_output_field_is_named_like_a_secret() -> None:
    leaking = [
        f"{type_name}.{field}"
        for type_name, field in _output_fields()
        if any(word in field.lower() for word in SECRET_WORDS)
        and (type_name, field) not in DOCUMENTED
    ]
    assert leaking == []


def test_the_documented_exceptions_still_exist() -> None:
    assert set(_output_fields()) >= {
        entry for entry in DOCUMENTED if entry[1] != "renewConnectionToken"
    }


def test_the_walk_would_catch_a_secret() -> None:
    # the check is not vacuous: the documented token fields match the words
    assert all(any(word in field.lower() for word in SECRET_WORDS) for _, field in DOCUMENTED)
    assert len(_output_fields()) > 100
