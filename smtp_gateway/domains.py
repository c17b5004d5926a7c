"""Server-wide mail routing records: local domains (with their catch-all) and aliases.

They are documents of the reserved account ``SERVER_ACCOUNT`` (so every data backend holds
them with no interface of its own), in this schema, which other parts read too:

- ``Domain``: ``{"id": "<lower-case ASCII domain>", "catchAll": "<address>" | null}``
- ``Alias``: ``{"id": "<lower-case alias address>", "target": "<address>"}``

Every account's login domain is local without a ``Domain`` record.
"""

from __future__ import annotations

from jmap.store.base import SERVER_ACCOUNT, DataStore, Document, NotFoundError

from .addresses import ascii_domain, normal_address

DOMAIN, ALIAS = "Domain", "Alias"


class RoutingError(ValueError):
    """An operator's request about domains or aliases cannot be carried out."""


async def domains(data: DataStore) -> list[Document]:
    _, docs = await data.get(SERVER_ACCOUNT, DOMAIN, None)
    return sorted(docs, key=lambda d: d["id"])


async def aliases(data: DataStore) -> list[Document]:
    _, docs = await data.get(SERVER_ACCOUNT, ALIAS, None)
    return sorted(docs, key=lambda d: d["id"])


async def add_domain(data: DataStore, domain: str, catch_all: str | None = None) -> Document:
    doc = {"id": ascii_domain(domain), "catchAll": _address(catch_all)}
    async with data.transaction(SERVER_ACCOUNT) as tx:
        if (await tx.get(DOMAIN, [doc["id"]])).get(doc["id"]):
            raise RoutingError(f"{doc['id']} is a local domain already")
        await tx.create(DOMAIN, doc)
    return doc


async def set_catch_all(data: DataStore, domain: str, catch_all: str | None) -> Document:
    name = ascii_domain(domain)
    async with data.transaction(SERVER_ACCOUNT) as tx:
        doc = (await tx.get(DOMAIN, [name])).get(name)
        if doc is None:
            raise NotFoundError(f"{name} is not a domain added with `fulmar domain add`")
        doc = {**doc, "catchAll": _address(catch_all)}
        await tx.update(DOMAIN, doc, {"catchAll"})
    return doc


async def remove_domain(data: DataStore, domain: str) -> None:
    name = ascii_domain(domain)
    async with data.transaction(SERVER_ACCOUNT) as tx:
        if not (await tx.get(DOMAIN, [name])).get(name):
            raise NotFoundError(f"{name} is not a domain added with `fulmar domain add`")
        await tx.destroy(DOMAIN, name)


async def add_alias(data: DataStore, alias: str, target: str) -> Document:
    doc = {"id": normal_address(alias), "target": normal_address(target)}
    if doc["id"] == doc["target"]:
        raise RoutingError("an alias cannot point at itself")
    async with data.transaction(SERVER_ACCOUNT) as tx:
        if (await tx.get(ALIAS, [doc["id"]])).get(doc["id"]):
            raise RoutingError(f"{doc['id']} is an alias already")
        await tx.create(ALIAS, doc)
    return doc


async def remove_alias(data: DataStore, alias: str) -> None:
    name = normal_address(alias)
    async with data.transaction(SERVER_ACCOUNT) as tx:
        if not (await tx.get(ALIAS, [name])).get(name):
            raise NotFoundError(f"no alias {name}")
        await tx.destroy(ALIAS, name)


def _address(address: str | None) -> str | None:
    return None if address is None else normal_address(address)
