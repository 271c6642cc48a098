"""Publish/subscribe between server processes: Redis in production, in-process by default.

Every event carries a per-topic sequence number (1, 2, 3, … per topic), so a subscriber sees
a gap as a jump in the numbers. Events are also kept in a bounded per-topic history (Redis:
a capped stream beside the pub/sub channel; in-process: a deque), so `subscribe(topic,
since=n)` first replays the events after `n` still in the history, then continues live,
dropping at the seam whatever it has already yielded: no gap and no duplicate.

Each process holds at most one Redis subscription per topic, on one reader connection, and
fans events out to its local subscribers through bounded queues, so a websocket never costs
a Redis connection and a slow subscriber only loses its own oldest events (counted in
`dropped`, visible to it as a jump in the sequence). When the reader's connection breaks it
reconnects at once, resubscribes and catches up from the streams, so nothing is lost; when
Redis stays unreachable, every subscriber's iteration raises ServiceUnavailable instead of
stalling, and the reader keeps retrying with backoff for the subscribers that come next. A
Redis that hangs without closing the connection is caught by a heartbeat (a PING after
HEARTBEAT_SECONDS of silence). If Redis comes back without its data (no persistence), each
process raises the counters of the topics it remembers back to the last sequence it saw, so
numbering never goes back and `since` still finds what was published after the restart.

The code is in db/broker_local.py and db/broker_redis.py; the rest of the server imports the
broker from here, where `Broker` names either.
"""

from __future__ import annotations

from db.broker_local import SUBSCRIBER_QUEUE_SIZE, Event, InProcessBroker, Subscription
from db.broker_redis import RedisBroker

__all__ = [
    "SUBSCRIBER_QUEUE_SIZE",
    "Broker",
    "Event",
    "InProcessBroker",
    "RedisBroker",
    "Subscription",
]

Broker = InProcessBroker | RedisBroker
