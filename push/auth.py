"""Authentication of long-lived push connections (WebSocket, EventSource).

They authenticate like the HTTP API (``Server.authenticate`` with ``query_token=True``, since
browsers can only pass a token in the URL there). While they last, their credentials are
checked again, and tokens in URLs are kept out of the logs.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from jmap.auth import Credentials

if TYPE_CHECKING:
    from jmap.app import Server


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
