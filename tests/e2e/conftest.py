"""A real server for end-to-end tests: `consciousness serve` under uvicorn on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import embedded_env, free_port, serve

__all__ = ["free_port"]


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`consciousness serve` on a free port, with embedded stores in a temporary directory."""
    workdir = tmp_path_factory.mktemp("server")
    with serve(workdir, embedded_env(workdir)) as (url, _process):
        yield url
