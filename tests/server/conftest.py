"""Fixtures of the server tests."""

from tests.apps import app_with as app_with
