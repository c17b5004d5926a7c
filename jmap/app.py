"""The Starlette application: HTTP endpoints of the JMAP core (RFC 8620 §2, §3, §6)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from push.hub import PushHub, create_bus
from smtp_gateway.delivery import node_id
from smtp_gateway.gateway import SmtpGateway

from .api import MethodRegistry, parse_request, run_request
from .auth import CHALLENGE, QUERY_TOKEN, Authenticator, Credentials, LoginThrottle, Throttled
from .config import Config
from .downloads import BlobResponse, content_disposition, is_media_type
from .errors import RequestError
from .housekeeping import housekeeping
from .limits import InFlight
from .observability import VERSION, AccessLogMiddleware, Metrics
from .part_blobs import open_blob, visible
from .roles import API, SMTP, WORKER
from .schema import schema_document, schema_names
from .search_feed import SearchFeeder
from .services import Services
from .serving import ShutdownMiddleware
from .session import build_session
from .store.base import Account, BlobTooLarge, StoreError
from .store.blob_factory import open_blob_store
from .store.factory import open_data_store, open_search_index
from .workers import WorkerPool

log = logging.getLogger("fulmar.app")

NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def problem(
    status: int, detail: str, kind: str = "about:blank", headers: dict[str, str] | None = None
) -> Response:
    body = {"type": kind, "status": status, "detail": detail}
    return Response(orjson.dumps(body), status, headers, media_type="application/problem+json")


def request_error(exc: RequestError) -> Response:
    return Response(orjson.dumps(exc.problem()), exc.status, media_type="application/problem+json")


class Server:
    """Everything the endpoints share; built by ``create_app``."""

    def __init__(self, config: Config, registry: MethodRegistry) -> None:
        self.config = config
        self.registry = registry
        self.metrics = Metrics(registry.methods)
        self.throttle = LoginThrottle(
            config.auth_failures_allowed,
            config.auth_address_failures_allowed,
            config.auth_failure_window_seconds,
        )
        self.api_slots = InFlight(config.limits.max_concurrent_requests)
        self.upload_slots = InFlight(config.limits.max_concurrent_upload)
        self.download_slots = InFlight(config.max_concurrent_downloads)
        self.services: Services | None = None
        self.auth: Authenticator | None = None
        self.push = PushHub(self)
        self.metrics.push_connections.labels("eventsource").set_function(
            lambda: len(self.push.streams)
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._metrics_listener: Any = None
        self.smtp: SmtpGateway | None = None

    # -- life cycle --
    async def start(self) -> None:
        search = open_search_index(self.config)
        data = open_data_store(self.config.database_path, self.config.mongodb_url, search)
        await data.open()
        blobs = await open_blob_store(self.config, journal=data)
        roles = self.config.roles
        workers = WorkerPool(self.config.worker_processes, self.config.cpu_budget_seconds)
        if API in roles or WORKER in roles:  # (SMTP listeners parse nothing in the pool)
            workers.start()
        self.services = Services(self.config, data, blobs, await create_bus(self.config), workers)
        self.auth = Authenticator(data, self.throttle)
        await self.push.start(clients=API in roles)
        if SMTP in roles or WORKER in roles:
            self.smtp = SmtpGateway(self.services, auth=self.auth)
        if self.smtp is not None and SMTP in roles:
            await self.smtp.start_listeners()
        if self.smtp is not None and WORKER in roles:  # (then the listener hands it mail)
            self.smtp.start_workers()
            self._tasks.append(asyncio.create_task(housekeeping(self.services, node_id())))
            if search is not None:
                feeder = SearchFeeder(data, blobs, search, workers)
                self._tasks.append(asyncio.create_task(feeder.run()))
        address = self.config.metrics_address
        if address:
            host, port = address
            self._metrics_listener, _ = start_http_server(port, host, self.metrics.registry)

    async def stop(self) -> None:
        if self._metrics_listener is not None:
            await asyncio.to_thread(self._metrics_listener.shutdown)
            self._metrics_listener.server_close()
        if self.smtp is not None:
            await self.smtp.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.push.stop()
        if self.services:
            await self.services.bus.close()
            await self.services.blobs.close()
            await self.services.data.close()
            await self.services.workers.close()

    # -- authentication --
    async def authenticate(
        self, conn: HTTPConnection, query_token: bool = False
    ) -> Credentials | Response:
        """The connection's credentials, or the problem response to refuse it with.

        ``query_token``: also accept ``?access_token=`` (for browsers' WebSocket/EventSource).
        """
        assert self.auth is not None and self.services is not None
        client = conn.client.host if conn.client else "?"
        authorization = conn.headers.get("authorization")
        if not authorization and query_token and conn.query_params.get(QUERY_TOKEN):
            authorization = f"Bearer {conn.query_params[QUERY_TOKEN]}"
        try:
            principal = await self.auth.authenticate(authorization, client)
        except Throttled as exc:
            return problem(
                429,
                "Too many failed logins; try again later.",
                headers={"Retry-After": str(exc.retry_after)},
            )
        if principal is None or authorization is None:
            if authorization:
                self.metrics.auth_failures.inc()
            return problem(401, "Authentication required.", headers=CHALLENGE)
        conn.scope.setdefault("state", {})["login"] = principal.login
        accounts = await self.services.data.accounts_for(principal.id)
        return Credentials(authorization, principal, accounts)

    # -- endpoints --
    async def session(self, request: Request) -> Response:
        auth = await self.authenticate(request)
        if isinstance(auth, Response):
            return auth
        return json_response(
            build_session(self.config, auth.principal, auth.accounts, self.push.vapid_public_key),
            headers=NO_CACHE,
        )

    async def api(self, request: Request) -> Response:
        auth = await self.authenticate(request)
        if isinstance(auth, Response):
            return auth
        principal, accounts = auth.principal, auth.accounts
        assert self.services is not None
        try:
            with self.api_slots.slot(principal.id):
                body = await self._read_request_body(request)
                request_obj = parse_request(body, self.config.limits)
                session = build_session(
                    self.config, principal, accounts, self.push.vapid_public_key
                )
                response = await run_request(
                    request_obj, self.services, self.registry, auth, session["state"]
                )
        except OverflowError:
            return request_error(
                RequestError(
                    "limit",
                    "Too many concurrent requests.",
                    status=429,
                    limit="maxConcurrentRequests",
                )
            )
        except RequestError as exc:
            return request_error(exc)
        self.metrics.count_method_calls(request_obj, response)
        return json_response(response)

    async def _read_request_body(self, request: Request) -> bytes:
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise RequestError("notJSON", "The Content-Type must be application/json.")
        limit = self.config.limits.max_size_request
        too_large = RequestError(
            "limit", f"The request is larger than {limit} octets.", 413, "maxSizeRequest"
        )
        declared = _declared_length(request)
        if declared is not None and declared > limit:
            raise too_large
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
        except ClientDisconnect:
            raise RequestError("notRequest", "The request body ended early.") from None
        return b"".join(chunks)

    async def upload(self, request: Request) -> Response:
        auth = await self.authenticate(request)
        if isinstance(auth, Response):
            return auth
        principal, accounts = auth.principal, auth.accounts
        assert self.services is not None
        account = _find_account(accounts, request.path_params["account_id"])
        if account is None:
            return problem(404, "No such account.")
        if account.is_read_only:
            return problem(403, "The account is read-only.")
        limits = self.config.limits
        declared = _declared_length(request)
        if declared is not None and declared > limits.max_size_upload:
            return _upload_too_large(limits.max_size_upload)
        media_type = request.headers.get("content-type") or "application/octet-stream"
        try:
            with self.upload_slots.slot(principal.id):
                blob_id, size = await self.services.blobs.put_stream(
                    request.stream(), limits.max_size_upload
                )
        except OverflowError:
            return request_error(
                RequestError("limit", "Too many concurrent uploads.", 429, "maxConcurrentUpload")
            )
        except BlobTooLarge:
            return _upload_too_large(limits.max_size_upload)
        except ClientDisconnect:
            return problem(400, "The upload ended early.")
        except StoreError as exc:
            log.error("upload: the blob store failed: %s", exc)
            return problem(503, "The blob store is unavailable.", headers={"Retry-After": "5"})
        await self.services.data.add_upload(
            account.id, blob_id, size, time.time() + self.config.upload_ttl_seconds
        )
        return json_response(
            {"accountId": account.id, "blobId": blob_id, "type": media_type, "size": size}, 201
        )

    async def download(self, request: Request) -> Response:
        auth = await self.authenticate(request)
        if isinstance(auth, Response):
            return auth
        assert self.services is not None
        account = _find_account(auth.accounts, request.path_params["account_id"])
        blob_id = request.path_params["blob_id"]
        accept = request.query_params.get("accept") or "application/octet-stream"
        if not is_media_type(accept):
            return problem(400, "The accept parameter is not a media type.")
        etag = f'"{blob_id}"'
        headers = {
            # exactly the type asked for (RFC 8620 §6.2), never sniffed by a browser
            "Content-Type": accept,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, immutable, max-age=31536000",
            "ETag": etag,
            "Content-Disposition": content_disposition(request.path_params["name"]),
        }
        data, blobs = self.services.data, self.services.blobs
        if account is None or not await visible(data, account.id, blob_id):
            return problem(404, "No such blob.")
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        user = auth.principal.id
        if not self.download_slots.acquire(user):
            return problem(429, "Too many downloads at once.", headers={"Retry-After": "1"})
        try:
            # whole blobs and parts of stored messages (jmap.part_blobs)
            stream = await open_blob(data, blobs, account.id, blob_id)
        except StoreError as exc:
            self.download_slots.release(user)
            log.error("download: the blob store failed: %s", exc)
            return problem(503, "The blob store is unavailable.", headers={"Retry-After": "5"})
        except BaseException:
            self.download_slots.release(user)
            raise
        if stream is None:
            self.download_slots.release(user)
            return problem(404, "No such blob.")
        return BlobResponse(stream, headers, lambda: self.download_slots.release(user))

    async def health(self, request: Request) -> Response:
        assert self.services is not None
        try:
            await self.services.data.principals()
        except Exception as exc:  # the point is to report any failure, not to raise it
            body = {"status": "unavailable", "detail": str(exc), "version": VERSION}
            return json_response(body, 503)
        return json_response({"status": "ok", "version": VERSION}, headers=NO_CACHE)

    async def metrics_endpoint(self, request: Request) -> Response:
        """Only with ``metrics_token`` set, and to requests bearing it."""
        token = self.config.metrics_token
        if not token:
            return problem(404, "Not found.")
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            return problem(
                401, "The metrics token is required.", headers={"WWW-Authenticate": "Bearer"}
            )
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def not_on_this_node(self, request: Request) -> Response:
        """What a node without the api role answers on every path but its probes."""
        roles = ", ".join(self.config.roles)
        return problem(404, f"This node serves no JMAP API (its roles: {roles}).")

    async def schema(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in schema_names():
            return problem(404, "No such schema.")
        return json_response(schema_document(name))


def _declared_length(request: Request) -> int | None:
    """The Content-Length the client announced, if it is a plain number."""
    value = request.headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


def _find_account(accounts: list[Account], account_id: str) -> Account | None:
    return next((a for a in accounts if a.id == account_id), None)


def _upload_too_large(limit: int) -> Response:
    return request_error(
        RequestError("limit", f"Uploads are limited to {limit} octets.", 413, "maxSizeUpload")
    )


#: what a node without the api role answers 404 to (WebSocket attempts are refused by the
#: router, as on any path it does not know)
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _api_routes(server: Server) -> list[BaseRoute]:
    """The JMAP endpoints of a node with the api role."""
    return [
        Route("/.well-known/jmap", server.session, methods=["GET"]),
        Route("/jmap/session", server.session, methods=["GET"]),
        Route("/jmap/api/", server.api, methods=["POST"]),
        Route("/jmap/api", server.api, methods=["POST"]),
        Route("/jmap/upload/{account_id}/", server.upload, methods=["POST"]),
        Route("/jmap/download/{account_id}/{blob_id}/{name}", server.download, methods=["GET"]),
        Route("/schemas/{name}.json", server.schema, methods=["GET"]),
        *server.push.routes(),
    ]


def create_app(config: Config, registry: MethodRegistry | None = None) -> Starlette:
    if registry is None:
        from methods import build_registry

        registry = build_registry()
    server = Server(config, registry)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    probes = [
        Route("/healthz", server.health, methods=["GET"]),
        Route("/metrics", server.metrics_endpoint, methods=["GET"]),
    ]
    if API not in config.roles:
        routes = [*probes, Route("/{path:path}", server.not_on_this_node, methods=_ALL_METHODS)]
    else:
        routes = [*_api_routes(server), *probes]
    middleware = [
        Middleware(AccessLogMiddleware, metrics=server.metrics, enabled=config.access_log),
        Middleware(
            CORSMiddleware,
            allow_origins=["*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept", "Last-Event-ID"],
            expose_headers=["ETag", "Content-Disposition", "Retry-After", "WWW-Authenticate"],
            max_age=86400,
        ),
        Middleware(ShutdownMiddleware),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.server = server
    return app
