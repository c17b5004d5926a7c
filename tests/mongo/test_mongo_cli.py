"""``fulmar mongo init`` and the ordinary commands against a MongoDB backend (the nx-27017
emulator, over the wire protocol): indexes, schema version, sharding commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from jmap.cli_mongo import as_shell, shard_commands
from jmap.store.mongo import SCHEMA_VERSION
from jmap.store.mongo_mail import MongoMailStore

FULMAR = str(Path(sys.executable).parent / "fulmar")
#: the only indexes not led by account_id: directory collections and cross-account lookups
NOT_PER_ACCOUNT = {
    ("principals", "login_key"),
    ("access", "principal_id"),
    ("tokens", "principal_id"),
    ("blob_refs", "blob_id"),
    ("uploads", "expires"),
    ("uploads", "blob_id"),
    ("jobs", "queue"),
    ("blob_writes", "at"),
}


def run(*args: str, url: str | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULMAR_")}
    if url:
        env["FULMAR_MONGODB_URL"] = url
    return subprocess.run(
        [FULMAR, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )


@pytest.fixture
def url(mongo_nx27017_url: str, tmp_path: Path) -> str:
    name = "cli" + str(abs(hash(str(tmp_path))))[:12]
    return mongo_nx27017_url.replace("/?", f"/{name}?")


def indexes(url: str) -> dict[str, list[list[str]]]:
    async def main() -> dict[str, list[list[str]]]:
        client = AsyncMongoClient(url)
        db = client.get_default_database()
        found = {}
        for name in await db.list_collection_names():
            specs = await (await db[name].list_indexes()).to_list()
            found[name] = [list(s["key"]) for s in specs if s["name"] != "_id_"]
        schema = await db.meta.find_one({"_id": "schema"})
        await client.close()
        found["schema"] = [[str(schema and schema["version"])]]
        return found

    return asyncio.run(main())


def test_init_creates_the_indexes_and_records_the_schema_version(url, tmp_path):
    done = run("mongo", "init", url=url, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "indexes ready" in done.stdout
    assert "not a mongos: collections left unsharded" in done.stdout
    found = indexes(url)
    assert found.pop("schema") == [[str(SCHEMA_VERSION)]]
    for collection in ("objects", "changelog", "mail_email", "mail_text", "jobs"):
        assert found.get(collection), f"no indexes on {collection}"
    for collection, keys in found.items():
        for key in keys:
            if (collection, key[0]) not in NOT_PER_ACCOUNT:
                assert key[0] == "account_id", (collection, key)
    # again: nothing to do, still fine
    assert run("mongo", "init", url=url, tmp_path=tmp_path).returncode == 0


def test_init_refuses_a_newer_schema(url, tmp_path):
    async def newer() -> None:
        client = AsyncMongoClient(url)
        await client.get_default_database().meta.insert_one({"_id": "schema", "version": 99})
        await client.close()

    asyncio.run(newer())
    done = run("mongo", "init", url=url, tmp_path=tmp_path)
    assert done.returncode == 1
    assert "schema version 99, newer than this Fulmar's" in done.stderr


def test_init_needs_a_url(tmp_path):
    done = run("mongo", "init", url=None, tmp_path=tmp_path)
    assert done.returncode == 1 and "no MongoDB URL" in done.stderr
    done = run("mongo", "init", "--url", "http://127.0.0.1:1/x", url=None, tmp_path=tmp_path)
    assert done.returncode == 1 and "MongoDB:" in done.stderr


def test_account_commands_work_the_same_on_mongodb(url, tmp_path):
    added = run(
        "account", "add", "ann@example.com", "--password", "a-long-password", url=url,
        tmp_path=tmp_path,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = run("account", "list", url=url, tmp_path=tmp_path)
    assert listed.returncode == 0 and listed.stdout.startswith("ann@example.com\t")
    again = run(
        "account", "add", "ann@example.com", "--password", "a-long-password", url=url,
        tmp_path=tmp_path,
    )  # fmt: skip
    assert again.returncode == 1 and "exists already" in again.stderr

    async def mailboxes() -> list[str]:
        store = MongoMailStore(url)
        await store.open()
        try:
            principal = await store.principal_by_login("ANN@example.com")
            assert principal is not None
            (account,) = await store.accounts_for(principal.id)
            _, docs = await store.get(account.id, "Mailbox", None)
            return sorted(d.get("role") or "" for d in docs)
        finally:
            await store.close()

    assert "inbox" in asyncio.run(mailboxes())


def test_shard_commands_name_every_collection_on_hashed_account_id():
    commands = shard_commands("fulmar", ["objects", "mail_email"])
    assert commands == [
        {"enableSharding": "fulmar"},
        {"shardCollection": "fulmar.objects", "key": {"account_id": "hashed"}},
        {"shardCollection": "fulmar.mail_email", "key": {"account_id": "hashed"}},
    ]
    assert as_shell(commands[:1]) == 'db.adminCommand({"enableSharding": "fulmar"})'
