"""Root fields by domain; schema/schema.py merges each domain's Query and Mutation."""
