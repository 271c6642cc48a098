"""The process-local half of pub/sub: numbered events, subscriptions, fan-out, in-process broker.

A Subscription replays kept events first, then follows a bounded live queue (a slow
subscriber loses its own oldest events, counted in `dropped`). LocalFanOut holds one
process's subscribers by topic; both brokers deliver through it. InProcessBroker is the
whole broker for a single process (see db/pubsub.py for the design).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import ServiceUnavailable
from core.lru import LRU

SUBSCRIBER_QUEUE_SIZE = 256
HISTORY_PER_TOPIC = 1000  # events kept per topic for `since` (Redis: MAXLEN ~, so at least)
IN_PROCESS_HISTORY_TOPICS = 1_000  # in-process: histories of the most recently used topics
Message = dict[str, Any]


@dataclass(frozen=True, slots=True, eq=False)
class Event(Mapping[str, Any]):
    """One published message, numbered: its topic, its sequence in that topic, its payload.

    It reads as the (read-only) message itself, so `event["kind"]` and `event == {...}`
    compare the payload; `sequence` and `topic` are attributes beside it.
    """

    topic: str
    sequence: int
    payload: Message

    def __getitem__(self, key: str) -> Any:
        return self.payload[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.payload)

    def __len__(self) -> int:
        return len(self.payload)


class Subscription:
    """One local subscriber: replayed events first, then a bounded live queue.

    When the live queue is full the oldest event is dropped and counted in `dropped`.
    Iteration skips events at or below `last_sequence` (already yielded, or before `since`),
    which removes the duplicates where the replay meets the live stream. After `fail`, the
    queued events are still yielded, then iteration raises the error.
    """

    def __init__(self, topic: str, maxsize: int = SUBSCRIBER_QUEUE_SIZE, after: int = 0) -> None:
        self.topic = topic
        self.dropped = 0
        self.last_sequence = after
        self._maxsize = maxsize
        self._replay: deque[Event] = deque()
        self._live: deque[Event] = deque()
        self._error: Exception | None = None
        self._wakeup = asyncio.Event()

    def offer(self, event: Event) -> bool:
        """Queue `event`; False when the oldest queued one was dropped to make room."""
        kept = len(self._live) < self._maxsize
        if not kept:
            self._live.popleft()
            self.dropped += 1
        self._live.append(event)
        self._wakeup.set()
        return kept

    def replay(self, events: Iterable[Event]) -> None:
        self._replay.extend(events)
        self._wakeup.set()

    def fail(self, error: Exception) -> None:
        self._error = error
        self._wakeup.set()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._replay:
                event = self._replay.popleft()
            elif self._live:
                event = self._live.popleft()
            elif self._error is not None:
                raise self._error
            else:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if event.sequence > self.last_sequence:
                self.last_sequence = event.sequence
                return event


class LocalFanOut:
    """The subscribers of this process, by topic."""

    def __init__(self) -> None:
        self.topics: dict[str, set[Subscription]] = defaultdict(set)
        self.dropped = 0  # events dropped from full subscriber queues, since start (/metrics)

    @property
    def subscribers(self) -> int:
        """Local subscriptions open now, over every topic."""
        return sum(len(subscribers) for subscribers in self.topics.values())

    def add(self, subscription: Subscription) -> bool:
        """Register a subscriber; True when it is the topic's first."""
        subscribers = self.topics[subscription.topic]
        subscribers.add(subscription)
        return len(subscribers) == 1

    def remove(self, subscription: Subscription) -> bool:
        """Unregister a subscriber; True when it was the topic's last."""
        subscribers = self.topics.get(subscription.topic, set())
        subscribers.discard(subscription)
        if subscribers:
            return False
        self.topics.pop(subscription.topic, None)
        return True

    def deliver(self, event: Event) -> None:
        for subscription in self.topics.get(event.topic, ()):
            if not subscription.offer(event):
                self.dropped += 1

    def fail_all(self, error: Exception) -> None:
        for subscribers in self.topics.values():
            for subscription in subscribers:
                subscription.fail(error)


class InProcessBroker:
    """Delivers to subscribers of this process only; for one-worker deployments and tests."""

    backend = "memory"

    reconnects = 0  # nothing to reconnect to; the same counter as RedisBroker's (/metrics)

    def __init__(self, history_size: int = HISTORY_PER_TOPIC) -> None:
        self.local = LocalFanOut()
        self._history_size = history_size
        self._sequences: dict[str, int] = {}
        self._history: LRU[str, deque[Event]] = LRU(IN_PROCESS_HISTORY_TOPICS)

    async def publish(self, topic: str, message: Message) -> int:
        """Deliver `message` (not copied: treat it as immutable); returns its sequence."""
        sequence = self._sequences.get(topic, 0) + 1
        self._sequences[topic] = sequence
        event = Event(topic, sequence, message)
        history = self._history.get(topic)
        if history is None:
            history = deque(maxlen=self._history_size)
            self._history.put(topic, history)
        history.append(event)
        self.local.deliver(event)
        return sequence

    async def publish_many(self, events: Sequence[tuple[str, Message]]) -> list[int]:
        """`publish` each (topic, message) in order; their sequences."""
        return [await self.publish(topic, message) for topic, message in events]

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str, since: int | None = None) -> AsyncIterator[Subscription]:
        """Live events of `topic`; with `since`, first the kept events after that sequence."""
        subscription = Subscription(topic)
        if since is not None:
            # A `since` beyond the counter (e.g. from before a restart) resumes from now.
            subscription.last_sequence = min(since, self._sequences.get(topic, 0))
            kept = self._history.get(topic) or ()
            subscription.replay(e for e in kept if e.sequence > subscription.last_sequence)
        self.local.add(subscription)  # no await since the replay: nothing can slip between
        try:
            yield subscription
        finally:
            self.local.remove(subscription)

    async def ping(self) -> float:
        return 0.0

    async def forget(self, topics: Iterable[str]) -> None:
        """Drop the kept events and counters of `topics` (account erasure)."""
        for topic in topics:
            self._history.pop(topic)
            self._sequences.pop(topic, None)

    async def close(self) -> None:
        self.local.fail_all(ServiceUnavailable("the server is shutting down"))
        self.local.topics.clear()
