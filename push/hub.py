"""Everything push on one node: the bus, the account watcher, PushSubscription delivery, and
the routes of the WebSocket, EventSource and VAPID-key endpoints. ``jmap.app.Server`` owns one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from jmap.config import Config
from jmap.limits import InFlight
from jmap.session import WEBSOCKET_PATH

from .auth import redact_tokens_in_logs
from .bus import Bus, InProcessBus
from .db_watch import DatabaseWatcher
from .delivery import PushDelivery
from .eventsource import eventsource
from .feed import AccountWatcher, PushFeed
from .webpush import VapidKey, WebPushSender
from .websocket import websocket_endpoint

if TYPE_CHECKING:
    from jmap.app import Server


async def create_bus(config: Config) -> Bus:
    """Redis when ``redis_url`` is set, else in-process."""
    if config.redis_url:
        from .redis_bus import RedisBus

        bus = RedisBus(config.redis_url)
        await bus.start()
        return bus
    return InProcessBus()


class PushHub:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.config = server.config
        self.connections = InFlight(server.config.push_max_connections)
        redact_tokens_in_logs()
        self.vapid: VapidKey | None = None
        #: open EventSource streams, ended by ``drain`` when the server shuts down
        self.streams: set[PushFeed] = set()
        self._watcher: AccountWatcher | None = None
        self._db_watch: DatabaseWatcher | None = None
        self._delivery: PushDelivery | None = None
        self._sender: WebPushSender | None = None

    @property
    def watcher(self) -> AccountWatcher:
        assert self._watcher is not None, "the push hub is not started"
        return self._watcher

    async def start(self, clients: bool = True) -> None:
        """Start delivering and, with ``clients`` (nodes with the api role), watching for the
        WebSocket and EventSource clients; ``server.services`` (with the bus) must exist.

        PushSubscription delivery runs on every node: each node pushes the changes it
        published itself (a bus publish hook), so every change is pushed once."""
        services = self.server.services
        assert services is not None
        config = self.config
        key_file = config.push_vapid_key_file or str(config.data_dir / "vapid.pem")
        self.vapid = VapidKey(Path(key_file), config.push_vapid_subject)
        self._sender = WebPushSender(self.vapid, config.push_ttl_seconds)
        if clients:
            self._watcher = AccountWatcher(services.bus, services.data, config.push_poll_seconds)
            self._watcher.start(watch_for_writes=True)
            self._db_watch = DatabaseWatcher(config.database_path, self._watcher.written_elsewhere)
            self._db_watch.start()
        self._delivery = PushDelivery(services, self._sender)
        services.bus.add_publish_hook(self._delivery.on_publish)
        self._delivery.start()
        self._drain_on_exit_signals()

    def drain(self) -> None:
        """End the EventSource streams, so a graceful shutdown need not wait for them
        (WebSocket connections are closed by uvicorn itself, with 1012)."""
        for feed in list(self.streams):
            feed.stop()

    def _drain_on_exit_signals(self) -> None:
        """Chain ``drain`` before the server's own SIGTERM / SIGINT handling (uvicorn's)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if not callable(previous):
                continue  # nobody handles it: leave the default alone

            def handler(number: int, frame: Any, previous: Any = previous) -> None:
                loop.call_soon_threadsafe(self.drain)
                previous(number, frame)

            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(signum, handler)

    async def stop(self) -> None:
        self.drain()
        if self._delivery is not None:
            await self._delivery.close()
        if self._db_watch is not None:
            await self._db_watch.close()
        if self._watcher is not None:
            await self._watcher.close()
        if self._sender is not None:
            await self._sender.close()

    def routes(self) -> list[BaseRoute]:
        async def ws(websocket: WebSocket) -> None:
            await websocket_endpoint(self, websocket)

        async def events(request: Request) -> Response:
            return await eventsource(self, request)

        return [
            WebSocketRoute(WEBSOCKET_PATH, ws),
            Route("/jmap/eventsource/", events, methods=["GET"]),
            Route("/jmap/eventsource", events, methods=["GET"]),
            Route("/jmap/push/vapid-key", self.vapid_key, methods=["GET"]),
        ]

    @property
    def vapid_public_key(self) -> str | None:
        """What the Session advertises as ``applicationServerKey`` (RFC 9749)."""
        return self.vapid.public_key if self.vapid else None

    async def vapid_key(self, request: Request) -> Response:
        """The VAPID public key a browser passes to PushManager.subscribe(); the Session's
        ``urn:ietf:params:jmap:webpush-vapid`` capability is the standard place (RFC 9749),
        this URL is kept for the clients that used it before."""
        from jmap.app import json_response

        return json_response({"publicKey": self.vapid_public_key})
