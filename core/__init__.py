"""The vocabulary every layer shares: errors, small enums, settings, records that cross layers.

It imports nothing of ours and no web, GraphQL or database framework, so db/, auth/ and the
transports can all use it without pulling each other in.
"""
