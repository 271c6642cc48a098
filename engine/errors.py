"""Exceptions raised by the engine; no other package's types leak in or out."""

from __future__ import annotations


class EngineError(Exception):
    """Base class for every error the engine raises on purpose."""


class ConfigError(EngineError):
    """An engine configuration value is missing, unknown or out of range.

    `key` names the offending configuration key (dotted for nested keys, e.g.
    ``framework_weights.virtue``) so callers can report it to the client as the
    field in error.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class StateError(EngineError):
    """A serialized agent state cannot be read (wrong version, missing or bad field)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class DataError(EngineError):
    """A data file shipped with the engine (rules, patterns) is malformed."""
