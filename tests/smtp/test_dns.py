"""The gateway's resolver: zone file first (absolute names, several files joined), then the
cache, then DNS servers on 127.0.0.1 run by the tests; timeouts and SERVFAIL as temporary
errors. Nothing here leaves the machine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from jmap.config import Config, ConfigError, load_config
from smtp_gateway.dns import (
    DnsPermanentError,
    DnsTemporaryError,
    Resolver,
    resolver_from_config,
)

from .dns_helpers import Clock, TableDnsServer, key_pair, silent_udp, write_zone, zone_lines

A_ZONE = """\
a.test.  300 IN MX 20 backup.a.test.
a.test.  300 IN MX 10 mx.a.test.
a.test.  300 IN TXT "v=spf1 mx -all"
a.test.  300 IN TXT "other" "split" "strings"
mx.a.test. 300 IN A 127.0.0.1
mx.a.test. 300 IN AAAA ::1
alias.a.test. 300 IN CNAME mx.a.test.
1.0.0.127.in-addr.arpa. 300 IN PTR mx.a.test.
"""
B_ZONE = """\
b.test.  300 IN MX 0 .
_dmarc.b.test. 300 IN TXT "v=DMARC1; p=reject"
"""


def run(coro):
    return asyncio.run(coro)


def test_joined_zone_files_answer_each_domain(tmp_path: Path) -> None:
    zone = write_zone(tmp_path / "z", A_ZONE, B_ZONE, zone_lines("c.test", key_pair("c.test")))

    async def main() -> None:
        with silent_udp() as server:  # any query reaching it would time out
            r = Resolver(zone_file=zone, nameservers=[server], timeout=0.3)
            assert await r.mx("a.test") == [(10, "mx.a.test"), (20, "backup.a.test")]
            assert await r.mx("B.TEST.") == [(0, "")]  # null MX (RFC 7505)
            assert sorted(await r.txt("a.test")) == ["othersplitstrings", "v=spf1 mx -all"]
            assert await r.txt("_dmarc.b.test") == ["v=DMARC1; p=reject"]
            assert await r.addresses("mx.a.test") == ["127.0.0.1", "::1"]
            assert await r.addresses("alias.a.test") == ["127.0.0.1", "::1"]  # CNAME followed
            assert await r.ptr("127.0.0.1") == ["mx.a.test"]
            dkim = await r.txt("tr._domainkey.c.test")
            assert dkim[0].startswith("v=DKIM1; k=rsa; p=MII")  # 255-octet strings joined
            assert len(dkim[0]) > 255
            assert r.network_queries == 0

    run(main())


def test_missing_names_under_an_apex_do_not_exist_without_asking(tmp_path: Path) -> None:
    zone = write_zone(tmp_path / "z", A_ZONE, B_ZONE)

    async def main() -> None:
        with silent_udp() as server:
            r = Resolver(zone_file=zone, nameservers=[server], timeout=0.3)
            assert await r.txt("_dmarc.a.test") == []  # NXDOMAIN under apex a.test
            assert await r.txt("mx.a.test") == []  # NODATA: the name has A, not TXT
            assert await r.addresses("nowhere.b.test") == []
            assert r.network_queries == 0
            with pytest.raises(DnsTemporaryError):  # not the file's: asks, and times out
                await r.txt("elsewhere.test")
            assert r.network_queries == 1

    run(main())


def test_silent_server_is_a_temporary_error(tmp_path: Path) -> None:
    async def main() -> None:
        with silent_udp() as server:
            r = Resolver(nameservers=[server], timeout=0.3)
            for call in (r.txt("x.test"), r.mx("x.test"), r.addresses("x.test"), r.ptr("::1")):
                with pytest.raises(DnsTemporaryError):
                    await call

    run(main())


def test_offline_resolver_answers_only_from_the_file(tmp_path: Path) -> None:
    zone = write_zone(tmp_path / "z", A_ZONE)

    async def main() -> None:
        r = Resolver(zone_file=zone, nameservers=[])
        assert await r.mx("a.test") == [(10, "mx.a.test"), (20, "backup.a.test")]
        assert await r.txt("anything.example") == []
        assert r.network_queries == 0

    run(main())


def test_cache_respects_ttls_and_the_clock(tmp_path: Path) -> None:
    answers = {("x.test", "TXT"): (30, ['"hello"']), ("x.test", "A"): (5, ["127.0.0.2"])}
    clock = Clock()

    async def main() -> None:
        with TableDnsServer(answers, negative_ttl=10) as server:
            r = Resolver(nameservers=[server.address], timeout=2, clock=clock)
            assert await r.txt("x.test") == ["hello"]
            assert await r.txt("X.test.") == ["hello"]
            assert server.queries == [("x.test", "TXT")]
            clock.now += 29
            await r.txt("x.test")
            assert len(server.queries) == 1
            clock.now += 2  # past the TTL of 30
            assert await r.txt("x.test") == ["hello"]
            assert len(server.queries) == 2
            # no such name: kept for the SOA minimum (RFC 2308), here 10 s
            assert await r.txt("gone.test") == []
            assert await r.txt("gone.test") == []
            assert server.queries.count(("gone.test", "TXT")) == 1
            clock.now += 11
            assert await r.txt("gone.test") == []
            assert server.queries.count(("gone.test", "TXT")) == 2

    run(main())


def test_concurrent_queries_for_one_name_share_one_lookup() -> None:
    answers = {("x.test", "TXT"): (30, ['"hello"'])}

    async def main() -> None:
        with TableDnsServer(answers) as server:
            r = Resolver(nameservers=[server.address], timeout=2)
            found = await asyncio.gather(*(r.txt("x.test") for _ in range(20)))
            assert found == [["hello"]] * 20
            assert server.queries == [("x.test", "TXT")]

    run(main())


def test_servfail_is_temporary_and_not_cached() -> None:
    answers = {("broken.test", "*"): "SERVFAIL"}

    async def main() -> None:
        with TableDnsServer(answers) as server:
            r = Resolver(nameservers=[server.address], timeout=2)
            for _ in range(2):
                with pytest.raises(DnsTemporaryError):
                    await r.txt("broken.test")
            assert len(server.queries) >= 2

    run(main())


@pytest.mark.parametrize("name", ["", ".", "a..b", "x" * 64 + ".test", ("a" * 60 + ".") * 5])
def test_names_that_cannot_be_names_are_permanent_errors(name: str) -> None:
    async def main() -> None:
        r = Resolver(nameservers=[])
        with pytest.raises(DnsPermanentError):
            await r.txt(name)

    run(main())


def test_ptr_of_something_not_an_address_and_unknown_types() -> None:
    with pytest.raises(DnsPermanentError):
        run(Resolver(nameservers=[]).query("a.test", "BOGUS"))
    with pytest.raises(DnsPermanentError):
        run(Resolver(nameservers=[]).ptr("300.1.1.1"))


def test_a_bad_zone_file_is_a_config_error(tmp_path: Path) -> None:
    bad = write_zone(tmp_path / "bad", "a.test. 300 IN MX ten mx.a.test.\n")
    with pytest.raises(ConfigError, match="not a zone file"):
        Resolver(zone_file=bad)
    soa = write_zone(tmp_path / "soa", "a.test. 300 IN SOA ns.a.test. h.a.test. 1 2 3 4 5\n")
    with pytest.raises(ConfigError, match=r"SOA record may stand only at '\.'"):
        Resolver(zone_file=soa)
    with pytest.raises(ConfigError, match="cannot read"):
        Resolver(zone_file=tmp_path / "missing")


def test_settings(tmp_path: Path) -> None:
    zone = write_zone(tmp_path / "z", A_ZONE)
    config = load_config(
        environ={"FULMAR_DNS_ZONE_FILE": str(zone), "FULMAR_DNS_NAMESERVERS": "127.0.0.1:5353"}
    )
    assert config.dns_zone_file == str(zone)
    assert config.dns_nameservers == ("127.0.0.1:5353",)
    assert config.dns_timeout_seconds == 5.0
    r = resolver_from_config(config)
    assert r.zone is not None and not r.offline and r.timeout == 5.0
    offline = resolver_from_config(Config(dns_offline=True, dns_nameservers=("127.0.0.1",)))
    assert offline.offline
    toml = tmp_path / "c.toml"
    toml.write_text('dns_nameservers = ["::1", "[::1]:53", "127.0.0.1"]\n')
    assert load_config(toml, environ={}).dns_nameservers == ("::1", "[::1]:53", "127.0.0.1")
    for bad in ('dns_nameservers = ["dns.google"]', 'dns_nameservers = ["127.0.0.1:0"]'):
        toml.write_text(bad + "\n")
        with pytest.raises(ConfigError, match="dns_nameservers"):
            load_config(toml, environ={})
    toml.write_text("dns_timeout_seconds = 0\n")
    with pytest.raises(ConfigError, match="dns_timeout_seconds"):
        load_config(toml, environ={})
