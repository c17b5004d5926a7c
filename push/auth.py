"""Authentication of push connections (WebSocket, EventSource).

Like the HTTP API: an ``Authorization`` header (Basic or Bearer). Browsers cannot set that
header on a ``WebSocket`` or an ``EventSource``, so these two endpoints also take a Bearer
token in the ``access_token`` query parameter (RFC 6750 §2.3). The failure throttle of the API
applies to both.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection
from starlette.responses import Response

from jmap.store.base import Account, Principal

if TYPE_CHECKING:
    from jmap.app import Server

QUERY_PARAMETER = "access_token"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="fulmar", Bearer realm="fulmar"'}


@dataclass
class Credentials:
    """Who a push connection is, and the credentials to check again while it lasts."""

    authorization: str
    principal: Principal
    accounts: list[Account]


def authorization_of(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization")
    if header:
        return header
    token = conn.query_params.get(QUERY_PARAMETER)
    return f"Bearer {token}" if token else None


async def authenticate(server: Server, conn: HTTPConnection) -> Credentials | Response:
    """The connection's credentials, or the problem response to refuse it with."""
    from jmap.app import problem

    assert server.auth is not None and server.services is not None
    client = conn.client.host if conn.client else "?"
    wait = server.throttle.retry_after(client)
    if wait:
        return problem(
            429, "Too many failed logins; try again later.", headers={"Retry-After": str(wait)}
        )
    authorization = authorization_of(conn)
    principal = await server.auth.authenticate(authorization)
    if principal is None or authorization is None:
        if authorization:
            server.throttle.failed(client)
            server.metrics.auth_failures.inc()
        return problem(401, "Authentication required.", headers=CHALLENGE)
    conn.scope.setdefault("state", {})["login"] = principal.login
    accounts = await server.services.data.accounts_for(principal.id)
    return Credentials(authorization, principal, accounts)


async def still_valid(server: Server, credentials: Credentials) -> bool:
    """Do the connection's credentials still work (password unchanged, token not revoked)?"""
    assert server.auth is not None
    principal = await server.auth.authenticate(credentials.authorization)
    return principal is not None and principal.id == credentials.principal.id


_TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s\"]+")


class RedactTokens(logging.Filter):
    """Keeps ``access_token`` values out of logs (uvicorn logs WebSocket paths with queries)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _TOKEN_IN_URL.sub(r"\1REDACTED", a) if isinstance(a, str) else a
                for a in record.args
            )
        elif isinstance(record.msg, str) and "access_token=" in record.msg:
            record.msg = _TOKEN_IN_URL.sub(r"\1REDACTED", record.msg)
        return True


def redact_tokens_in_logs() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
