"""Which URLs may receive pushes (RFC 8620 §7.2: https only, never an internal address).

The host is resolved, and every address it resolves to must be a global one: no loopback,
private, link-local, shared, multicast or reserved range. This is checked when a
PushSubscription is created and again before each delivery, so a host re-pointed at an
internal address later gets nothing (a rebinding inside that short window is not covered).

``allow_local_http`` (config ``push_allow_local_http``, off by default) additionally accepts
receivers on loopback addresses, over http or https: for tests and local development only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.parse

RESOLVE_TIMEOUT = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _is_external(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
    )
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


async def check_push_url(url: str, allow_local_http: bool = False) -> str | None:
    """None if ``url`` may receive pushes, else the reason it may not."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "The url is not a valid URL."
    if parts.scheme not in ("https", "http"):
        return "The url must be an https URL."
    if parts.username is not None or parts.password is not None:
        return "The url must not contain credentials."
    host = parts.hostname
    if not host:
        return "The url has no host."
    try:
        addresses = await resolve(host, port)
    except (OSError, TimeoutError, UnicodeError):
        return "The url's host does not resolve."
    if not addresses:
        return "The url's host does not resolve."
    if allow_local_http and all(_is_loopback(a) for a in addresses):
        return None
    if parts.scheme != "https":
        return "The url must be an https URL."
    if not all(_is_external(a) for a in addresses):
        return "The url must not point to an internal address."
    return None
