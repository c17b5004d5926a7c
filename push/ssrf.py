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


#: IPv6 forms that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052),
#: IPv4-translated (RFC 2765) and the deprecated IPv4-compatible ``::a.b.c.d`` (RFC 4291)
_EMBEDDING_LOW_32 = tuple(
    ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "::ffff:0:0:0/96", "::/96")
)
#: IPv6 ranges not global whatever Python's table says: site-local (deprecated, RFC 3879)
#: and the local-use NAT64 prefix (RFC 8215)
_INTERNAL_V6 = tuple(ipaddress.IPv6Network(n) for n in ("fec0::/10", "64:ff9b:1::/48"))


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for, if any (mapped, 6to4, NAT64, Teredo...)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client the relay forwards to
    if any(address in network for network in _EMBEDDING_LOW_32):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_external(address: IPAddress) -> bool:
    """May pushes go to this address? Global unicast only, and an IPv6 address that embeds
    an IPv4 one is judged by that IPv4 address too."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # the IPv4 address itself, to the OS
            return is_external(address.ipv4_mapped)
        if any(address in network for network in _INTERNAL_V6):
            return False
        embedded = embedded_ipv4(address)
        if embedded is not None and not is_external(embedded):
            return False
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
    if not all(is_external(a) for a in addresses):
        return "The url must not point to an internal address."
    return None
