"""The EventSource endpoint (RFC 8620 §7.3): ``GET /jmap/eventsource/?types=&closeafter=&ping=``.

``types`` is ``*`` or a comma-separated list of type names; ``closeafter`` is ``state`` (end
after the first state event) or ``no``; ``ping`` is seconds between pings (0: none), clamped
to the configured range. Each ``state`` event carries an id encoding the whole visible state
(see ``push.state``); a client reconnecting with ``Last-Event-ID`` gets one state event with
everything it missed. Right after the stream is set up a comment line (``: ready``) is sent,
so a client knows from then on that no change escapes it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from jmap.auth import Credentials

from .auth import still_valid
from .feed import PushFeed
from .state import PushView, decode_push_state

if TYPE_CHECKING:
    from .hub import PushHub

HEADERS = {"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"}


def parse_types(value: str) -> set[str] | None:
    if value.strip() == "*":
        return None
    types = {t.strip() for t in value.split(",")}
    if not types or not all(t.isascii() and t.isalnum() for t in types):
        raise ValueError("types")
    return types


async def eventsource(hub: PushHub, request: Request) -> Response:
    from jmap.app import problem

    auth = await hub.server.authenticate(request, query_token=True)
    if isinstance(auth, Response):
        return auth
    params = request.query_params
    try:
        types = parse_types(params.get("types", "*"))
    except ValueError:
        return problem(400, "types must be * or a comma-separated list of type names.")
    closeafter = params.get("closeafter", "no")
    if closeafter not in ("state", "no"):
        return problem(400, "closeafter must be state or no.")
    ping_text = params.get("ping", "0")
    if not (ping_text.isascii() and ping_text.isdigit()) or len(ping_text) > 9:
        return problem(400, "ping must be a non-negative integer.")
    ping = int(ping_text)
    if ping:
        config = hub.config
        ping = max(config.eventsource_ping_min, min(ping, config.eventsource_ping_max))
    last_event_id = request.headers.get("last-event-id")
    since = None
    if last_event_id is not None:
        since = decode_push_state(last_event_id.strip()) or {}
    if hub.connections.full(auth.principal.id):
        return problem(429, "Too many push connections.")
    view = PushView([a.id for a in auth.accounts], types)
    stream = _stream(hub, auth, PushFeed(hub.watcher, view), since, closeafter == "state", ping)
    return StreamingResponse(stream, media_type="text/event-stream", headers=HEADERS)


async def _stream(
    hub: PushHub,
    auth: Credentials,
    feed: PushFeed,
    since: dict[str, int] | None,
    close_after_state: bool,
    ping: int,
) -> AsyncIterator[bytes]:
    if not hub.connections.acquire(auth.principal.id):
        return
    hub.streams.add(feed)
    try:
        await feed.open(since)
        yield b": ready\n\n"
        recheck = hub.config.push_reauth_seconds
        last_event = last_check = time.monotonic()
        while True:
            now = time.monotonic()
            waits = [last_check + recheck - now]
            if ping:
                waits.append(last_event + ping - now)
            change = await feed.next(max(0.0, min(waits)))
            if feed.stopped:
                return
            now = time.monotonic()
            if change is not None:
                event_id = change.pop("pushState")
                yield b"event: state\nid: %s\ndata: %s\n\n" % (
                    event_id.encode(),
                    orjson.dumps(change),
                )
                last_event = now
                if close_after_state:
                    return
                continue
            if ping and now - last_event >= ping:
                yield b"event: ping\ndata: %s\n\n" % orjson.dumps({"interval": ping})
                last_event = now
            if now - last_check >= recheck:
                if not await still_valid(hub.server, auth):
                    return
                last_check = now
                yield b":\n\n"  # a comment: finds peers that are gone, keeps NATs open
    finally:
        hub.streams.discard(feed)
        feed.close()
        hub.connections.release(auth.principal.id)
