"""One asynchronous DNS resolver for the SMTP gateway: dnspython's ``dns.asyncresolver``
with a timeout on every query, a small TTL-respecting cache and an optional zone file that
is answered before any DNS server.

What callers get:

- a name that does not exist (NXDOMAIN) or has no record of the type (NODATA): ``[]``.
  SPF, DKIM, DMARC and MX resolution all treat both as "no record", so there is one case
  to handle, not two;
- a timeout, SERVFAIL, a refusal or no reachable server: ``DnsTemporaryError`` (SPF and
  DMARC report ``temperror``, DKIM ``temperror``, SMTP answers 4xx);
- a query that cannot be a DNS name (empty label, over 253 octets, a bad address for
  ``ptr``): ``DnsPermanentError``.

The zone file (``dns_zone_file``) is in dnspython's zone format and read with the root as
origin, so absolute names (``a.example.``) from several domains can share one file, e.g.
the joined output of ``fulmar dns`` for each domain. Every name holding an MX record (or the
root's SOA: dnspython refuses SOA records at other names of a zone read from the root) is
an apex the file is authoritative for: a name under it that the file lacks does not exist,
a type it lacks has no records, and neither goes to the network. CNAMEs in the
file are followed. Other names go to the DNS servers (``dns_nameservers``, default the
system's), unless the resolver is offline (``dns_offline``: an empty server list), where
they do not exist.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.reversename
import dns.zone

from jmap.config import Config, ConfigError


class DnsError(Exception):
    """A DNS lookup could not be answered."""


class DnsTemporaryError(DnsError):
    """Timeout, SERVFAIL, refusal or no server: the same query may work later."""


class DnsPermanentError(DnsError):
    """The query itself is invalid (not a DNS name, not an address)."""


#: cached answers at most; the least recently used go first
CACHE_ENTRIES = 10_000
#: no answer is kept longer than this, whatever its TTL
MAX_TTL = 3600
#: how long "no such name / no such record" is kept without an SOA to say (RFC 2308)
NEGATIVE_TTL = 60
MAX_NEGATIVE_TTL = 300
#: CNAME hops followed inside the zone file
MAX_CNAME = 8

Records = tuple[dns.rdata.Rdata, ...]


class ZoneFile:
    """A zone file read with the root as origin: answers for the names it holds."""

    def __init__(self, path: str | Path) -> None:
        try:
            self.zone = dns.zone.from_file(
                str(path), origin=dns.name.root, relativize=False, check_origin=False
            )
        except OSError as exc:
            raise ConfigError(f"dns_zone_file: cannot read {path}: {exc.strerror}") from None
        except dns.exception.DNSException as exc:
            raise ConfigError(f"dns_zone_file: {path} is not a zone file: {exc}") from None
        except ValueError as exc:  # dnspython: an SOA record anywhere but at the origin
            raise ConfigError(
                f"dns_zone_file: {path}: {exc}: the file is read with the root as origin, so "
                "an SOA record may stand only at '.'; leave the domains' SOA records out "
                "(a name with an MX record is an apex already)"
            ) from None
        self.apexes = {
            name
            for name, node in self.zone.nodes.items()
            if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.SOA)
            or node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.MX)
        }

    def answer(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Any:
        """``(records,)`` when the file is authoritative (maybe ``()``), ``("cname", target)``
        to follow, or None when the name is not the file's to answer."""
        node = self.zone.get_node(name)
        if node is not None:
            found = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if found is not None:
                return (tuple(found),)
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is not None and rdtype != dns.rdatatype.CNAME:
                return ("cname", next(iter(cname)).target)
            return ((),)
        if any(name.is_subdomain(apex) for apex in self.apexes):
            return ((),)
        return None


