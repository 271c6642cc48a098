"""One uvicorn worker of our app accepting on a listening socket it inherits, as each worker of
`consciousness serve --workers N` does: every worker accepts on the same socket.

Run as `python bench/servers/socket_worker.py FD` with the app's settings in the environment;
bench/process_load_bench.py starts N of them, each with its own DATA_DIR, because the embedded
chDB analytics store (there is no ClickHouse server on the benchmark machine) can be opened
by one process only. It prints `WORKER READY` once the app's lifespan has started.
"""

from __future__ import annotations

import socket
import sys

import uvicorn

from core.settings import load_settings


class Worker(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:  # the lifespan started: this worker accepts from now on
            print("WORKER READY", flush=True)


def main() -> None:
    listening = socket.socket(fileno=int(sys.argv[1]))  # family and type read from the fd
    settings = load_settings()
    config = uvicorn.Config(  # the HTTP side of `consciousness serve`'s uvicorn.run
        "server.app:app_from_environment",
        factory=True,
        log_level=settings.log_level.value.lower(),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        access_log=False,
        log_config=None,
    )
    Worker(config).run(sockets=[listening])


if __name__ == "__main__":
    main()
