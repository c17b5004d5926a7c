"""Email/import, Email/parse and Email/copy (RFC 8621 §4.7-§4.9): Emails from blobs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from jmap.api import Invocation
from jmap.errors import MethodError, RequestError, SetError
from jmap.ids import encode_state, utc_date
from jmap.part_blobs import read_blob, split_blob_id
from jmap.store.base import Account, Document, Transaction
from jmap.store.mail import mail_index
from jmap.workers import BudgetExceeded

from . import email_tasks
from .email_get import PARSE_DEFAULT, BodyOptions, check_properties
from .email_rules import check_email_metadata, check_email_size
from .email_write import CREATED_PROPERTIES, EMAIL, EmailWriter
from .standard import SetResult, check_state, create_each

IMPORT_PROPERTIES = frozenset(("blobId", "mailboxIds", "keywords", "receivedAt"))
COPY_OVERRIDES = frozenset(("mailboxIds", "keywords", "receivedAt"))
PARSE_PROPERTIES = frozenset(
    (
        *PARSE_DEFAULT,
        "id",
        "blobId",
        "threadId",
        "mailboxIds",
        "keywords",
        "size",
        "receivedAt",
        "headers",
        "bodyStructure",
    )
)


async def _message(inv: Invocation, account: Account, blob_id: Any) -> tuple[str, bytes] | None:
    """(stored blob id, octets) of a blob; a part blob is stored as a blob of its own."""
    services = inv.services
    octets = await read_blob(services.data, services.blobs, account.id, blob_id)
    if octets is None:
        return None
    split = split_blob_id(blob_id)
    if split is not None and split[1]:
        blob_id = await services.blobs.put(octets)
    return blob_id, octets


@dataclass
class _Parsed:
    """An import item's message, read and parsed before the transaction opens."""

    blob_id: str = ""
    model: dict[str, Any] | None = None
    #: the blobId names no blob the account can see
    blob_missing: bool = False
    #: why the item cannot be imported, raised after the checks that come first
    error: SetError | None = None


async def parse_in_pool(
    inv: Invocation, octets: bytes, must_look_like_mail: bool = True
) -> dict[str, Any]:
    """The Email model of a message, parsed in the worker pool.

    A blob that is no message at all (``must_look_like_mail``: Email/copy takes what is
    stored already), or one that cannot be parsed within the time budget, is unparsable:
    ``invalidEmail`` (RFC 8621 §4.8), never serverFail, since the same message fails the
    same way every time.
    """
    try:
        model = await inv.services.workers.run(
            inv.principal.id, email_tasks.parse, octets, must_look_like_mail
        )
    except BudgetExceeded:
        raise SetError("invalidEmail", "The message could not be parsed in time.") from None
    if model is None:
        raise SetError("invalidEmail", "The blob is not an RFC 5322 message.")
    return model


async def _parse_item(inv: Invocation, account: Account, item: Any) -> _Parsed:
    if not isinstance(item, dict):
        return _Parsed()  # refused by the checks in the transaction
    try:
        found = await _message(inv, account, item.get("blobId"))
        if found is None:
            return _Parsed(blob_missing=True)
        if set(item) - IMPORT_PROPERTIES:
            return _Parsed()  # refused by the checks in the transaction: no need to parse
        blob_id, octets = found
        check_email_size(inv, len(octets))
        return _Parsed(blob_id, await parse_in_pool(inv, octets))
    except SetError as exc:
        return _Parsed(error=exc)


async def _import_one(
    inv: Invocation, tx: Transaction, writer: EmailWriter, item: dict[str, Any], parsed: _Parsed
) -> dict[str, Any]:
    invalid = sorted(set(item) - IMPORT_PROPERTIES)
    if parsed.blob_missing:
        invalid.append("blobId")
    mailbox_ids, keywords, received_at = await check_email_metadata(
        inv, tx, item, invalid, "Unknown properties, or no such blob." if invalid else None
    )
    if parsed.error is not None:
        raise parsed.error
    assert parsed.model is not None
    model = parsed.model
    received_at = received_at or model["receivedAt"] or utc_date(time.time())
    doc = await writer.create(
        model, parsed.blob_id, mailbox_ids, keywords, received_at, delivered=True
    )
    return {k: doc[k] for k in CREATED_PROPERTIES}


