"""Guards over the whole schema: no operation is unprotected by accident, no secret is exposed."""

from __future__ import annotations

from graphql import GraphQLObjectType, get_introspection_query, graphql
from strawberry.permission import PermissionExtension

from schema.schema import schema

# Operations anyone may call; every other root field must check a permission.
PUBLIC_OPERATIONS = {
    ("Query", "systemHealth"),
    ("Query", "systemStatus"),
    ("Mutation", "register"),
    ("Mutation", "login"),
    ("Mutation", "refreshToken"),
    ("Mutation", "logout"),
}
SECRET_WORDS = ("password", "hash", "secret")


def _root_fields() -> list[tuple[str, str, object]]:
    fields = []
    for root in (schema.query, schema.mutation, schema.subscription):
        if root is None:
            continue
        definition = root.__strawberry_definition__
        for field in definition.fields:
            fields.append(
                (definition.name, schema.config.name_converter.get_graphql_name(field), field)
            )
    return fields


def test_every_non_public_operation_checks_a_permission() -> None:
    unprotected = [
        f"{root}.{name}"
        for root, name, field in _root_fields()
        if (root, name) not in PUBLIC_OPERATIONS
        and not any(isinstance(ext, PermissionExtension) for ext in field.extensions)  # type: ignore[attr-defined]
    ]
    assert unprotected == []


def test_public_operations_still_exist() -> None:
    names = {(root, name) for root, name, _ in _root_fields()}
    assert names >= PUBLIC_OPERATIONS


def test_no_output_type_exposes_a_secret() -> None:
    leaking = [
        f"{type_.name}.{field_name}"
        for type_ in schema._schema.type_map.values()
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__")
        for field_name in type_.fields
        if any(word in field_name.lower() for word in SECRET_WORDS)
    ]
    assert leaking == []


async def test_the_full_introspection_query_answers_without_errors() -> None:
    """GraphiQL and every code generator run this; one unprintable default breaks them all."""
    result = await graphql(schema._schema, get_introspection_query())
    assert result.errors is None
    assert result.data is not None
