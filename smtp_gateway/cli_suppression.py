"""``fulmar suppression list [ADDRESS]`` and ``fulmar suppression remove ADDRESS RECIPIENT``:
the addresses an account does not send to (hard bounces and complaints; ``bounces.py``,
``feedback.py``)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from jmap.cli import _with_store, main, with_config
from jmap.config import Config
from jmap.provision import ProvisionError
from jmap.store.base import DataStore

from .bounces import SUPPRESSION
from .local import LocalDirectory


async def _account(data: DataStore, address: str) -> str:
    account = await LocalDirectory(data).login_account(address.strip().lower())
    if account is None:
        raise ProvisionError(f"{address} is no account's address")
    return account


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@main.group()
def suppression() -> None:
    """Addresses an account does not send to (hard bounces, complaints)."""


@suppression.command("list")
@click.argument("address", required=False)
@with_config
def suppression_list(address: str | None, config: Config) -> None:
    """List the suppressions of ADDRESS's account (of every account without ADDRESS):
    account, recipient, kind, since, until (past it the address is sent to again), reason."""
    days = config.smtp_suppress_days

    async def work(data: DataStore) -> list[tuple[str, dict]]:
        if address is not None:
            owners = [(address.strip().lower(), await _account(data, address))]
        else:
            owners = []
            for principal in sorted(await data.principals(), key=lambda p: p.login):
                account = await LocalDirectory(data).login_account(principal.login)
                if account is not None:
                    owners.append((principal.login, account))
        found = []
        for login, account in owners:
            _, docs = await data.get(account, SUPPRESSION, None)
            found += [(login, d) for d in sorted(docs, key=lambda d: d["id"])]
        return found

    for login, doc in _with_store(config, work):
        until = _when(doc["at"] + days * 86400) if days else "-"
        kind = doc.get("kind", "bounce")
        click.echo(f"{login}\t{doc['id']}\t{kind}\t{_when(doc['at'])}\t{until}\t{doc['reason']}")


@suppression.command("remove")
@click.argument("address")
@click.argument("recipient")
@with_config
def suppression_remove(address: str, recipient: str, config: Config) -> None:
    """Let ADDRESS's account send to RECIPIENT again."""
    rcpt = recipient.strip().lower()

    async def work(data: DataStore) -> None:
        account = await _account(data, address)
        async with data.transaction(account) as tx:
            if not await tx.get(SUPPRESSION, [rcpt]):
                raise ProvisionError(f"{address} has no suppression of {recipient}")
            await tx.destroy(SUPPRESSION, rcpt)

    _with_store(config, work)
    click.echo(f"removed {rcpt} from the suppression list of {address.strip().lower()}")
