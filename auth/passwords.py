"""Password hashing with Argon2 (passlib) and the password policy."""

from __future__ import annotations

from passlib.context import CryptContext

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

# OWASP's Argon2id recommendation (19 MiB, 2 passes, 1 lane): ~30 ms a hash here, instead of
# passlib's default 64 MiB x 3 x 4 lanes (~260 ms), which made login the server's bottleneck.
# Hashes made with other parameters verify and are upgraded on the next successful login.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_PASSES = 2
ARGON2_LANES = 1

_context = CryptContext(
    schemes=["argon2"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=ARGON2_MEMORY_KIB,
    argon2__rounds=ARGON2_PASSES,
    argon2__parallelism=ARGON2_LANES,
)


class PasswordPolicyError(ValueError):
    """The password breaks the policy; the message says which rule."""


def check_policy(password: str, *, username: str) -> None:
    """Raise PasswordPolicyError unless the password is long enough and not the username."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().casefold() == username.strip().casefold():
        raise PasswordPolicyError("password must not equal the username")


def hash_password(password: str) -> str:
    hashed: str = _context.hash(password)
    return hashed


def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Whether the password matches, and a new hash when the stored one's parameters are stale."""
    valid, new_hash = _context.verify_and_update(password, password_hash)
    return bool(valid), new_hash
