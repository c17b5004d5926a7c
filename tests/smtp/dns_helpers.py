"""Helpers of the DNS and message-authentication tests: loopback UDP sockets that act as
DNS servers (one that never answers, one that answers from a table and counts), zone files
made from ``fulmar dns``'s own record builder, and a data store in tmp."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from jmap.store.sqlite import SqliteDataStore
from smtp_gateway.cli_dns import records
from smtp_gateway.dkim_keys import ED25519, RSA, DkimKey, generate


@contextlib.contextmanager
def silent_udp() -> Iterator[str]:
    """A bound UDP socket on 127.0.0.1 that reads nothing: queries to it time out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


class TableDnsServer:
    """A DNS server of the tests on 127.0.0.1 (UDP), answering from ``answers``:
    ``{(name, type): (ttl, [rdata text])}``; ``"SERVFAIL"`` for a name answers SERVFAIL;
    other names are NXDOMAIN with an SOA of minimum ``negative_ttl``."""

    def __init__(self, answers: dict, negative_ttl: int = 30) -> None:
        self.answers = answers
        self.negative_ttl = negative_ttl
        self.queries: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TableDnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True).lower()
            kind = dns.rdatatype.to_text(question.rdtype)
            self.queries.append((name, kind))
            response = dns.message.make_response(query)
            found = self.answers.get((name, kind))
            if self.answers.get((name, "*")) == "SERVFAIL":
                response.set_rcode(dns.rcode.SERVFAIL)
            elif found is not None:
                ttl, values = found
                response.answer.append(
                    dns.rrset.from_text_list(question.name, ttl, "IN", kind, values)
                )
            elif not any(key[0] == name for key in self.answers):
                response.set_rcode(dns.rcode.NXDOMAIN)
                soa = f"ns.test. admin.test. 1 3600 600 86400 {self.negative_ttl}"
                response.authority.append(
                    dns.rrset.from_text(dns.name.from_text("test."), 3600, "IN", "SOA", soa)
                )
            self.sock.sendto(response.to_wire(), peer)


class Clock:
    """A clock the tests move."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def key_pair(domain: str, tag: str = "t") -> list[DkimKey]:
    now = time.time()
    return [
        generate(domain, f"{tag}r", RSA, now),
        generate(domain, f"{tag}e", ED25519, now),
    ]


def zone_lines(
    domain: str,
    keys: list[DkimKey],
    *,
    host: str | None = None,
    ips: tuple[str, ...] = ("127.0.0.1",),
    dmarc: str | None = None,
    spf: str | None = None,
) -> str:
    """``fulmar dns``'s records for a domain, with its DMARC or SPF record replaced if asked."""
    lines = records(domain, host or f"mx.{domain}", keys, ips, ("127.0.0.1",), f"dmarc@{domain}")
    out = []
    for line in lines:
        if dmarc is not None and line.startswith(f"_dmarc.{domain}."):
            line = f'_dmarc.{domain}.\t3600\tIN\tTXT\t"{dmarc}"'
        if spf is not None and line.startswith(f"{domain}.\t") and "v=spf1" in line:
            line = f'{domain}.\t3600\tIN\tTXT\t"{spf}"'
        out.append(line)
    return "\n".join(out) + "\n"


def write_zone(path: Path, *parts: str) -> Path:
    path.write_text("".join(parts))
    return path


@contextlib.asynccontextmanager
async def data_store(path: Path) -> AsyncIterator[SqliteDataStore]:
    data = SqliteDataStore(path / "fulmar.db")
    await data.open()
    try:
        yield data
    finally:
        await data.close()


async def ticker(counter: list[int], stop: asyncio.Event) -> None:
    """Counts turns of the event loop until stopped (liveness by ordering)."""
    while not stop.is_set():
        counter[0] += 1
        await asyncio.sleep(0)
