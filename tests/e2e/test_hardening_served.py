"""HTTP hardening through `consciousness serve` (uvicorn): HSTS from a trusted proxy's
X-Forwarded-Proto only, and the body limit on a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.live.conftest import _start_server

HEALTH = {"query": "{ systemHealth { status } }"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Two servers: one trusting the local proxy (the default), one trusting another peer."""
    tmp_path = tmp_path_factory.mktemp("hardening")
    trusting, trusting_url = _start_server(tmp_path / "trusting", {"MAX_BODY_BYTES": "4096"})
    other, other_url = _start_server(tmp_path / "other", {"FORWARDED_ALLOW_IPS": "10.9.9.9"})
    try:
        yield {"trusting": trusting_url, "other": other_url}
    finally:
        for process in (trusting, other):
            process.terminate()
        for process in (trusting, other):
            process.wait(timeout=30)


def test_hsts_follows_x_forwarded_proto_from_trusted_peers_only(served: dict[str, str]) -> None:
    forwarded = {"x-forwarded-proto": "https"}
    trusted = httpx.post(f"{served['trusting']}/graphql", json=HEALTH, headers=forwarded)
    assert trusted.headers["strict-transport-security"].startswith("max-age=31536000")
    assert trusted.headers["content-security-policy"].startswith("default-src 'self'")
    plain = httpx.post(f"{served['trusting']}/graphql", json=HEALTH)
    assert "strict-transport-security" not in plain.headers
    untrusted = httpx.post(f"{served['other']}/graphql", json=HEALTH, headers=forwarded)
    assert untrusted.status_code == 200
    assert "strict-transport-security" not in untrusted.headers


def test_a_large_body_is_refused_with_413_over_a_socket(served: dict[str, str]) -> None:
    big = {**HEALTH, "variables": {"pad": "x" * 10_000}}
    response = httpx.post(f"{served['trusting']}/graphql", json=big)
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.text

    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ __typename }", "variables": {"pad": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}}'

    streamed = httpx.post(
        f"{served['trusting']}/graphql",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413
