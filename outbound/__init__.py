"""Calls this server makes to services it does not own (a language model today)."""
