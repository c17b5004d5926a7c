"""``fulmar domain`` and ``fulmar alias``: the server-wide mail routing records."""

from __future__ import annotations

import click

from jmap.cli import _with_store, main, with_config
from jmap.config import Config
from jmap.provision import ProvisionError
from jmap.store.base import DataStore

from . import domains as records
from .addresses import AddressError, normal_address
from .recipients import RecipientResolver


def _run(config: Config, work):  # type: ignore[no-untyped-def]
    """``_with_store``, with routing errors as one line for the operator."""

    async def guarded(data: DataStore):  # type: ignore[no-untyped-def]
        try:
            return await work(data)
        except (AddressError, records.RoutingError) as exc:
            raise ProvisionError(str(exc)) from None

    return _with_store(config, guarded)


async def _check_target(data: DataStore, address: str) -> None:
    """Mail for a catch-all or alias must reach an account (no forwarding yet)."""
    if await RecipientResolver(data).account_of(normal_address(address)) is None:
        raise records.RoutingError(f"{address} is no account's address or alias")


@main.group()
def domain() -> None:
    """Manage local domains (every account's address domain is local already)."""


@domain.command("add")
@click.argument("name")
@click.option("--catch-all", help="Deliver mail for unknown users of NAME to this address.")
@with_config
def domain_add(name: str, catch_all: str | None, config: Config) -> None:
    """Accept mail for NAME."""

    async def work(data: DataStore) -> dict:
        if catch_all is not None:
            await _check_target(data, catch_all)
        return await records.add_domain(data, name, catch_all)

    doc = _run(config, work)
    extra = f" (catch-all {doc['catchAll']})" if doc["catchAll"] else ""
    click.echo(f"added {doc['id']}{extra}")


@domain.command("list")
@with_config
def domain_list(config: Config) -> None:
    """List local domains: those added here, then those of account addresses."""

    async def work(data: DataStore) -> tuple[list[dict], list[str]]:
        added = await records.domains(data)
        logins = {p.login.rpartition("@")[2] for p in await data.principals()}
        return added, sorted(logins - {d["id"] for d in added})

    added, from_logins = _run(config, work)
    for doc in added:
        click.echo(f"{doc['id']}\tcatch-all: {doc['catchAll'] or '-'}")
    for name in from_logins:
        click.echo(f"{name}\t(account addresses)")


@domain.command("remove")
@click.argument("name")
@with_config
def domain_remove(name: str, config: Config) -> None:
    """Stop accepting mail for NAME (its accounts' addresses still receive mail)."""
    _run(config, lambda data: records.remove_domain(data, name))
    click.echo(f"removed {name.lower()}")


@domain.command("catch-all")
@click.argument("name")
@click.argument("address", required=False)
@click.option("--none", "clear", is_flag=True, help="Refuse mail for unknown users again.")
@with_config
def domain_catch_all(name: str, address: str | None, clear: bool, config: Config) -> None:
    """Set (ADDRESS) or clear (--none) the catch-all of NAME."""
    if (address is None) == (not clear):
        raise click.ClickException("give either ADDRESS or --none")

    async def work(data: DataStore) -> dict:
        if address is not None:
            await _check_target(data, address)
        return await records.set_catch_all(data, name, address)

    doc = _run(config, work)
    click.echo(f"{doc['id']}: catch-all {doc['catchAll'] or 'none'}")


@main.group()
def alias() -> None:
    """Manage aliases: other addresses whose mail goes to an account."""


@alias.command("add")
@click.argument("alias_address", metavar="ALIAS")
@click.argument("address")
@with_config
def alias_add(alias_address: str, address: str, config: Config) -> None:
    """Deliver mail for ALIAS to ADDRESS's account."""

    async def work(data: DataStore) -> dict:
        normal = normal_address(alias_address)
        if await data.principal_by_login(normal) is not None:
            raise records.RoutingError(f"{normal} is an account's address already")
        await _check_target(data, address)
        return await records.add_alias(data, alias_address, address)

    doc = _run(config, work)
    click.echo(f"added {doc['id']} -> {doc['target']}")


@alias.command("list")
@with_config
def alias_list(config: Config) -> None:
    """List aliases."""
    for doc in _run(config, records.aliases):
        click.echo(f"{doc['id']}\t{doc['target']}")


@alias.command("remove")
@click.argument("alias_address", metavar="ALIAS")
@with_config
def alias_remove(alias_address: str, config: Config) -> None:
    """Remove ALIAS."""
    _run(config, lambda data: records.remove_alias(data, alias_address))
    click.echo(f"removed {alias_address.lower()}")
