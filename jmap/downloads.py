"""Pieces of the download endpoint (RFC 8620 §6.2): the ``accept`` grammar, the
Content-Disposition header, and the response that streams a blob."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator, Callable

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .store.base import BlobStream

#: RFC 6838 §4.2 restricted-name
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
#: RFC 2045 §5.1 token: printable ASCII but SPACE and tspecials ()<>@,;:\"/[]?=
_TOKEN = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"
#: RFC 822 quoted-string of printable ASCII
_QUOTED = r'"(?:[ !#-\[\]-~]|\\[ -~])*"'
_MEDIA_TYPE = re.compile(rf"{_NAME}/{_NAME}(?: *; *{_TOKEN}=(?:{_TOKEN}|{_QUOTED}))*")
MAX_MEDIA_TYPE = 1024
CHUNK = 64 * 1024


def is_media_type(value: str) -> bool:
    """Is ``value`` a media type with parameters, all printable ASCII (RFC 6838, RFC 2045)?"""
    return len(value) <= MAX_MEDIA_TYPE and _MEDIA_TYPE.fullmatch(value) is not None


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the RFC 6266 / 8187 UTF-8 name."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    encoded = urllib.parse.quote(name, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


class BlobResponse(StreamingResponse):
    """Sends a blob a chunk at a time, each once the client has taken the one before
    (backpressure), so a client that does not read holds one chunk, not the blob. The stream
    is closed and ``release`` called however the response ends."""

    def __init__(
        self, stream: BlobStream, headers: dict[str, str], release: Callable[[], None]
    ) -> None:
        super().__init__(_chunks(stream), headers={**headers, "Content-Length": str(stream.size)})
        self._stream = stream
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
            await self._stream.close()


async def _chunks(stream: BlobStream) -> AsyncIterator[bytes]:
    while chunk := await stream.read(CHUNK):
        yield chunk
