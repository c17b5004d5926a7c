"""``fulmar mongo``: preparing a MongoDB deployment for the data role.

``fulmar mongo init`` creates every index, records the schema version (collection ``meta``)
and, pointed at a mongos, enables sharding on the database and shards each per-account
collection on hashed ``account_id``; without the privilege to do so it prints the commands
for an administrator instead.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import click

from .config import ConfigError, load_config
from .store.base import StoreError

if TYPE_CHECKING:
    from .store.mongo_mail import MongoMailStore

#: MongoDB's error codes for a missing privilege
UNAUTHORIZED = (13, 18)
#: already sharded / already enabled (older servers answer these instead of ok)
ALREADY = (20, 23)


def shard_commands(database: str, collections: list[str]) -> list[dict[str, Any]]:
    """The admin commands that shard the database's collections on hashed ``account_id``."""
    return [{"enableSharding": database}] + [
        {"shardCollection": f"{database}.{name}", "key": {"account_id": "hashed"}}
        for name in collections
    ]


def as_shell(commands: list[dict[str, Any]]) -> str:
    """The commands as mongosh lines, for an administrator to run."""
    return "\n".join(f"db.adminCommand({json.dumps(c)})" for c in commands)


async def init(url: str, echo: Any = click.echo) -> None:
    # pymongo is loaded by the commands that use it, not by every ``fulmar`` command
    from .store.mongo import SCHEMA_VERSION
    from .store.mongo_mail import MongoMailStore

    store = MongoMailStore(url)
    await store.open()  # refuses a database of a newer schema
    try:
        await store.create_indexes()  # (open() skips them when the schema is current)
        echo(f"indexes ready in database {store.database}")
        hello = await store.client.admin.command("hello")
        if hello.get("msg") == "isdbgrid":
            await _shard(store, echo)
        else:
            echo("not a mongos: collections left unsharded")
        await store.record_schema_version()
        echo(f"schema version {SCHEMA_VERSION} recorded")
    finally:
        await store.close()


async def _shard(store: MongoMailStore, echo: Any) -> None:
    from pymongo.errors import OperationFailure

    collections = store.sharded_collections()
    for name in collections:  # a hashed shard key needs its hashed index
        await store.db[name].create_index([("account_id", "hashed")])
    commands = shard_commands(store.database, collections)
    for n, command in enumerate(commands):
        try:
            await store.client.admin.command(command)
        except OperationFailure as exc:
            if exc.code in ALREADY:
                continue
            if exc.code in UNAUTHORIZED:
                echo("no privilege to shard; an administrator can run:")
                echo(as_shell(commands[n:]))
                return
            raise
    echo(f"sharded {len(collections)} collections on hashed account_id")


@click.group("mongo")
def mongo() -> None:
    """The MongoDB backend (mongodb_url / FULMAR_MONGODB_URL)."""


@mongo.command("init")
@click.option("--url", help="MongoDB URL (default: mongodb_url, or FULMAR_MONGODB_URL).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="A TOML file.")
def init_command(url: str | None, config_file: str | None) -> None:
    """Create the indexes, shard on a mongos, record the schema version."""
    try:
        url = url or load_config(config_file=config_file).mongodb_url
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not url:
        raise click.ClickException("no MongoDB URL: give --url or set FULMAR_MONGODB_URL")
    from pymongo.errors import PyMongoError

    try:
        asyncio.run(init(url))
    except (PyMongoError, StoreError) as exc:
        raise click.ClickException(f"MongoDB: {exc}") from None
