"""The Redis broker: a per-topic counter, a capped stream and a channel, one reader per process.

See db/pubsub.py for the design: sequences and history (`since`), one Redis subscription per
topic and process, reconnect and catch-up, the heartbeat, and counters that survive a Redis
that lost its data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import orjson
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from core.errors import ServiceUnavailable
from core.lru import LRU
from core.tasks import cancel_and_wait
from db.broker_local import HISTORY_PER_TOPIC, Event, LocalFanOut, Message, Subscription

log = logging.getLogger(__name__)

HISTORY_TTL_SECONDS = 7 * 24 * 3600  # Redis: an idle topic's counter and stream expire
KNOWN_SEQUENCE_TOPICS = 10_000  # Redis: topics whose last sequence a process remembers
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
RECONNECT_BACKOFF_SECONDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
READ_TIMEOUT_SECONDS = 1.0
# A reader that heard nothing for HEARTBEAT_SECONDS pings Redis; when nothing at all (not even
# the pong) comes within HEARTBEAT_TIMEOUT_SECONDS more, and at least HEARTBEAT_EMPTY_READS
# reads since the ping found nothing (so a starved event loop that could not read the pong
# in time is not taken for a dead Redis), the connection counts as broken: a Redis that hangs
# (paused, a dead host, a silent network) never closes the socket itself.
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TIMEOUT_SECONDS = 5.0
HEARTBEAT_EMPTY_READS = 3

INTERRUPTED = (
    "live events are interrupted: the event broker is unreachable; subscribe again"
    " with `since` set to the last sequence received"
)


# Atomically: next sequence, append to the capped stream (id `<sequence>-0`), publish
# "<sequence>:<payload>" on the channel. KEYS: counter, stream, channel (hash-tagged alike).
# ARGV[4] is the highest sequence this process knows the topic reached: a counter below it
# was lost (Redis restarted without its data) and continues from there, never going back.
_PUBLISH_SCRIPT = """
local known = tonumber(ARGV[4])
if tonumber(redis.call('GET', KEYS[1]) or '0') < known then
    redis.call('SET', KEYS[1], known)
end
local sequence = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], sequence .. '-0', 'd', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('PUBLISH', KEYS[3], sequence .. ':' .. ARGV[1])
return sequence
"""

# KEYS[1] a topic's counter; ARGV[1] a sequence the topic is known to have reached, ARGV[2]
# the TTL. Raises a counter that went back (lost with Redis's data); returns the counter.
_RAISE_COUNTER_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local known = tonumber(ARGV[1])
if current < known then
    redis.call('SET', KEYS[1], known, 'EX', ARGV[2])
    return known
end
return current
"""


