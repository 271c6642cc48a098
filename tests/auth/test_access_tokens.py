"""Access tokens: claims, key rotation without logging anyone out, only the configured algorithm."""

from __future__ import annotations

import uuid

import jwt
import pytest

from auth.tokens import AccessTokens, key_id
from core.enums import Role, Tier
from core.errors import Unauthenticated
from db.models import User
from tests.support import FakeClock

OLD, NEW = "o" * 40, "n" * 40


def _user() -> User:
    return User(
        id=uuid.uuid4(),
        username="kim",
        email="kim@example.org",
        password_hash="x",
        roles=[Role.DEVELOPER.value],
        tier=Tier.ADVANCED.value,
    )


def test_token_carries_the_claims_and_kid() -> None:
    user = _user()
    issued = AccessTokens([NEW], "HS256", 900).issue(user)
    claims = jwt.decode(issued.token, NEW, algorithms=["HS256"])
    assert set(claims) == {
        "sub",
        "username",
        "roles",
        "permissions",
        "tier",
        "iat",
        "exp",
        "jti",
        "typ",
    }
    assert claims["sub"] == str(user.id)
    assert claims["roles"] == ["developer"]
    assert "analytics:export" in claims["permissions"]
    assert claims["exp"] - claims["iat"] == pytest.approx(900, abs=1)
    assert jwt.get_unverified_header(issued.token)["kid"] == key_id(NEW)


def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key() -> None:
    old_token = AccessTokens([OLD], "HS256", 900).issue(_user()).token
    rotated = AccessTokens([NEW, OLD], "HS256", 900)
    assert rotated.verify(old_token).username == "kim"
    new_token = rotated.issue(_user()).token
    assert jwt.get_unverified_header(new_token)["kid"] == key_id(NEW)
    retired = AccessTokens([NEW], "HS256", 900)
    with pytest.raises(Unauthenticated, match="unknown key"):
        retired.verify(old_token)


def test_only_the_configured_algorithm_is_accepted() -> None:
    tokens = AccessTokens([NEW], "HS256", 900)
    claims = jwt.decode(tokens.issue(_user()).token, NEW, algorithms=["HS256"])
    other_alg = jwt.encode(claims, NEW * 2, algorithm="HS512", headers={"kid": key_id(NEW)})
    with pytest.raises(Unauthenticated):
        tokens.verify(other_alg)


def test_a_token_expires_at_its_exp_on_the_clock_it_was_issued_on() -> None:
    clock = FakeClock()  # at a whole second: exp is exactly 900 s later
    tokens = AccessTokens([NEW], "HS256", 900, clock)
    token = tokens.issue(_user()).token
    clock.advance(899.5)
    assert tokens.verify(token).username == "kim"
    clock.advance(0.5)
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify(token)


@pytest.mark.parametrize(
    ("changed", "message"),
    [
        ({"iat": 5}, "not valid yet"),
        ({"nbf": 5}, "not valid yet"),
        ({"exp": "later"}, "invalid access token"),
        ({"iat": float("inf")}, "invalid access token"),
    ],
)
def test_times_that_are_not_yet_or_not_numbers_are_refused(
    changed: dict[str, object], message: str
) -> None:
    clock = FakeClock()
    tokens = AccessTokens([NEW], "HS256", 900, clock)
    claims = jwt.decode(tokens.issue(_user()).token, NEW, algorithms=["HS256"])
    shifted = {k: claims["iat"] + v if isinstance(v, int) else v for k, v in changed.items()}
    forged = jwt.encode({**claims, **shifted}, NEW, algorithm="HS256", headers={"kid": key_id(NEW)})
    with pytest.raises(Unauthenticated, match=message):
        tokens.verify(forged)


def test_key_ids_do_not_reveal_the_secret() -> None:
    assert NEW not in key_id(NEW)
    assert key_id(NEW) != key_id(OLD)


def test_a_token_is_decoded_once_and_refused_once_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    tokens = AccessTokens([NEW], "HS256", 900, clock)
    issued = tokens.issue(_user())
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: object, **kwargs: object) -> object:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    first = tokens.verify(issued.token)
    assert tokens.verify(issued.token) == first
    assert decoded == [issued.token]
    clock.advance(899)
    assert tokens.verify(issued.token) == first
    clock.advance(1)
    with pytest.raises(Unauthenticated, match="expired"):
        tokens.verify(issued.token)
    with pytest.raises(Unauthenticated, match="invalid"):
        tokens.verify(issued.token[:-2] + "xx")  # a forged signature is never served cached
