"""The bus across nodes: Redis pub/sub, one channel per account.

Each node subscribes to the channel of an account only while it holds a listener for it, so
an event reaches every node that has a subscriber and no other. A node delivers its own
events to its listeners at once and skips their echo from Redis. When the connection to Redis
breaks, redis-py reconnects and resubscribes; listeners then get an empty ``changed`` map
("look again"), so a client misses nothing that was committed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from .bus import Listener, Listeners, StateMap

log = logging.getLogger("fulmar.bus.redis")

PREFIX = "fulmar:state:"
#: seconds without traffic on the subscriber connection before it is checked with a PING
HEALTH_INTERVAL = 15.0


class RedisBus:
    def __init__(self, url: str, node_id: str | None = None) -> None:
        self.url = url
        self.node_id = node_id or secrets.token_hex(8)
        self._listeners = Listeners()
        self._client = redis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=5, socket_keepalive=True
        )
        self._sub_client = redis.Redis.from_url(
            url, socket_connect_timeout=5, socket_keepalive=True
        )
        self._pubsub = self._sub_client.pubsub()
        self._wanted: set[str] = set()
        self._sent: set[str] = set()
        self._confirmed: set[str] = set()
        self._wanted_changed = asyncio.Event()
        self._progress = asyncio.Event()
        self._broken = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Connect (failing loudly if Redis cannot be reached) and start listening."""
        await self._client.ping()
        await self._pubsub.subscribe(f"fulmar:node:{self.node_id}")
        self._tasks = [
            asyncio.create_task(self._read(), name="redis-bus-read"),
            asyncio.create_task(self._sync(), name="redis-bus-sync"),
        ]

    # -- the Bus protocol --
    async def publish(self, account_id: str, changed: StateMap) -> None:
        self._listeners.deliver(account_id, changed)
        self._listeners.run_hooks(account_id, changed)
        payload = orjson.dumps({"n": self.node_id, "c": changed})
        try:
            await self._client.publish(PREFIX + account_id, payload)
        except (RedisError, OSError) as exc:
            # The commit stands; other nodes' clients catch up at the next event or reconnect.
            log.warning("cannot publish to Redis: %s", exc)

    def subscribe(self, account_id: str, listener: Listener) -> Callable[[], None]:
        if self._listeners.add(account_id, listener):
            self._wanted.add(account_id)
            self._wanted_changed.set()

        def unsubscribe() -> None:
            if self._listeners.remove(account_id, listener):
                self._wanted.discard(account_id)
                self._wanted_changed.set()

        return unsubscribe

    def add_publish_hook(self, hook: Listener) -> None:
        self._listeners.hooks.append(hook)

    async def ready(self, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._progress.clear()
            if self._wanted <= self._confirmed:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning("Redis subscriptions not confirmed within %.1fs", timeout)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._listeners.by_account.clear()
        self._listeners.hooks.clear()
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        for client in (self._client, self._sub_client):
            with contextlib.suppress(Exception):
                await client.aclose()

    # -- background work --
    async def _sync(self) -> None:
        """Bring the Redis subscriptions in line with the accounts that have listeners."""
        while True:
            await self._wanted_changed.wait()
            self._wanted_changed.clear()
            try:
                add = sorted(self._wanted - self._sent)
                drop = sorted(self._sent - self._wanted)
                if add:
                    await self._pubsub.subscribe(*(PREFIX + a for a in add))
                    self._sent.update(add)
                if drop:
                    await self._pubsub.unsubscribe(*(PREFIX + a for a in drop))
                    self._sent.difference_update(drop)
            except (RedisError, OSError) as exc:
                log.warning("cannot (un)subscribe on Redis: %s", exc)
                await asyncio.sleep(1)
                self._wanted_changed.set()

    async def _read(self) -> None:
        backoff = 0.1
        pinged = False
        while True:
            try:
                message = await self._pubsub.get_message(timeout=HEALTH_INTERVAL)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection broke: redis-py reconnects on next read
                if not self._broken:
                    log.warning("lost the Redis subscriber connection: %s", exc)
                self._broken = True
                self._confirmed.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if message is None:
                if pinged:  # no answer to the last PING: drop the connection and reconnect
                    await self._pubsub.connection.disconnect()  # type: ignore[union-attr]
                    pinged = False
                    continue
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.ping()
                    pinged = True
                continue
            pinged = False
            backoff = 0.1
            if self._broken:
                self._broken = False
                log.info("Redis subscriber connection is back; asking listeners to look again")
                self._resync()
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message.get("channel")
        name = channel.decode() if isinstance(channel, bytes) else str(channel or "")
        account_id = name[len(PREFIX) :] if name.startswith(PREFIX) else None
        if kind == "message" and account_id is not None:
            try:
                payload = orjson.loads(message["data"])
                node, changed = payload["n"], payload["c"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.warning("ignoring a malformed bus message on %s", name)
                return
            if node != self.node_id and isinstance(changed, dict):
                self._listeners.deliver(account_id, changed)
        elif kind == "subscribe" and account_id is not None:
            self._confirmed.add(account_id)
            self._progress.set()
        elif kind == "unsubscribe" and account_id is not None:
            self._confirmed.discard(account_id)

    def _resync(self) -> None:
        for account_id in list(self._listeners.by_account):
            self._listeners.deliver(account_id, {})
