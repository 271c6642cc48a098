"""Signed-in users for the engine's operations (the fixture lives with the auth tests)."""

from __future__ import annotations

from tests.auth.conftest import SignIn, sign_in

__all__ = ["SignIn", "sign_in"]
