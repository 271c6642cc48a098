"""Access tokens (JWT, several keys for rotation) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from auth.permissions import Principal, permissions_for
from core.clock import SYSTEM_CLOCK, Clock
from core.enums import Role, Tier
from core.errors import Unauthenticated
from db.models import User
from db.tokens import AccessCheck, TokenStore

ACCESS_TOKEN_TYPE = "access"  # noqa: S105  (a claim value, not a secret)
REFRESH_TOKEN_BYTES = 32
VERIFIED_CACHE_SIZE = 4096  # tokens whose principal is kept: a few hundred bytes each


def key_id(secret: str) -> str:
    """A short, stable id for a signing secret that reveals nothing about it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def hash_refresh_token(token: str) -> str:
    """What the token store keeps instead of the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_in: int


class AccessTokens:
    """Signs with the newest secret; verifies with any configured one, chosen by `kid`.

    `iat` is a float (RFC 7519 NumericDate allows fractions) so a revocation cutoff taken
    at time t rejects exactly the tokens issued before t. `iat` and `exp` are read on
    `clock`, not by pyjwt on the system's, so a test can move past a token's expiry.
    """

    def __init__(
        self,
        secrets_newest_first: list[str],
        algorithm: str,
        ttl_seconds: int,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not secrets_newest_first:
            raise ValueError("at least one signing secret is needed")
        self._keys = {key_id(secret): secret for secret in secrets_newest_first}
        self._current_kid = key_id(secrets_newest_first[0])
        self._algorithm = algorithm
        self._clock = clock
        self._verified: dict[str, Principal] = {}
        self.ttl_seconds = ttl_seconds

    def issue(self, user: User) -> IssuedAccessToken:
        now = self._clock.time()
        jti = uuid.uuid4().hex
        roles = [Role(role) for role in user.roles]
        claims = {
            "sub": str(user.id),
            "username": user.username,
            "roles": [role.value for role in roles],
            "permissions": sorted(permission.value for permission in permissions_for(roles)),
            "tier": user.tier,
            "iat": now,
            "exp": int(now) + self.ttl_seconds,
            "jti": jti,
            "typ": ACCESS_TOKEN_TYPE,
        }
        token = jwt.encode(
            claims,
            self._keys[self._current_kid],
            algorithm=self._algorithm,
            headers={"kid": self._current_kid},
        )
        return IssuedAccessToken(token=token, jti=jti, expires_in=self.ttl_seconds)

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; UNAUTHENTICATED for any other token.

        A token is checked (signature, claims) once; its principal is then kept until the
        token expires, so a client sending it on every request costs a dict lookup, not a
        JWT decode. Only valid tokens are kept, at most VERIFIED_CACHE_SIZE of them (the
        oldest go first); revocation is the token store's, asked on every request.
        """
        cached = self._verified.get(token)
        if cached is not None:
            if cached.expires_at > self._clock.time():
                return cached
            del self._verified[token]
        principal = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = principal
        return principal

    def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            secret = self._keys.get(header.get("kid", ""))
            if secret is None:
                raise Unauthenticated("access token signed with an unknown key")
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[self._algorithm],
                options={
                    "require": ["sub", "exp", "iat", "jti"],
                    "verify_exp": False,  # _check_times, on our clock
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise Unauthenticated("invalid access token") from None
        self._check_times(claims)
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthenticated("not an access token")
        try:
            roles = tuple(Role(role) for role in claims["roles"])
            return Principal(
                user_id=str(uuid.UUID(claims["sub"])),
                username=str(claims["username"]),
                roles=roles,
                permissions=permissions_for(list(roles)),
                tier=Tier(claims["tier"]),
                jti=str(claims["jti"]),
                issued_at=float(claims["iat"]),
                expires_at=float(claims["exp"]),
            )
        except (KeyError, TypeError, ValueError):
            raise Unauthenticated("invalid access token") from None

    def _check_times(self, claims: dict[str, Any]) -> None:
        """pyjwt's checks of `exp`, `iat` and `nbf` (whole seconds, no leeway), on our clock."""
        try:
            exp, iat, nbf = (int(claims.get(name, 0)) for name in ("exp", "iat", "nbf"))
        except (TypeError, ValueError, OverflowError):
            raise Unauthenticated("invalid access token") from None
        now = self._clock.time()
        if exp <= now:
            raise Unauthenticated("access token expired")
        if iat > now or nbf > now:
            raise Unauthenticated("invalid access token: not valid yet")


async def authenticate(tokens: AccessTokens, store: TokenStore, token: str) -> Principal:
    """Verify the signature and claims, then ask the token store whether it was revoked.

    A token is dead when its jti was revoked (logout), or when it was issued at or before
    its user's cutoff (deactivation, role or tier change).
    """
    principal = tokens.verify(token)
    reason = revocation(principal, await store.access_check(principal.jti, principal.user_id))
    if reason is not None:
        raise Unauthenticated(reason)
    return principal


def revocation(principal: Principal, check: AccessCheck) -> str | None:
    """Why the token store says `principal`'s token is no longer good, or None."""
    if check.jti_revoked:
        return "access token revoked"
    if check.user_cutoff is not None and principal.issued_at <= check.user_cutoff:
        return "access token no longer valid: sign in again"
    return None