async def email_import(inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
    account = inv.account(args.get("accountId"), write=True)
    emails = args["emails"]
    limit = inv.services.config.limits.max_objects_in_set
    if len(emails) > limit:
        raise MethodError("requestTooLarge", f"At most {limit} Emails per import.")
    # Parsing takes time: done before the transaction, which then holds only the writes.
    parsed = {key: await _parse_item(inv, account, item) for key, item in emails.items()}
    result = SetResult()
    async with inv.services.write(account.id) as tx:
        old = await tx.modseq(EMAIL)
        check_state(args.get("ifInState"), old)
        writer = EmailWriter(tx, mail_index(inv.services.data))
        items = {key: (item, parsed[key]) for key, item in emails.items()}
        await create_each(inv, items, lambda pair: _import_one(inv, tx, writer, *pair), result)
        await writer.finish()
    return {
        "accountId": account.id,
        "oldState": encode_state(old),
        "newState": encode_state(tx.changed_types.get(EMAIL, old)),
        "created": result.created or None,
        "notCreated": result.not_created or None,
    }


async def email_parse(inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
    account = inv.account(args.get("accountId"))
    properties = args.get("properties")
    if properties is not None:
        check_properties(properties, PARSE_PROPERTIES, "property")
    wanted = list(PARSE_DEFAULT if properties is None else properties)
    options = BodyOptions.from_args(args)
    blob_ids = list(dict.fromkeys(args["blobIds"]))
    limit = inv.services.config.limits.max_objects_in_get
    if len(blob_ids) > limit:
        raise MethodError("requestTooLarge", f"At most {limit} blobs per parse.")
    services = inv.services
    parsed: dict[str, Any] = {}
    not_found: list[str] = []
    not_parsable: list[str] = []
    # the response is counted as it is built: past max_size_response it could never be sent,
    # so the next blob is not read (not 500 parsed Emails of 1 MB held first, then refused)
    room = services.config.limits.max_size_response
    for blob_id in blob_ids:
        octets = await read_blob(services.data, services.blobs, account.id, blob_id)
        if octets is None:
            not_found.append(blob_id)
            continue
        try:
            email = await services.workers.run(
                inv.principal.id, email_tasks.parse_email, octets, blob_id, wanted, options
            )
        except BudgetExceeded:
            email = None
        if email is None:  # RFC 8621 §4.9: not a message, or not parsable within the budget
            not_parsable.append(blob_id)
        else:
            parsed[blob_id] = email
            room -= len(blob_id) + len(orjson.dumps(email))
        if room < 0:
            raise RequestError("limit", "The response would be too large.", limit="maxSizeResponse")
    return {
        "accountId": account.id,
        "parsed": parsed or None,
        "notParsable": not_parsable or None,
        "notFound": not_found or None,
    }


class EmailCopier:
    """Copies share the message blob; threads and mailboxes are the target account's."""

    def __init__(self, inv: Invocation, tx: Transaction) -> None:
        self.inv = inv
        self.tx = tx
        self.writer = EmailWriter(tx, mail_index(inv.services.data))

    async def copy(self, source: Document, overrides: dict[str, Any]) -> Document:
        unknown = sorted(set(overrides) - COPY_OVERRIDES)
        metadata = {"keywords": source["keywords"], **overrides}
        # every invalid property at once (RFC 8620 §5.3)
        mailbox_ids, keywords, received_at = await check_email_metadata(
            self.inv,
            self.tx,
            metadata,
            unknown,
            "Only mailboxIds, keywords, receivedAt." if unknown else None,
        )
        received_at = received_at or source["receivedAt"]
        octets = await self.inv.services.blobs.get(source["blobId"])
        if octets is None:
            raise SetError("notFound", "The message is gone from the blob store.")
        model = await parse_in_pool(self.inv, octets, must_look_like_mail=False)
        return await self.writer.create(model, source["blobId"], mailbox_ids, keywords, received_at)

    async def finish(self) -> None:
        await self.writer.finish()
