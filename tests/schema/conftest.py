"""Fixtures of the schema tests."""

from tests.apps import app_with as app_with
