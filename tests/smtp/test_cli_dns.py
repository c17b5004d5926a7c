"""``fulmar dns`` and ``fulmar dkim``, run as the real command: their output, joined for two
domains, is read back by dnspython as one zone and verifies mail the gateway signs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import dns.name
import dns.rdatatype
import dns.zone
import pytest

from smtp_gateway.authcheck import Verdict, check_message
from smtp_gateway.dkim_sign import sign_message
from smtp_gateway.dns import Resolver
from tests.cli.conftest import Fulmar

from .dns_helpers import data_store
from .test_authcheck import MESSAGE


@pytest.fixture
def fulmar(tmp_path: Path) -> Fulmar:
    return Fulmar(tmp_path / "data").create()


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "fulmar.toml"
    path.write_text('smtp_hostname = "mail.fulmar.test"\n')
    return str(path)


def zone_of(text: str) -> dns.zone.Zone:
    return dns.zone.from_text(text, origin=dns.name.root, relativize=False, check_origin=False)


def rdatas(zone: dns.zone.Zone, name: str, kind: str) -> list[str]:
    found = zone.get_rdataset(dns.name.from_text(name), dns.rdatatype.from_text(kind))
    return sorted(r.to_text() for r in found) if found else []


def sign_and_check(data_dir: Path, zone_file: Path, raw: bytes = MESSAGE, **kw) -> Verdict:
    async def main() -> Verdict:
        async with data_store(data_dir) as data:
            signed = await sign_message(raw, "a.test", data)
        if kw.pop("tamper", False):
            signed = signed.replace(b"the minutes are attached", b"the minutes are gone")
        return await check(zone_file, signed, **kw)

    return asyncio.run(main())


async def check(zone_file: Path, raw: bytes, client_ip: str = "127.0.0.1") -> Verdict:
    return await check_message(
        raw,
        client_ip=client_ip,
        helo="mail.fulmar.test",
        mail_from="alice@a.test",
        resolver=Resolver(zone_file=zone_file, nameservers=[]),
        authserv_id="mx.b.test",
    )


def test_joined_output_is_one_zone_that_verifies_signed_mail(
    fulmar: Fulmar, config: str, tmp_path: Path
) -> None:
    a = fulmar.ok("dns", "a.test", "--ip", "127.0.0.1", "--mx-ip", "127.0.0.1", "--config", config)
    b = fulmar.ok("dns", "B.test", "--ip", "::1", "--mx-ip", "::1", "--config", config)
    for line in (a + b).splitlines():
        assert line.startswith(";") or line.split("\t")[0].endswith("."), line
    zone = zone_of(a + b)
    assert rdatas(zone, "a.test.", "MX") == ["10 mail.fulmar.test."]
    assert rdatas(zone, "mail.fulmar.test.", "A") == ["127.0.0.1"]
    assert rdatas(zone, "mail.fulmar.test.", "AAAA") == ["::1"]
    assert rdatas(zone, "a.test.", "TXT") == ['"v=spf1 mx ip4:127.0.0.1 -all"']
    assert rdatas(zone, "b.test.", "TXT") == ['"v=spf1 mx ip6:::1 -all"']
    assert rdatas(zone, "_dmarc.a.test.", "TXT") == [
        '"v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@a.test"'
    ]
    dkim_names = [str(n) for n in zone.nodes if "._domainkey." in str(n)]
    assert len(dkim_names) == 4  # two selectors for each domain
    rsa = next(
        r
        for n in dkim_names
        for r in zone.get_rdataset(n, "TXT")
        if n.endswith("._domainkey.a.test.") and b"k=rsa" in r.strings[0]
    )
    assert len(rsa.strings) == 2 and all(len(s) <= 255 for s in rsa.strings)

    zone_file = tmp_path / "both.zone"
    zone_file.write_text(a + b)
    verdict = sign_and_check(fulmar.data_dir, zone_file)
    assert (verdict.spf, verdict.dkim, verdict.dmarc, verdict.action) == (
        "pass",
        "pass",
        "pass",
        "accept",
    )
    assert [(r.result, r.algorithm) for r in verdict.dkim_results] == [
        ("pass", "rsa-sha256"),
        ("pass", "ed25519-sha256"),
    ]
    bad = sign_and_check(fulmar.data_dir, zone_file, tamper=True, client_ip="127.0.0.9")
    assert (bad.spf, bad.dkim, bad.dmarc, bad.action) == ("fail", "fail", "fail", "quarantine")
    # the same keys: running it again prints the same records
    assert (
        fulmar.ok("dns", "a.test", "--ip", "127.0.0.1", "--mx-ip", "127.0.0.1", "--config", config)
        == a
    )


def test_rotation_publishes_both_until_the_old_is_removed(
    fulmar: Fulmar, config: str, tmp_path: Path
) -> None:
    before = fulmar.ok("dns", "a.test", "--ip", "127.0.0.1", "--config", config)
    zone_file = tmp_path / "zone"
    zone_file.write_text(before)

    async def sign_now() -> bytes:
        async with data_store(fulmar.data_dir) as data:
            return await sign_message(MESSAGE, "a.test", data)

    old_mail = asyncio.run(sign_now())
    old = sorted(str(n).split(".")[0] for n in zone_of(before).nodes if "._domainkey." in str(n))

    out = fulmar.ok("dkim", "rotate", "a.test", "--config", config)
    new = sorted(str(n).split(".")[0] for n in zone_of(out).nodes if "._domainkey." in str(n))
    assert len(new) == 2 and not set(new) & set(old)
    for selector in old:
        assert f"fulmar dkim remove a.test {selector}" in out
    after = fulmar.ok("dns", "a.test", "--ip", "127.0.0.1", "--config", config)
    published = {str(n).split(".")[0] for n in zone_of(after).nodes if "._domainkey." in str(n)}
    assert published == set(old) | set(new)
    zone_file.write_text(after)
    verdict = sign_and_check(fulmar.data_dir, zone_file)
    assert verdict.dkim == "pass" and {r.selector for r in verdict.dkim_results} == set(new)
    assert asyncio.run(check(zone_file, old_mail)).dkim == "pass"  # old key still published

    assert "rotate first" in fulmar.fails("dkim", "remove", "a.test", new[0])
    for selector in old:
        fulmar.ok("dkim", "remove", "a.test", selector)
    final = fulmar.ok("dns", "a.test", "--config", config)
    assert {str(n).split(".")[0] for n in zone_of(final).nodes if "._domainkey." in str(n)} == set(
        new
    )
    zone_file.write_text(final)
    assert asyncio.run(check(zone_file, old_mail)).dkim == "permerror"  # unpublished now


def test_bad_input_is_one_line(fulmar: Fulmar, tmp_path: Path) -> None:
    assert "not a domain name" in fulmar.fails("dns", "not a domain")
    assert "--ip" in fulmar.fails("dns", "a.test", "--ip", "999.1.1.1")
    assert "--mx-ip" in fulmar.fails("dns", "a.test", "--mx-ip", "mail.example")
    assert "no DKIM selector" in fulmar.fails("dkim", "remove", "a.test", "nope")
    empty = Fulmar(tmp_path / "nothing")
    assert "holds no Fulmar data" in empty.fails("dns", "a.test")


@pytest.mark.parametrize("text", ["", "plain", "x" * 254 + "ö", 'q"uo\\te', "ü" * 300])
def test_txt_rdata_round_trips_through_dnspython(text: str) -> None:
    import dns.rdata

    from smtp_gateway.cli_dns import txt_rdata

    rdata = dns.rdata.from_text("IN", "TXT", txt_rdata(text))
    assert all(len(s) <= 255 for s in rdata.strings)
    assert b"".join(rdata.strings) == text.encode()
