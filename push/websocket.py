"""JMAP over WebSocket (RFC 8887) at ``/jmap/ws``.

The handshake must offer the ``jmap`` subprotocol and be authenticated like the API (or with
``access_token``, see ``push.auth``); a refused handshake gets an HTTP error response. Each
text message is one JSON object: ``Request`` (answered by a ``Response`` or ``RequestError``
carrying its ``id`` as ``requestId``), ``WebSocketPushEnable`` or ``WebSocketPushDisable``.
Requests run concurrently and share the ``maxConcurrentRequests`` budget of the HTTP API;
the credentials are checked again before each request and every ``push_reauth_seconds`` on an
idle connection, which is closed (1008) once they no longer work. Binary messages close the
connection with 1003. Keep-alive pings and reaping of dead peers are the WebSocket layer's
(uvicorn's ``ws_ping_interval`` / ``ws_ping_timeout``, from the config).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from jmap.api import check_request, decode_json, run_request
from jmap.auth import Credentials
from jmap.errors import RequestError
from jmap.session import build_session

from .auth import still_valid
from .feed import PushFeed
from .state import PushView, decode_push_state

if TYPE_CHECKING:
    from .hub import PushHub

log = logging.getLogger("fulmar.push.websocket")

SUBPROTOCOL = "jmap"
POLICY_VIOLATION = 1008
UNSUPPORTED_DATA = 1003


async def websocket_endpoint(hub: PushHub, websocket: WebSocket) -> None:
    from jmap.app import problem

    if SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
        await _deny(websocket, problem(400, "The WebSocket subprotocol 'jmap' is required."))
        return
    auth = await hub.server.authenticate(websocket, query_token=True)
    if isinstance(auth, Response):
        await _deny(websocket, auth)
        return
    if not hub.connections.acquire(auth.principal.id):
        await _deny(websocket, problem(429, "Too many push connections."))
        return
    try:
        await websocket.accept(subprotocol=SUBPROTOCOL)
        await Connection(hub, websocket, auth).serve()
    except WebSocketDisconnect:
        pass
    finally:
        hub.connections.release(auth.principal.id)


async def _deny(websocket: WebSocket, response: Response) -> None:
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await websocket.close(POLICY_VIOLATION)


class Connection:
    def __init__(self, hub: PushHub, websocket: WebSocket, auth: Credentials) -> None:
        self.hub = hub
        self.websocket = websocket
        self.auth = auth
        self._send_lock = asyncio.Lock()
        self._requests: set[asyncio.Task[None]] = set()
        self._feed: PushFeed | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._closed = False

    async def serve(self) -> None:
        try:
            await self._receive_loop()
        finally:
            self._closed = True
            await self._disable_push()
            for task in self._requests:
                task.cancel()
            await asyncio.gather(*self._requests, return_exceptions=True)

    async def _receive_loop(self) -> None:
        idle = self.hub.config.push_reauth_seconds
        while True:
            try:
                async with asyncio.timeout(idle):  # no extra task per connection, unlike wait_for
                    message = await self.websocket.receive()
            except TimeoutError:
                if not await still_valid(self.hub.server, self.auth):
                    await self._close(POLICY_VIOLATION, "The credentials no longer work.")
                    return
                continue
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self._close(UNSUPPORTED_DATA, "Only text messages are understood.")
                return
            await self._on_text(text)

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason)

    async def send(self, obj: dict[str, Any]) -> None:
        if self._closed:
            return
        data = orjson.dumps(obj).decode()
        async with self._send_lock:
            try:
                await self.websocket.send_text(data)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self._closed = True  # the peer is gone; the receive loop ends the connection

    async def send_error(self, exc: RequestError, request_id: str | None) -> None:
        body: dict[str, Any] = {"@type": "RequestError", **exc.problem()}
        if request_id is not None:
            body["requestId"] = request_id
        await self.send(body)

    # -- messages --
    async def _on_text(self, text: str) -> None:
        limit = self.hub.config.limits.max_size_request
        raw = text.encode()
        if len(raw) > limit:
            error = RequestError(
                "limit", f"The request is larger than {limit} octets.", 413, "maxSizeRequest"
            )
            await self.send_error(error, None)
            return
        try:
            obj = decode_json(raw, self.hub.config.limits.max_json_depth)
        except RequestError as exc:  # notJSON, also when nested too deep
            await self.send_error(exc, None)
            return
        if not isinstance(obj, dict):
            await self.send_error(RequestError("notRequest", "The message is not an object."), None)
            return
        request_id = obj.get("id")
        if request_id is not None and not isinstance(request_id, str):
            await self.send_error(RequestError("notRequest", "'id' must be a string."), None)
            return
        kind = obj.get("@type")
        if kind == "Request":
            task = asyncio.create_task(self._run(obj, request_id))
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
        elif kind == "WebSocketPushEnable":
            await self._enable_push(obj, request_id)
        elif kind == "WebSocketPushDisable":
            await self._disable_push()
        else:
            error = RequestError("notRequest", f"Unknown @type {kind!r}.")
            await self.send_error(error, request_id)

    async def _run(self, obj: dict[str, Any], request_id: str | None) -> None:
        server = self.hub.server
        assert server.services is not None and server.auth is not None
        principal = self.auth.principal
        try:
            with server.api_slots.slot(principal.id):
                if not await still_valid(server, self.auth):
                    await self._close(POLICY_VIOLATION, "The credentials no longer work.")
                    return
                accounts = await server.services.data.accounts_for(principal.id)
                credentials = replace(self.auth, accounts=accounts)
                request = check_request(obj, self.hub.config.limits)
                session = build_session(
                    self.hub.config, principal, accounts, self.hub.vapid_public_key
                )
                response = await run_request(
                    request, server.services, server.registry, credentials, session["state"]
                )
        except OverflowError:
            error = RequestError(
                "limit", "Too many concurrent requests.", 429, "maxConcurrentRequests"
            )
            await self.send_error(error, request_id)
            return
        except RequestError as exc:
            await self.send_error(exc, request_id)
            return
        server.metrics.count_method_calls(request, response)
        body: dict[str, Any] = {"@type": "Response", **response}
        if request_id is not None:
            body["requestId"] = request_id
        await self.send(body)

    # -- push --
    async def _enable_push(self, obj: dict[str, Any], request_id: str | None) -> None:
        data_types = obj.get("dataTypes")
        push_state = obj.get("pushState")
        valid_types = data_types is None or (
            isinstance(data_types, list) and all(isinstance(t, str) for t in data_types)
        )
        if not valid_types or not (push_state is None or isinstance(push_state, str)):
            error = RequestError(
                "notRequest", "dataTypes must be null or strings; pushState a string."
            )
            await self.send_error(error, request_id)
            return
        await self._disable_push()
        accounts = await self.hub.server.services.data.accounts_for(  # type: ignore[union-attr]
            self.auth.principal.id
        )
        view = PushView([a.id for a in accounts], None if data_types is None else set(data_types))
        feed = PushFeed(self.hub.watcher, view)
        since = None if push_state is None else (decode_push_state(push_state) or {})
        self._feed = feed
        await feed.open(since)
        self._pusher = asyncio.create_task(self._push(feed))

    async def _disable_push(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pusher
            self._pusher = None
        if self._feed is not None:
            self._feed.close()
            self._feed = None

    async def _push(self, feed: PushFeed) -> None:
        while True:
            change = await feed.next()
            if change is None:
                continue
            await self.send(change)
            if self._closed:
                return
