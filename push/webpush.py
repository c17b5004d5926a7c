"""One push POST (RFC 8030), encrypted per RFC 8291 when the client gave keys, signed with
VAPID (RFC 8292) so that browsers' push services accept it.

Encryption is ``http_ece`` (aes128gcm, RFC 8188) with a fresh P-256 key per message; VAPID
tokens come from ``py_vapid``. The server's VAPID key is made on first use and kept in a PEM
file (by default in the data directory, so nodes sharing one share the key); its public half
is what a browser passes as ``applicationServerKey``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import logging
import os
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import http_ece
import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid02
from py_vapid.jwt import sign as sign_jwt

log = logging.getLogger("fulmar.push.webpush")


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url_encode(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


def check_keys(keys: dict[str, str]) -> bool:
    """Is ``keys`` a usable RFC 8291 pair: a P-256 public point and a 16-octet secret?"""
    try:
        point = b64url_decode(keys["p256dh"])
        auth = b64url_decode(keys["auth"])
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (KeyError, ValueError, TypeError, binascii.Error):
        return False
    return len(point) == 65 and len(auth) == 16


def encrypt(payload: bytes, keys: dict[str, str]) -> bytes:
    """The aes128gcm body of RFC 8291 for the client's ``p256dh`` and ``auth``."""
    return http_ece.encrypt(
        payload,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(keys["p256dh"]),
        auth_secret=b64url_decode(keys["auth"]),
        version="aes128gcm",
    )


class VapidKey:
    """The server's VAPID identity: signs a token per push service origin."""

    def __init__(self, key_file: Path, subject: str) -> None:
        self.subject = subject
        self._vapid = _load_or_create(key_file)
        self._tokens: dict[str, tuple[str, float]] = {}

    @property
    def public_key(self) -> str:
        point = self._vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return b64url_encode(point)

    def authorization(self, url: str) -> str:
        """The ``Authorization: vapid t=JWT,k=KEY`` header for a push to ``url`` (RFC 8292 §3)."""
        audience = vapid_audience(url)
        cached = self._tokens.get(audience)
        now = time.time()
        if cached and cached[1] > now + 3600:
            return cached[0]
        expires = int(now) + 12 * 3600
        claims = {"aud": audience, "exp": expires, "sub": self.subject}
        # signed here rather than by Vapid02.sign, whose check of "aud" refuses IPv6 hosts
        header = f"vapid t={sign_jwt(claims, self._vapid.private_key)},k={self.public_key}"
        if len(self._tokens) > 1000:
            self._tokens.clear()
        self._tokens[audience] = (header, expires)
        return header


def vapid_audience(url: str) -> str:
    """The origin of the push resource (RFC 8292 §2: the "aud" claim), as RFC 6454 §6.1
    serialises it: lower-case host, IPv6 literals in brackets, no default port."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def _load_or_create(key_file: Path) -> Vapid02:
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        vapid = Vapid02()
        vapid.generate_keys()
        pem = vapid.private_pem()
        try:  # O_EXCL: of two nodes starting at once, one writes and both use its key
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    return Vapid02.from_file(str(key_file))


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"  # 404 / 410: the subscription is dead
    RETRY = "retry"  # 429, 5xx, network: try again later
    REJECTED = "rejected"  # other 4xx: this message will never be accepted


@dataclass
class Result:
    outcome: Outcome
    status: int | None = None
    retry_after: float | None = None


class WebPushSender:
    def __init__(self, vapid: VapidKey | None, ttl: int, timeout: float = 10.0) -> None:
        self.vapid = vapid
        self.ttl = ttl
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)

    def build(
        self, url: str, keys: dict[str, str] | None, message: dict[str, Any]
    ) -> tuple[bytes, dict[str, str]]:
        body = orjson.dumps(message)
        headers = {"Content-Type": "application/json", "TTL": str(self.ttl), "Urgency": "normal"}
        if keys:
            body = encrypt(body, keys)
            headers["Content-Encoding"] = "aes128gcm"
        if self.vapid is not None:
            headers["Authorization"] = self.vapid.authorization(url)
        return body, headers

    async def send(self, url: str, keys: dict[str, str] | None, message: dict[str, Any]) -> Result:
        body, headers = self.build(url, keys, message)
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("push to %s failed: %s", vapid_audience(url), exc)
            return Result(Outcome.RETRY)
        status = response.status_code
        if 200 <= status < 300:
            return Result(Outcome.DELIVERED, status)
        if status in (404, 410):
            return Result(Outcome.GONE, status)
        if status == 429 or status >= 500:
            return Result(Outcome.RETRY, status, _retry_after(response.headers.get("retry-after")))
        return Result(Outcome.REJECTED, status)

    async def close(self) -> None:
        await self._client.aclose()


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isascii() and value.strip().isdigit():
        return float(value.strip())
    return None
