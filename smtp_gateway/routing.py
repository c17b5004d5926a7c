"""Where mail for a domain goes: ``smtp_routes``, else ``smtp_relay``, else MX (RFC 5321 §5).

DNS is behind ``Resolver``, the two lookups MX resolution needs; the gateway's resolver
(``smtp_gateway.dns.Resolver``) has exactly these. An empty answer means the name has no
such records (NXDOMAIN or NODATA); an exception means the lookup failed for now, and the
message is tried again later (RFC 5321 §5.1: a temporary DNS error is queued).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

from .mta_sts import MtaSts

SMTP_PORT = 25


class Resolver(Protocol):
    async def mx(self, domain: str) -> list[tuple[int, str]]:
        """(preference, exchange) of the domain's MX records; [] if it has none."""

    async def addresses(self, host: str) -> list[str]:
        """The host's A and AAAA addresses, in resolver order; [] if it has none."""


class NoDNS:
    """The resolver used until one is plugged in: every lookup fails for now."""

    async def mx(self, domain: str) -> list[tuple[int, str]]:
        raise LookupError("no DNS resolver configured")

    async def addresses(self, host: str) -> list[str]:
        raise LookupError("no DNS resolver configured")


@dataclass(frozen=True)
class Hop:
    """One server to try: ``host`` is an address or a name to connect to."""

    host: str
    port: int = SMTP_PORT
    #: the name to verify the certificate against (the MX name), if any
    server_name: str | None = None


@dataclass(frozen=True)
class Route:
    """The servers to try for a domain, in order, and how to talk to them."""

    #: what the connection pool and concurrency limit are keyed by
    key: str
    hops: tuple[Hop, ...] = ()
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    #: a reason the domain cannot take mail at all (permanent: no retry)
    refused: str | None = None
    #: a reason it cannot be reached right now (temporary: retry)
    unavailable: str | None = None
    #: STARTTLS with a certificate valid for each hop's server name (MTA-STS enforce)
    require_tls: bool = False


def parse_host_port(value: str, default_port: int = SMTP_PORT) -> Hop:
    host, sep, port = value.rpartition(":")
    if not sep:
        return Hop(value, default_port)
    return Hop(host.removeprefix("[").removesuffix("]"), int(port))


def relay_route(url: str) -> Route:
    """``smtp://user:pass@host:port`` (STARTTLS when offered) or ``smtps://`` (implicit TLS)."""
    parts = urlsplit(url)
    implicit = parts.scheme == "smtps"
    port = parts.port or (465 if implicit else 587)
    host = parts.hostname or ""
    return Route(
        key=f"relay:{host}:{port}",
        hops=(Hop(host, port, host),),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit,
    )


def order_mx(records: list[tuple[int, str]], rng: random.Random) -> list[str]:
    """Lowest preference first, equal preferences shuffled (RFC 5321 §5.1 MUSTs)."""
    by_preference: dict[int, list[str]] = {}
    for preference, host in records:
        by_preference.setdefault(preference, []).append(host.rstrip(".").lower())
    ordered: list[str] = []
    for preference in sorted(by_preference):
        hosts = list(dict.fromkeys(by_preference[preference]))
        rng.shuffle(hosts)
        ordered.extend(hosts)
    return ordered


def is_null_mx(records: list[tuple[int, str]]) -> bool:
    """RFC 7505: a single MX of preference 0 and exchange ``.``; any ``.`` exchange counts,
    since such a domain publishes that it takes no mail."""
    return any(host in (".", "") for _, host in records)


class Router:
    def __init__(
        self,
        routes: tuple[tuple[str, str], ...],
        relay: str | None,
        resolver: Resolver,
        rng: random.Random | None = None,
        mx_port: int = SMTP_PORT,
        sts: MtaSts | None = None,
    ) -> None:
        self.routes = {domain: parse_host_port(target) for domain, target in routes}
        self.relay = relay_route(relay) if relay else None
        self.resolver = resolver
        self.rng = rng or random.Random()
        #: the port MX hosts are reached on (25; tests point it at a sink)
        self.mx_port = mx_port
        self.sts = sts

    async def route(self, domain: str) -> Route:
        domain = domain.lower().rstrip(".")
        hop = self.routes.get(domain)
        if hop is not None:
            return Route(key=f"route:{hop.host}:{hop.port}", hops=(hop,))
        if self.relay is not None:
            return self.relay
        return await self.mx_route(domain)

    async def mx_route(self, domain: str) -> Route:
        """RFC 5321 §5.1: MX hosts in order, each by its addresses; no MX: the domain's own
        addresses (the implicit MX); a null MX (RFC 7505): refused at once."""
        key = f"mx:{domain}"
        try:
            records = await self.resolver.mx(domain)
        except Exception as exc:  # any failure of the lookup is temporary
            return Route(key, unavailable=f"MX lookup for {domain} failed: {exc}")
        if is_null_mx(records):
            return Route(key, refused=f"{domain} accepts no mail (null MX, RFC 7505)")
        names = order_mx(records, self.rng) if records else [domain]
        policy = await self.sts.policy(domain) if self.sts is not None else None
        enforce = policy is not None and policy.mode == "enforce"
        if policy is not None and enforce:
            names = [n for n in names if policy.matches(n)]
            if not names:  # RFC 8461 §5: no MX host fits the policy: wait, do not send
                return Route(key, unavailable=f"no MX host of {domain} fits its MTA-STS policy")
        hops: list[Hop] = []
        failures = 0
        for name in names:
            try:
                addresses = await self.resolver.addresses(name)
            except Exception:  # this host cannot be used for now
                failures += 1
                continue
            hops.extend(Hop(address, self.mx_port, name) for address in addresses)
        if hops:
            return Route(key, tuple(hops), require_tls=enforce)
        if failures:
            return Route(key, unavailable=f"no address of {domain}'s mail servers resolved")
        return Route(key, refused=f"{domain} has no mail server address")
