"""Queries and writes, one module per aggregate; the only code that touches the tables."""
