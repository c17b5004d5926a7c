"""Content scanning through real engines: rspamd over its HTTP protocol, clamd over INSTREAM.

A configured scanner is required: when it cannot be reached or answers nonsense, the
message is not accepted unscanned; ``ScannerUnavailable`` makes the listener answer 451
(try again later), as RFC 5321 §4.2.5 expects of a transient local problem.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import Literal

import httpx
import orjson

from jmap.config import Config

Verdict = Literal["clean", "spam", "reject", "tempfail"]

#: clamd's INSTREAM takes the stream in chunks, each prefixed by its length
CLAMD_CHUNK = 64 * 1024
#: the longest clamd reply read (a verdict line is a few dozen octets)
CLAMD_REPLY_LIMIT = 4096


class ScannerUnavailable(Exception):
    """A required scanner could not give a verdict; the sender must try again later."""


@dataclass(frozen=True, slots=True)
class Envelope:
    client_ip: str
    helo: str
    mail_from: str
    recipients: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ScanResult:
    verdict: Verdict
    #: what the engine said, for the log and the message's trace header
    detail: str
    score: float | None = None


class RspamdScanner:
    """rspamd's ``/checkv2`` (https://rspamd.com/doc/developers/protocol.html)."""

    name = "rspamd"

    def __init__(self, url: str, password: str | None = None, timeout: float = 15.0) -> None:
        self._url = url.rstrip("/") + "/checkv2"
        self._password = password
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def scan(self, raw: bytes, envelope: Envelope, hostname: str) -> ScanResult:
        headers = [
            ("IP", envelope.client_ip),
            ("Helo", envelope.helo or "unknown"),
            ("From", envelope.mail_from),
            ("MTA-Name", hostname),
            *(("Rcpt", r) for r in envelope.recipients),
        ]
        if self._password:
            headers.append(("Password", self._password))
        # SMTPUTF8 addresses are not ASCII: header values go as UTF-8 octets
        encoded = [(name, value.encode("utf-8")) for name, value in headers]
        try:
            response = await self._client.post(self._url, content=raw, headers=encoded)
            response.raise_for_status()
            answer = orjson.loads(response.content)
            action = str(answer["action"])
            score = float(answer.get("score", 0.0))
        except (httpx.HTTPError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ScannerUnavailable(f"rspamd: {exc.__class__.__name__}: {exc}") from None
        detail = f"rspamd action={action} score={score:.2f}"
        # "greylist" asks the MTA to greylist; this gateway does not, so it counts as clean
        verdicts: dict[str, Verdict] = {
            "reject": "reject",
            "soft reject": "tempfail",
            "rewrite subject": "spam",
            "add header": "spam",
        }
        return ScanResult(verdicts.get(action, "clean"), detail, score)

    async def close(self) -> None:
        await self._client.aclose()


class ClamdScanner:
    """clamd's ``INSTREAM`` command over TCP (``host:port``) or a Unix socket (a path)."""

    name = "clamd"

    def __init__(self, address: str, timeout: float = 30.0) -> None:
        self._address = address
        self._timeout = timeout

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._address.startswith("/"):
            return await asyncio.open_unix_connection(self._address)
        host, _, port = self._address.rpartition(":")
        return await asyncio.open_connection(host.strip("[]"), int(port))

    async def scan(self, raw: bytes, envelope: Envelope, hostname: str) -> ScanResult:
        try:
            reply = await asyncio.wait_for(self._instream(raw), self._timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            raise ScannerUnavailable(f"clamd: {exc.__class__.__name__}: {exc}") from None
        if reply.endswith("FOUND"):
            name = reply.removeprefix("stream:").removesuffix("FOUND").strip()
            return ScanResult("reject", f"clamd found {name}")
        if reply == "stream: OK":
            return ScanResult("clean", "clamd: clean")
        raise ScannerUnavailable(f"clamd: {reply[:200]}")  # "size limit exceeded. ERROR"…

    async def _instream(self, raw: bytes) -> str:
        reader, writer = await self._connect()
        try:
            writer.write(b"zINSTREAM\0")
            for start in range(0, len(raw), CLAMD_CHUNK):
                chunk = raw[start : start + CLAMD_CHUNK]
                writer.write(struct.pack(">I", len(chunk)) + chunk)
                await writer.drain()
            writer.write(struct.pack(">I", 0))
            await writer.drain()
            reply = await reader.readuntil(b"\0")
            if len(reply) > CLAMD_REPLY_LIMIT:
                raise ValueError("reply too long")
            return reply.rstrip(b"\0").decode("ascii", "replace").strip()
        finally:
            writer.close()

    async def close(self) -> None:
        return None


Scanner = RspamdScanner | ClamdScanner


async def scan_all(
    scanners: list[Scanner], raw: bytes, envelope: Envelope, hostname: str
) -> ScanResult:
    """Every configured scanner's verdict, the strictest winning (reject > tempfail > spam)."""
    if not scanners:
        return ScanResult("clean", "not scanned: no scanner configured")
    results = await asyncio.gather(*(s.scan(raw, envelope, hostname) for s in scanners))
    rank = {"reject": 3, "tempfail": 2, "spam": 1, "clean": 0}
    worst = max(results, key=lambda r: rank[r.verdict])
    return ScanResult(worst.verdict, "; ".join(r.detail for r in results), worst.score)


def scanners_from_config(config: Config) -> list[Scanner]:
    """The scanners the configuration names (``rspamd_url``, ``clamd_address``)."""
    scanners: list[Scanner] = []
    if config.rspamd_url:
        scanners.append(RspamdScanner(config.rspamd_url, config.rspamd_password))
    if config.clamd_address:
        scanners.append(ClamdScanner(config.clamd_address))
    return scanners
