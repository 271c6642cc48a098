"""Webhook deliveries: a JSON body signed with HMAC-SHA256, retried with backoff, never a storm.

The receiver checks `X-Consciousness-Signature: sha256=<hex>`, the HMAC-SHA256 under the
rule's secret of `<timestamp>.<body>`, with the timestamp from `X-Consciousness-Timestamp`
(so a captured body cannot be replayed later under a fresh time). A delivery is retried on
a connection error, a timeout, 429 and 5xx, at most `max_attempts` times, waiting
`backoff_seconds` · 2^(n-1) before retry n; any other status is final. A URL whose last
delivery used every attempt is "failing" for BREAKER_SECONDS: its next deliveries get one
attempt each, so a dead receiver costs one request per notification, not a burst of retries
for every rule that points at it. Deliveries to one URL go one at a time (concurrent ones
would all retry before the first had found the receiver dead). Each delivery resolves the
URL's host once, checks the addresses and connects to the one checked (`Target`). Every
outcome comes back as a `Delivery`; nothing raises.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

SIGNATURE_HEADER = "X-Consciousness-Signature"
TIMESTAMP_HEADER = "X-Consciousness-Timestamp"
BREAKER_SECONDS = 300.0
MAX_URL_CHARS = 2048
_RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class UrlRefused(ValueError):
    """A webhook URL the server will not call; the message says why (safe to show)."""


@dataclass(frozen=True)
class Delivery:
    """What became of one notification: attempts made, the last HTTP (or SMTP) status."""

    ok: bool
    attempts: int
    status_code: int | None
    error: str | None = None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def check_url(url: str, *, allow_private: bool) -> None:
    """UrlRefused unless `url` is http(s) with a host, and (unless `allow_private`) every
    address the host resolves to is public. Blocking (DNS): call it in a worker thread."""
    parts = _checked_parts(url)
    if not allow_private:
        _public_addresses(parts)


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL with its host replaced by the address that was
    checked, so the host cannot resolve elsewhere between the check and the connection
    (DNS rebinding); the Host header and TLS (SNI, certificate) keep the URL's own host."""

    url: str
    host_header: str
    hostname: str


def pinned_target(url: str, *, allow_private: bool) -> Target:
    """`url`'s Target: checked as `check_url` does, its host resolved once. Blocking (DNS)."""
    parts = _checked_parts(url)
    hostname = str(parts.hostname)
    address = _public_addresses(parts)[0] if not allow_private else _addresses(parts)[0]
    literal = f"[{address}]" if ":" in address else address
    port = f":{parts.port}" if parts.port is not None else ""
    pinned = urlunsplit((parts.scheme, literal + port, parts.path, parts.query, ""))
    return Target(pinned, parts.netloc, hostname)


def _checked_parts(url: str) -> SplitResult:
    if len(url) > MAX_URL_CHARS:
        raise UrlRefused(f"a webhook URL has at most {MAX_URL_CHARS} characters")
    if any(character.isspace() or not character.isprintable() for character in url):
        raise UrlRefused("a URL has no spaces or control characters (percent-encode them)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port out of range)
    except ValueError as exc:  # a bad IPv6 literal, a port out of range
        raise UrlRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused(
            f"the scheme {parts.scheme or '(none)'!r} is not allowed: use http or https"
        )
    if not parts.hostname:
        raise UrlRefused("the URL names no host")
    if parts.username or parts.password:
        raise UrlRefused("credentials in the URL are not allowed; use the signature")
    return parts


def _addresses(parts: SplitResult) -> list[str]:
    default_port = 443 if parts.scheme == "https" else 80
    try:
        infos = socket.getaddrinfo(
            parts.hostname, parts.port or default_port, type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError):
        raise UrlRefused(f"the host {parts.hostname!r} does not resolve") from None
    return [str(info[4][0]) for info in infos]


def _public_addresses(parts: SplitResult) -> list[str]:
    addresses = _addresses(parts)
    for address in addresses:
        if _refused_address(address):
            raise UrlRefused(
                f"the host {parts.hostname!r} is on a private or reserved network "
                f"({address}), which this server does not call"
            )
    return addresses


class WebhookSender:
    """Sends signed JSON bodies through one connection pool (opened lazily, closed at shutdown)."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        max_attempts: int,
        backoff_seconds: float,
        allow_private: bool,
    ) -> None:
        self._timeout = timeout_seconds
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._allow_private = allow_private
        self._client: httpx.AsyncClient | None = None
        self._failing_until: dict[str, float] = {}
        self._per_url: dict[str, tuple[asyncio.Lock, int]] = {}  # the lock, its users

    async def send(self, url: str, secret: str, body: bytes) -> Delivery:
        """Deliver `body` to `url` (module docstring), after the deliveries to it under way."""
        lock, users = self._per_url.get(url, (asyncio.Lock(), 0))
        self._per_url[url] = (lock, users + 1)
        try:
            async with lock:
                return await self._send(url, secret, body)
        finally:
            lock, users = self._per_url[url]
            if users == 1:
                del self._per_url[url]
            else:
                self._per_url[url] = (lock, users - 1)

    async def _send(self, url: str, secret: str, body: bytes) -> Delivery:
        """One delivery; the URL is checked again first, since what its host resolves to
        may have changed since the rule was saved, and the address checked is the one
        called (`Target`)."""
        try:
            target = await asyncio.to_thread(pinned_target, url, allow_private=self._allow_private)
        except UrlRefused as exc:
            return Delivery(ok=False, attempts=0, status_code=None, error=str(exc))
        if self._client is None:
            # No connection is kept for another delivery: pinned requests go to an address,
            # and a kept connection (pooled by address) was verified for another host name.
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                follow_redirects=False,
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        failing = self._failing_until.get(url, 0.0) > time.monotonic()
        attempts_allowed = 1 if failing else self._max_attempts
        status: int | None = None
        error: str | None = None
        for attempt in range(1, attempts_allowed + 1):
            if attempt > 1:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 2))
            stamp = str(int(time.time()))
            headers = {
                "host": target.host_header,
                "content-type": "application/json",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: signature(secret, stamp, body),
            }
            try:
                response = await self._client.post(
                    target.url,
                    content=body,
                    headers=headers,
                    extensions={"sni_hostname": target.hostname},
                )
            except httpx.HTTPError as exc:
                status, error = None, f"request failed ({type(exc).__name__})"
                continue
            status = response.status_code
            if 200 <= status < 300:
                self._failing_until.pop(url, None)
                return Delivery(ok=True, attempts=attempt, status_code=status)
            error = f"HTTP {status}"
            if status not in _RETRIED_STATUSES:
                return Delivery(ok=False, attempts=attempt, status_code=status, error=error)
        self._failing_until[url] = time.monotonic() + BREAKER_SECONDS
        return Delivery(ok=False, attempts=attempts_allowed, status_code=status, error=error)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
