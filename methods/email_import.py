"""Email/import, Email/parse and Email/copy (RFC 8621 §4.7-§4.9): Emails from blobs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from jmap.api import Invocation, Response
from jmap.errors import MethodError, SetError, invalid_properties
from jmap.ids import encode_state, utc_date
from jmap.message import parse_message
from jmap.part_blobs import read_blob, split_blob_id
from jmap.store.base import Account, Transaction
from jmap.store.mail import mail_index

from .email_get import PARSE_DEFAULT, BodyOptions, check_properties, render_email
from .email_rules import check_keywords, check_mailboxes, check_received_at
from .email_write import EMAIL, EmailWriter
from .standard import SetResult, check_state, copy_accounts, copy_response

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


async def _import_one(
    inv: Invocation, account: Account, tx: Transaction, writer: EmailWriter, item: dict[str, Any]
) -> dict[str, Any]:
    unknown = sorted(set(item) - IMPORT_PROPERTIES)
    if unknown:
        raise invalid_properties(unknown, "Unknown EmailImport properties.")
    mailbox_ids = await check_mailboxes(inv, tx, item.get("mailboxIds"))
    keywords = check_keywords(item.get("keywords", {}))
    received_at = check_received_at(item.get("receivedAt"))
    found = await _message(inv, account, item.get("blobId"))
    if found is None:
        raise invalid_properties(["blobId"], "No such blob.")
    blob_id, octets = found
    model = parse_message(octets)
    received_at = received_at or model["receivedAt"] or utc_date(time.time())
    doc = await writer.create(model, blob_id, mailbox_ids, keywords, received_at, delivered=True)
    return {k: doc[k] for k in ("id", "blobId", "threadId", "size")}


async def email_import(inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
    account = inv.account(args.get("accountId"), write=True)
    emails = args["emails"]
    limit = inv.services.config.limits.max_objects_in_set
    if len(emails) > limit:
        raise MethodError("requestTooLarge", f"At most {limit} Emails per import.")
    result = SetResult()
    async with inv.services.write(account.id) as tx:
        old = await tx.modseq(EMAIL)
        check_state(args.get("ifInState"), old)
        writer = EmailWriter(tx, mail_index(inv.services.data))
        for creation_id, item in emails.items():
            try:
                result.created[creation_id] = await _import_one(inv, account, tx, writer, item)
            except SetError as exc:
                result.not_created[creation_id] = exc.as_dict()
                continue
            inv.created_ids[creation_id] = result.created[creation_id]["id"]
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
    for blob_id in blob_ids:
        octets = await read_blob(services.data, services.blobs, account.id, blob_id)
        if octets is None:
            not_found.append(blob_id)
            continue
        model = {
            **parse_message(octets),
            "id": None,
            "blobId": blob_id,
            "threadId": None,
            "mailboxIds": None,
            "keywords": None,
            "receivedAt": None,
        }
        parsed[blob_id] = render_email(model, wanted, options, octets)
    return {
        "accountId": account.id,
        "parsed": parsed or None,
        "notParsable": None,
        "notFound": not_found or None,
    }


SetMethod = Callable[[Invocation, dict[str, Any]], Awaitable[dict[str, Any]]]


async def email_copy(inv: Invocation, args: dict[str, Any], email_set: SetMethod) -> list[Response]:
    """Copy Emails between accounts: the message blob is shared, threads are the target's."""
    from_account, account = copy_accounts(inv, args)
    create = args["create"]
    limit = inv.services.config.limits.max_objects_in_set
    if len(create) > limit:
        raise MethodError("requestTooLarge", f"At most {limit} copies per /copy.")
    data, blobs = inv.services.data, inv.services.blobs
    from_modseq, sources = await data.get(
        from_account.id, EMAIL, [o.get("id") for o in create.values()]
    )
    check_state(args.get("ifFromInState"), from_modseq)
    by_id = {d["id"]: d for d in sources}
    result = SetResult()
    async with inv.services.write(account.id) as tx:
        old = await tx.modseq(EMAIL)
        check_state(args.get("ifInState"), old)
        writer = EmailWriter(tx, mail_index(data))
        for creation_id, obj in create.items():
            try:
                source = by_id.get(obj.get("id"))
                if source is None:
                    raise SetError("notFound", "No such Email in the source account.")
                unknown = sorted(set(obj) - COPY_OVERRIDES - {"id"})
                if unknown:
                    raise invalid_properties(unknown, "Only mailboxIds, keywords, receivedAt.")
                mailbox_ids = await check_mailboxes(inv, tx, obj.get("mailboxIds"))
                keywords = check_keywords(obj.get("keywords", source["keywords"]))
                received_at = check_received_at(obj.get("receivedAt")) or source["receivedAt"]
                octets = await blobs.get(source["blobId"])
                if octets is None:
                    raise SetError("notFound", "The message is gone from the blob store.")
                doc = await writer.create(
                    parse_message(octets), source["blobId"], mailbox_ids, keywords, received_at
                )
            except SetError as exc:
                result.not_created[creation_id] = exc.as_dict()
                continue
            inv.created_ids[creation_id] = doc["id"]
            result.created[creation_id] = {k: doc[k] for k in ("id", "blobId", "threadId", "size")}
        await writer.finish()
    new = tx.changed_types.get(EMAIL, old)
    responses: list[Response] = [(inv.name, copy_response(from_account, account, old, new, result))]
    if args.get("onSuccessDestroyOriginal") and result.created:
        set_args = {
            "accountId": from_account.id,
            "destroy": [create[c]["id"] for c in result.created],
            "ifInState": args.get("destroyFromIfInState"),
        }
        try:
            responses.append(("Email/set", await email_set(inv, set_args)))
        except MethodError as exc:
            responses.append(("error", exc.arguments()))
    return responses