class Resolver:
    """The gateway's one resolver. ``nameservers``: None for the system's, ``[]`` for none
    at all (offline), else IPs or ``IP:PORT`` / ``[v6]:PORT``. ``clock`` drives the cache."""

    def __init__(
        self,
        *,
        nameservers: Sequence[str] | None = None,
        timeout: float = 5.0,
        zone_file: str | Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        cache_entries: int = CACHE_ENTRIES,
    ) -> None:
        self.timeout = timeout
        self.zone = ZoneFile(zone_file) if zone_file else None
        self._servers = None if nameservers is None else [_server(s) for s in nameservers]
        self._network: dns.asyncresolver.Resolver | None = None
        self._clock = clock
        self._cache: OrderedDict[tuple[dns.name.Name, int], tuple[float, Records]] = OrderedDict()
        self._cache_entries = cache_entries
        self._inflight: dict[tuple[dns.name.Name, int], asyncio.Task[Records]] = {}
        #: queries sent to DNS servers (the cache and the zone file answered the others)
        self.network_queries = 0

    @property
    def offline(self) -> bool:
        return self._servers == []

    # -- the interface --
    async def txt(self, name: str) -> list[str]:
        """Each TXT record's strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2), as text."""
        records = await self.query(name, "TXT")
        return [b"".join(r.strings).decode("utf-8", "replace") for r in records]

    async def txt_strings(self, name: str) -> list[tuple[bytes, ...]]:
        """Each TXT record's character-strings, as the octets they are."""
        return [tuple(r.strings) for r in await self.query(name, "TXT")]

    async def mx(self, domain: str) -> list[tuple[int, str]]:
        """(preference, host) by preference; a null MX (RFC 7505) is ``(0, "")``."""
        records = await self.query(domain, "MX")
        return sorted((r.preference, _text(r.exchange)) for r in records)

    async def addresses(self, host: str) -> list[str]:
        """A then AAAA addresses. One family failing temporarily is tolerated when the
        other answers; both failing raises DnsTemporaryError."""
        found = await asyncio.gather(
            self.query(host, "A"), self.query(host, "AAAA"), return_exceptions=True
        )
        for result in found:
            if isinstance(result, DnsPermanentError):
                raise result
        addresses = [r.address for result in found if isinstance(result, tuple) for r in result]
        if not addresses:
            for result in found:
                if isinstance(result, BaseException):
                    raise result
        return addresses

    async def ptr(self, ip: str) -> list[str]:
        """The names of an address (its in-addr.arpa / ip6.arpa PTR records)."""
        try:
            name = dns.reversename.from_address(str(ipaddress.ip_address(ip.strip())))
        except ValueError:
            raise DnsPermanentError(f"not an IP address: {ip!r}") from None
        return [_text(r.target) for r in await self.query(name.to_text(), "PTR")]

    async def query(self, name: str, rdtype: str) -> Records:
        """The records of one type at a name ((): none), zone file first, then the cache,
        then the DNS servers."""
        qname = _name(name)
        try:
            kind = dns.rdatatype.from_text(rdtype)
        except dns.exception.DNSException:
            raise DnsPermanentError(f"not a record type: {rdtype!r}") from None
        for _ in range(MAX_CNAME):
            local = self.zone.answer(qname, kind) if self.zone else None
            if local is None:
                return await self._cached(qname, kind)
            if local[0] != "cname":
                return local[0]
            qname = local[1]
        raise DnsPermanentError(f"more than {MAX_CNAME} CNAMEs from {name}")

    # -- the network and the cache --
    async def _cached(self, qname: dns.name.Name, kind: int) -> Records:
        key = (qname, kind)
        hit = self._cache.get(key)
        if hit is not None:
            if hit[0] > self._clock():
                self._cache.move_to_end(key)
                return hit[1]
            del self._cache[key]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._ask(qname, kind))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _ask(self, qname: dns.name.Name, kind: int) -> Records:
        if self.offline:
            return ()
        records, ttl = await self._network_query(qname, kind)
        self._cache[(qname, kind)] = (self._clock() + min(ttl, MAX_TTL), records)
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)
        return records

    async def _network_query(self, qname: dns.name.Name, kind: int) -> tuple[Records, float]:
        resolver = self._resolver()
        self.network_queries += 1
        try:
            async with asyncio.timeout(self.timeout + 1):
                answer = await resolver.resolve(
                    qname, kind, raise_on_no_answer=False, lifetime=self.timeout, search=False
                )
        except dns.resolver.NXDOMAIN as exc:
            return (), _negative_ttl(_nxdomain_response(exc))
        except (TimeoutError, dns.exception.Timeout):
            raise DnsTemporaryError(f"DNS timeout for {qname} {_type(kind)}") from None
        except dns.resolver.YXDOMAIN:
            raise DnsPermanentError(f"{qname} is too long once its CNAME is followed") from None
        except dns.exception.DNSException as exc:  # NoNameservers (SERVFAIL, REFUSED), …
            raise DnsTemporaryError(f"DNS error for {qname} {_type(kind)}: {exc}") from None
        if answer.rrset is None:
            return (), _negative_ttl(answer.response)
        return tuple(answer.rrset), float(answer.rrset.ttl)

    def _resolver(self) -> dns.asyncresolver.Resolver:
        if self._network is None:
            try:
                resolver = dns.asyncresolver.Resolver(configure=self._servers is None)
            except dns.exception.DNSException as exc:
                raise DnsTemporaryError(f"no DNS servers: {exc}") from None
            if self._servers is not None:
                resolver.nameservers = [
                    dns.nameserver.Do53Nameserver(host, port) for host, port in self._servers
                ]
            resolver.timeout = resolver.lifetime = self.timeout
            resolver.cache = None  # ours respects TTLs and a clock tests control
            self._network = resolver
        return self._network


def resolver_from_config(config: Config) -> Resolver:
    """The resolver the settings describe (``dns_*``)."""
    servers: list[str] | None = list(config.dns_nameservers) or None
    return Resolver(
        nameservers=[] if config.dns_offline else servers,
        timeout=config.dns_timeout_seconds,
        zone_file=config.dns_zone_file,
    )


def _server(text: str) -> tuple[str, int]:
    text = text.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        return str(ipaddress.ip_address(host)), int(port)
    except ValueError:
        raise ConfigError(f"dns_nameservers: {text!r} is not IP or IP:PORT") from None


def _name(name: str) -> dns.name.Name:
    try:
        if not name or not name.strip(".") or len(name) > 1024:
            raise ValueError(name)
        return _parsed(name.strip().lower())
    except (ValueError, dns.exception.DNSException, UnicodeError):
        raise DnsPermanentError(f"not a DNS name: {name[:100]!r}") from None


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> dns.name.Name:
    """dnspython's parse of a name (immutable), once per name: each message asks about the
    same few (SPF, DKIM keys, DMARC), and parsing costs more than the cached answer."""
    return dns.name.from_text(text)


def _nxdomain_response(exc: dns.resolver.NXDOMAIN) -> dns.message.Message | None:
    try:
        return exc.response(exc.qnames()[-1])
    except (KeyError, IndexError):
        return None


def _negative_ttl(response: dns.message.Message | None) -> float:
    """RFC 2308 §5: the SOA's minimum (capped by its TTL) says how long "none" holds."""
    for rrset in response.authority if response is not None else ():
        if rrset.rdtype == dns.rdatatype.SOA:
            return float(min(rrset.ttl, next(iter(rrset)).minimum, MAX_NEGATIVE_TTL))
    return NEGATIVE_TTL


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True) if name != dns.name.root else ""


def _type(kind: int) -> str:
    return dns.rdatatype.to_text(kind)
