"""REST under /api/v1: each endpoint a named GraphQL operation run through the same schema.

operations/*.graphql hold the documents; endpoints.py maps routes to them; adapter.py turns
a request into the operation's variables and its result into an HTTP response; openapi.py
describes it all from the documents and the schema's types.
"""