class RedisBroker:
    """Publishes through Redis; one reader connection and task per process feed subscribers."""

    backend = "redis"

    def __init__(
        self, redis: Redis, key_prefix: str, history_size: int = HISTORY_PER_TOPIC
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._history_size = history_size
        self.local = LocalFanOut()  # its counters are read by /metrics
        self.reconnects = 0  # reader connections lost and reopened, since start (/metrics)
        self._publish_script = redis.register_script(_PUBLISH_SCRIPT)
        self._raise_counter = redis.register_script(_RAISE_COUNTER_SCRIPT)
        # The reader's own pool, without redis-py's silent reconnect: a broken connection
        # must reach `_read`, which catches up from the streams after reconnecting.
        pool = redis.connection_pool
        self._reader_pool = ConnectionPool(
            connection_class=pool.connection_class,
            **{
                **pool.connection_kwargs,
                "retry": Retry(NoBackoff(), 0),
                "client_name": f"{key_prefix}broker-reader",
            },
        )
        self._reader_redis = Redis(connection_pool=self._reader_pool)
        self._pubsub: PubSub | None = None
        self._confirmed: dict[str, asyncio.Event] = {}
        self._delivered: dict[str, int] = {}  # last sequence fanned out, per topic
        # The highest sequence this process published or delivered, per recently used topic:
        # if Redis restarts without its data, the topic's numbers continue from here.
        self._known: LRU[str, int] = LRU(KNOWN_SEQUENCE_TOPICS)
        self._reader: asyncio.Task[None] | None = None
        # redis-py's PubSub opens its connection on the first command: two concurrent
        # subscribes would open two, and the reader would read only one of them.
        self._subscribing = asyncio.Lock()

    def _key(self, topic: str, kind: str) -> str:
        return f"{self._prefix}events:{{{topic}}}:{kind}"

    def _channel(self, topic: str) -> str:
        return self._key(topic, "live")

    def _topic_of(self, channel: str) -> str:
        return channel.removeprefix(f"{self._prefix}events:{{").removesuffix("}:live")

    def _publish_arguments(self, topic: str, message: Message) -> tuple[list[str], list[Any]]:
        """The publish script's keys and arguments for `message` on `topic`."""
        keys = [self._key(topic, "seq"), self._key(topic, "stream"), self._channel(topic)]
        args = [orjson.dumps(message), self._history_size, HISTORY_TTL_SECONDS]
        return keys, [*args, (self._known.get(topic) or 0)]

    async def publish(self, topic: str, message: Message) -> int:
        """Publish `message`; returns its sequence. ServiceUnavailable when Redis fails."""
        keys, args = self._publish_arguments(topic, message)
        try:
            sequence = await self._publish_script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            log.warning("could not publish on %s: %s", topic, exc)
            raise ServiceUnavailable("the event broker is unavailable; try again") from exc
        self._remember(topic, int(sequence))
        return int(sequence)

    async def publish_many(self, events: Sequence[tuple[str, Message]]) -> list[int]:
        """`publish` each (topic, message) in order, in one round trip; their sequences."""
        try:
            try:
                sequences = await self._publish_pipeline(events)
            except NoScriptError:  # Redis lost its scripts (restart, SCRIPT FLUSH): none ran
                self._publish_script.sha = await self._redis.script_load(_PUBLISH_SCRIPT)
                sequences = await self._publish_pipeline(events)
        except (RedisError, OSError) as exc:
            log.warning("could not publish %d events: %s", len(events), exc)
            raise ServiceUnavailable("the event broker is unavailable; try again") from exc
        for (topic, _), sequence in zip(events, sequences, strict=True):
            self._remember(topic, sequence)
        return sequences

    async def _publish_pipeline(self, events: Sequence[tuple[str, Message]]) -> list[int]:
        """EVALSHA of the publish script per event, pipelined (a Script in a pipeline would
        first ask SCRIPT EXISTS: a second round trip)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for topic, message in events:
                keys, args = self._publish_arguments(topic, message)
                pipe.evalsha(self._publish_script.sha, len(keys), *keys, *args)
            return [int(sequence) for sequence in await pipe.execute()]

    def _remember(self, topic: str, sequence: int) -> None:
        self._known.put(topic, max(sequence, self._known.get(topic) or 0))

    async def _restore_counter(self, topic: str, current: int) -> int:
        """The topic's counter, raised back to the last sequence known here if Redis lost it.

        Without this, numbering would restart at 1 after Redis restarted without its data,
        and a client resuming with `since` would skip (or take for duplicates) the new events.
        """
        known = self._known.get(topic) or 0
        if current >= known:
            return current
        log.warning(
            "topic %s: Redis's counter is %d, below the sequence %d seen here (Redis lost its"
            " data?); numbering continues from %d",
            topic,
            current,
            known,
            known,
        )
        raised = await self._raise_counter(
            keys=[self._key(topic, "seq")], args=[known, HISTORY_TTL_SECONDS]
        )
        return int(raised)

    async def history(self, topic: str, since: int) -> tuple[int, list[Event]]:
        """The topic's current sequence and its kept events after `since` (oldest first)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._key(topic, "seq"))
            pipe.xrange(self._key(topic, "stream"), min=f"({since}-0", count=self._history_size)
            current, entries = await pipe.execute()
        events = [
            Event(topic, int(entry_id.split(b"-", 1)[0]), orjson.loads(fields[b"d"]))
            for entry_id, fields in entries
        ]
        return int(current or 0), events

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str, since: int | None = None) -> AsyncIterator[Subscription]:
        """Live events of `topic`; with `since`, first the kept events after that sequence."""
        subscription = Subscription(topic)
        first = self.local.add(subscription)
        try:
            try:
                if first:
                    await self._start_topic(topic)
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel that
                # lands as the confirmation arrives, and the subscription would live on.
                async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                    await self._confirmed[topic].wait()
                if since is not None:  # subscribed first, so the replay and live overlap
                    current, events = await self.history(topic, since)
                    subscription.last_sequence = min(since, current)
                    subscription.replay(events)
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("could not subscribe to %s: %s", topic, exc)
                raise ServiceUnavailable(INTERRUPTED) from exc
            yield subscription
        finally:
            if self.local.remove(subscription):
                await self._stop_topic(topic)

    async def _start_topic(self, topic: str) -> None:
        self._confirmed[topic] = asyncio.Event()
        if topic not in self._delivered:  # the baseline for catching up after a reconnect
            stored = await self._redis.get(self._key(topic, "seq"))
            current = await self._restore_counter(topic, int(stored or 0))
            self._delivered.setdefault(topic, current)
        async with self._subscribing:
            if self._pubsub is not None:
                await self._pubsub.subscribe(self._channel(topic))
        self._ensure_reader()  # a new reader subscribes to every topic itself

    async def _stop_topic(self, topic: str) -> None:
        self._confirmed.pop(topic, None)
        self._delivered.pop(topic, None)
        if self._pubsub is not None and self.local.topics:  # else the reader closes it all
            # Best effort: the connection may be closing under us; a channel left subscribed
            # only relays events that no local subscriber receives.
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(self._channel(topic))

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="redis-broker-reader")

    async def _connect(self) -> None:
        """A fresh reader connection subscribed to every topic of this process."""
        pubsub = self._reader_redis.pubsub()
        self._pubsub = pubsub
        for event in self._confirmed.values():
            event.clear()
        channels = [self._channel(topic) for topic in self.local.topics]
        if channels:
            async with self._subscribing:
                await pubsub.subscribe(*channels)

    async def _disconnect(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        heard_at = loop.time()
        pinged = False
        empty_reads = 0  # since the ping
        while True:
            if not self.local.topics:
                await self._disconnect()
                if not self.local.topics:
                    return  # no await since the check: a new subscriber starts a new reader
                continue
            try:
                if self._pubsub is None:
                    async with asyncio.timeout(SUBSCRIBE_TIMEOUT_SECONDS):
                        await self._connect()
                    heard_at, pinged = loop.time(), False
                assert self._pubsub is not None
                message = await self._pubsub.get_message(timeout=READ_TIMEOUT_SECONDS)
                if message is not None:
                    failures = 0
                    heard_at, pinged = loop.time(), False
                    if message["type"] != "pong":
                        await self._handle(message)
                    continue
                silent = loop.time() - heard_at
                empty_reads += pinged
                if (
                    silent > HEARTBEAT_SECONDS + HEARTBEAT_TIMEOUT_SECONDS
                    and empty_reads >= HEARTBEAT_EMPTY_READS
                ):
                    raise RedisConnectionError(f"Redis did not answer for {silent:.0f} s")
                if silent > HEARTBEAT_SECONDS and not pinged:
                    await self._pubsub.ping()
                    pinged, empty_reads = True, 0
            except (RedisError, OSError) as exc:
                await self._disconnect()
                failures += 1
                self.reconnects += 1
                if failures == 1:  # a dropped connection: reconnect and catch up at once
                    log.warning("broker reader lost its connection (%s); reconnecting", exc)
                    continue
                log.warning("broker reader cannot reconnect (%s); failing subscribers", exc)
                self.local.fail_all(ServiceUnavailable(INTERRUPTED))
                delay = RECONNECT_BACKOFF_SECONDS[
                    min(failures - 2, len(RECONNECT_BACKOFF_SECONDS) - 1)
                ]
                await asyncio.sleep(delay)

    async def _handle(self, message: dict[str, Any]) -> None:
        topic = self._topic_of(message["channel"].decode())
        if message["type"] == "subscribe":
            confirmed = self._confirmed.get(topic)
            if confirmed is not None and not confirmed.is_set():
                await self._catch_up(topic)
                confirmed.set()
        elif message["type"] == "message":
            sequence, _, data = message["data"].partition(b":")
            self._deliver(Event(topic, int(sequence), orjson.loads(data)))

    async def _catch_up(self, topic: str) -> None:
        """Deliver what the topic published while this process was not subscribed to it."""
        current, events = await self.history(topic, self._delivered.get(topic, 0))
        await self._restore_counter(topic, current)
        for event in events:
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        if event.sequence <= self._delivered.get(event.topic, 0):
            return  # delivered already: the catch-up and the live channel overlapped
        self._delivered[event.topic] = event.sequence
        self._remember(event.topic, event.sequence)
        self.local.deliver(event)

    async def ping(self) -> float:
        started = time.perf_counter()
        await self._redis.ping()
        return (time.perf_counter() - started) * 1000

    async def forget(self, topics: Iterable[str]) -> None:
        """Delete the kept events and counters of `topics` (account erasure).

        One DEL per topic: a topic's keys share a hash tag, different topics may not.
        """
        try:
            for topic in topics:
                await self._redis.delete(self._key(topic, "seq"), self._key(topic, "stream"))
                self._known.pop(topic)
        except (RedisError, OSError) as exc:
            log.warning("could not forget topics: %s", exc)
            raise ServiceUnavailable("the event broker is unavailable; try again") from exc

    async def close(self) -> None:
        """Fail every subscriber (their iteration ends), stop the reader, close its pool."""
        self.local.fail_all(ServiceUnavailable("the server is shutting down"))
        self.local.topics.clear()
        await cancel_and_wait(self._reader)
        await self._disconnect()
        await self._reader_pool.aclose()
