"""Operators' view: structured access logs and Prometheus metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from contextvars import ContextVar
from importlib.metadata import version
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smtp_gateway.mail_metrics import MAIL_METRICS

access_log = logging.getLogger("fulmar.access")

VERSION = version("fulmar")
#: the method label of calls to methods the server does not have (any name a client made up)
UNKNOWN_METHOD = "unknown"


class Metrics:
    """The server's Prometheus metrics, in a registry of their own.

    Every label value comes from a fixed set (routes, statuses, the server's method names,
    error types), never from what a client sent, so the number of series stays bounded.
    """

    def __init__(self, known_methods: Iterable[str]) -> None:
        self.known_methods = frozenset(known_methods)
        self.registry = CollectorRegistry()
        Info("fulmar_build", "The running Fulmar version.", registry=self.registry).info(
            {"version": VERSION}
        )
        self.http_requests = Counter(
            "fulmar_http_requests_total",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "fulmar_http_request_seconds",
            "HTTP request latency by route.",
            ["route"],
            registry=self.registry,
        )
        self.method_calls = Counter(
            "fulmar_jmap_method_calls_total",
            "JMAP method calls by method name and outcome (ok or the error type).",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "fulmar_auth_failures_total", "Failed authentications.", registry=self.registry
        )
        self.in_flight = Gauge(
            "fulmar_http_in_flight", "HTTP requests being served.", registry=self.registry
        )
        self.push_connections = Gauge(
            "fulmar_push_connections",
            "Open push connections by kind (websocket, eventsource).",
            ["kind"],
            registry=self.registry,
        )
        for collector in MAIL_METRICS.collectors():  # outbound mail, counted per process
            self.registry.register(collector)

    def count_method_calls(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        """Count each method response of a request by method and outcome."""
        called = {call_id: name for name, _, call_id in request["methodCalls"]}
        for name, args, call_id in response["methodResponses"]:
            outcome = args.get("type", "unknown") if name == "error" else "ok"
            method = called.get(call_id, name)
            if method not in self.known_methods:
                method = UNKNOWN_METHOD
            self.method_calls.labels(method, outcome).inc()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: easy to ship and to grep."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        else:
            entry["msg"] = record.getMessage()
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class AccessLogMiddleware:
    """Logs every HTTP request and WebSocket handshake as structured fields and feeds the
    HTTP metrics (and the gauge of open WebSocket connections)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, enabled: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.enabled = enabled
        _drop_uvicorn_denial_error()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        sent = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, status, time.perf_counter() - start, {"bytes": sent})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Log the handshake once it is accepted (101) or refused (its status and detail)."""
        start = time.perf_counter()
        status: int | None = None
        accepted = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, accepted
            kind = message["type"]
            if status is None and kind == "websocket.accept":
                status, accepted = 101, True
                self.metrics.push_connections.labels("websocket").inc()
                self._record(scope, 101, time.perf_counter() - start, {})
            elif status is None and kind == "websocket.close":
                status = 403  # what uvicorn answers to a close before the handshake
                self._record(scope, 403, time.perf_counter() - start, {})
            elif status is None and kind == "websocket.http.response.start":
                status = message["status"]
            elif kind == "websocket.http.response.body" and not message.get("more_body"):
                _DENIED.set(True)
                detail = {"detail": _problem_detail(message.get("body", b""))}
                self._record(scope, status or 500, time.perf_counter() - start, detail)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if accepted:
                self.metrics.push_connections.labels("websocket").dec()
            elif status is None:  # the app failed before answering: uvicorn answers 500
                self._record(scope, 500, time.perf_counter() - start, {})

    def _record(self, scope: Scope, status: int, elapsed: float, extra: dict[str, Any]) -> None:
        route = _route_of(scope)
        self.metrics.http_requests.labels(route, str(status)).inc()
        self.metrics.http_latency.labels(route).observe(elapsed)
        if not self.enabled:
            return
        client = scope.get("client")
        fields = {
            "method": scope.get("method", "GET"),
            "path": scope["path"],
            "status": status,
            "ms": round(elapsed * 1000, 2),
            "client": client[0] if client else None,
            "user": scope.get("state", {}).get("login"),
            **extra,
        }
        if scope["type"] == "websocket":
            fields["websocket"] = True
        access_log.info("request", extra={"fields": fields})


def _problem_detail(body: bytes) -> str | None:
    try:
        detail = orjson.loads(body).get("detail")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return detail if isinstance(detail, str) else None


#: set in the task of a WebSocket handshake the app refused with an HTTP response
_DENIED: ContextVar[bool] = ContextVar("fulmar_websocket_denied", default=False)
_UVICORN_DENIAL_ERROR = "ASGI callable returned without completing handshake."


class _DropDenialError(logging.Filter):
    """uvicorn (websockets-sansio) logs an error after every refused handshake, as if the
    app had sent nothing; the access log has the refusal already."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == _UVICORN_DENIAL_ERROR and _DENIED.get())


def _drop_uvicorn_denial_error() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropDenialError) for f in logger.filters):
        logger.addFilter(_DropDenialError())


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path or "unmatched"
