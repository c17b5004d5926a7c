"""``fulmar reindex [ADDRESS]``: rebuild the search engine's index online.

Every Email of the account (of every account without ADDRESS) is queued on the ``search``
job queue, 64 per job; the search feeder of a running server indexes them
again from their messages while the server keeps answering, searches included.
"""

from __future__ import annotations

import time

import click

from .cli import _with_store, main, with_config
from .config import Config
from .store.base import DataStore, NotFoundError
from .store.mail import EmailQuery, mail_index
from .store.search import SEARCH_QUEUE, feed_payload

#: Emails named by one reindexing job
EMAILS_PER_JOB = 64


async def queue_reindex(data: DataStore, address: str | None) -> tuple[int, int]:
    """Queue every Email of the personal account(s) of ADDRESS (or of everyone);
    returns (accounts, Emails)."""
    if address is None:
        principals = await data.principals()
    else:
        principal = await data.principal_by_login(address)
        if principal is None:
            raise NotFoundError(f"no account with the address {address}")
        principals = [principal]
    accounts = emails = 0
    for principal in principals:
        for account in await data.accounts_for(principal.id):
            if account.owner_id != principal.id:
                continue
            _, ids = await mail_index(data).query(account.id, EmailQuery(None))
            for start in range(0, len(ids), EMAILS_PER_JOB):
                chunk = ids[start : start + EMAILS_PER_JOB]
                await data.jobs.enqueue(SEARCH_QUEUE, feed_payload(account.id, chunk), time.time())
            accounts += 1
            emails += len(ids)
    return accounts, emails


@main.command("reindex")
@click.argument("address", required=False)
@with_config
def reindex_command(address: str | None, config: Config) -> None:
    """Rebuild the search index of ADDRESS's account (default: every account) while the
    server runs: each Email is queued for the search feeder."""
    if not config.meilisearch_url:
        raise click.ClickException(
            "no search engine is configured (meilisearch_url): the embedded FTS5 index is "
            "written with each message and needs no rebuild"
        )
    accounts, emails = _with_store(config, lambda data: queue_reindex(data, address))
    click.echo(f"queued {emails} Emails of {accounts} accounts for the search feeder")
