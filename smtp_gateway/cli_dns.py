"""``fulmar dns DOMAIN`` (the records to publish) and ``fulmar dkim rotate|remove DOMAIN``.

Output is zone-file lines with absolute names and a TTL on every line, so that several
domains' output joined into one file is one valid zone file (``dns_zone_file`` reads it).
"""

from __future__ import annotations

import ipaddress

import click

from jmap.cli import _with_store, main, with_config
from jmap.config import Config
from jmap.store.base import DataStore

from .dkim_keys import DkimKey, DkimKeyError, active_keys, all_keys, check_domain, remove, rotate
from .hostname import smtp_hostname

TTL = 3600
#: octets of one character-string in a TXT record (RFC 1035 §3.3)
TXT_CHUNK = 255


def txt_rdata(text: str) -> str:
    """A TXT value as quoted character-strings of at most 255 octets each (zone-file
    escapes: ``\\"``, ``\\\\`` and ``\\DDD`` for octets outside printable ASCII)."""
    data = text.encode()
    chunks = [data[i : i + TXT_CHUNK] for i in range(0, len(data), TXT_CHUNK)] or [b""]
    return " ".join('"' + "".join(_zone_char(octet) for octet in c) + '"' for c in chunks)


def _zone_char(octet: int) -> str:
    if octet in (0x22, 0x5C):
        return "\\" + chr(octet)
    return chr(octet) if 0x20 <= octet < 0x7F else f"\\{octet:03d}"


def _line(name: str, rdtype: str, rdata: str) -> str:
    return f"{name.rstrip('.')}.\t{TTL}\tIN\t{rdtype}\t{rdata}"


def dkim_lines(keys: list[DkimKey]) -> list[str]:
    lines = []
    for key in keys:
        state = "signs now" if key.active else "retired: keep published a while, then remove"
        lines.append(f"; DKIM {key.algorithm}, selector {key.selector} ({state})")
        lines.append(_line(key.dns_name, "TXT", txt_rdata(key.dns_value)))
    return lines


def records(
    domain: str,
    host: str,
    keys: list[DkimKey],
    ips: tuple[str, ...],
    mx_ips: tuple[str, ...],
    rua: str,
) -> list[str]:
    """Every record a domain publishes for Fulmar's mail, as zone-file lines."""
    lines = [f"; mail records for {domain} (Fulmar)", _line(domain, "MX", f"10 {host}.")]
    for ip in mx_ips:
        kind = "A" if ipaddress.ip_address(ip).version == 4 else "AAAA"
        lines.append(_line(host, kind, ip))
    mechanisms = ["mx"] + [
        f"ip{ipaddress.ip_address(ip).version}:{ipaddress.ip_address(ip)}" for ip in ips
    ]
    lines.append(_line(domain, "TXT", txt_rdata(f"v=spf1 {' '.join(mechanisms)} -all")))
    lines += dkim_lines(keys)
    dmarc = f"v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:{rua}"
    lines.append(_line(f"_dmarc.{domain}", "TXT", txt_rdata(dmarc)))
    return lines


def _domain(domain: str) -> str:
    try:
        return check_domain(domain)
    except DkimKeyError as exc:
        raise click.ClickException(str(exc)) from None


def _ips(values: tuple[str, ...], option: str) -> tuple[str, ...]:
    try:
        return tuple(str(ipaddress.ip_address(v.strip())) for v in values)
    except ValueError as exc:
        raise click.ClickException(f"{option}: {exc}") from None


@click.command("dns")
@click.argument("domain")
@click.option("--ip", "ips", multiple=True, help="An address that sends DOMAIN's mail (SPF).")
@click.option("--mx-ip", "mx_ips", multiple=True, help="An address of the MX host (A/AAAA).")
@click.option("--rua", help="Where DMARC aggregate reports go (default postmaster@DOMAIN).")
@with_config
def dns_command(
    domain: str, ips: tuple[str, ...], mx_ips: tuple[str, ...], rua: str | None, config: Config
) -> None:
    """Print DOMAIN's MX, SPF, DKIM and DMARC records as zone-file lines (DKIM keys are made
    on first use)."""
    domain = _domain(domain)
    ips, mx_ips = _ips(ips, "--ip"), _ips(mx_ips, "--mx-ip")
    host = smtp_hostname(config)

    async def work(data: DataStore) -> list[DkimKey]:
        await active_keys(data, domain)
        return await all_keys(data, domain)

    keys = _with_store(config, work)
    for line in records(domain, host, keys, ips, mx_ips, rua or f"postmaster@{domain}"):
        click.echo(line)


@click.group("dkim")
def dkim_group() -> None:
    """Manage DKIM signing keys."""


@dkim_group.command("rotate")
@click.argument("domain")
@with_config
def dkim_rotate(domain: str, config: Config) -> None:
    """Make a new selector pair (RSA and Ed25519) that signs from now on; the old pair stays
    published until `fulmar dkim remove`."""
    domain = _domain(domain)
    new, retired = _with_store(config, lambda data: rotate(data, domain))
    click.echo(f"; publish the new DKIM records of {domain} now:")
    for line in dkim_lines(new):
        click.echo(line)
    if retired:
        selectors = ", ".join(k.selector for k in retired)
        click.echo(f"; keep publishing {selectors} for a few days, then run")
        for key in retired:
            click.echo(f";   fulmar dkim remove {domain} {key.selector}")


@dkim_group.command("remove")
@click.argument("domain")
@click.argument("selector")
@with_config
def dkim_remove(domain: str, selector: str, config: Config) -> None:
    """Forget a retired DKIM key (unpublish its record first)."""
    domain = _domain(domain)

    async def work(data: DataStore) -> DkimKey | DkimKeyError:
        try:
            return await remove(data, domain, selector)
        except DkimKeyError as exc:
            return exc  # _with_store would call it an internal error

    key = _with_store(config, work)
    if isinstance(key, DkimKeyError):
        raise click.ClickException(str(key))
    click.echo(f"removed {key.selector} of {domain}: its record {key.dns_name} may go")


main.add_command(dns_command)
main.add_command(dkim_group)
