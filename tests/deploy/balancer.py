"""Debian's nginx running deploy/nginx.conf in front of given servers: the load balancer of
the scale-out test and of the scale-out benchmark (bench/balancer_bench.py)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
NGINX_CANDIDATES = ("/usr/sbin/nginx", "nginx")
START_SECONDS = 10
# The upstream servers of deploy/nginx.conf: `server api-1:8000 <options>;`, one a line.
UPSTREAM_SERVER = re.compile(r"^( *)server api-\d+:8000( [^;]*)?;\n", re.MULTILINE)


class BalancerDidNotStart(RuntimeError):
    """nginx exited or did not listen in time; the message holds the end of its log."""


def nginx_binary() -> str | None:
    """The nginx executable, or None when it is not installed."""
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def balancer_conf(upstreams: list[str], port: int, workdir: Path) -> str:
    """deploy/nginx.conf with these `host:port` upstreams, listening on 127.0.0.1:`port`, and
    its pid, temporary and log files under `workdir`; everything else as shipped."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    shipped = UPSTREAM_SERVER.findall(text)
    if not shipped or "listen 8080;" not in text:
        raise ValueError(f"{NGINX_CONF} no longer has `server api-N:8000 …;` and `listen 8080;`")
    indent, options = shipped[0]
    servers = "".join(f"{indent}server {upstream}{options};\n" for upstream in upstreams)
    text = UPSTREAM_SERVER.sub("", text, count=len(shipped) - 1)
    text = UPSTREAM_SERVER.sub(servers.replace("\\", "\\\\"), text, count=1)
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    return text.replace("/tmp/", f"{workdir}/")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def load_balancer(nginx: str, upstreams: list[str], workdir: Path) -> Iterator[str]:
    """nginx in front of `upstreams` for the block; yields its URL. Its log (access lines
    name the upstream that answered) goes to workdir/nginx.log."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(balancer_conf(upstreams, port, workdir), encoding="utf-8")
    # Started as root, nginx would run its workers as `nobody`, who cannot enter workdir.
    directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    log_path = workdir / "nginx.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [nginx, "-p", str(workdir), "-c", str(conf), "-g", directives],
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise BalancerDidNotStart(log_path.read_text(errors="replace")[-2000:])
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()  # nginx's fast shutdown
        try:
            process.wait(timeout=START_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
