"""Email/set (RFC 8621 §4.6): create from JMAP properties, keyword and mailbox patches,
destroy. Only ``mailboxIds`` and ``keywords`` of an existing Email can change."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from jmap.api import Invocation
from jmap.errors import SetError, invalid_properties
from jmap.ids import encode_state, is_id, utc_date
from jmap.part_blobs import read_blob
from jmap.store.base import Account, Document, Transaction
from jmap.store.mail import mail_index
from jmap.workers import BudgetExceeded

from . import email_tasks
from .email_rules import check_email_metadata, check_email_size, check_keywords, check_mailboxes
from .email_write import CREATED_PROPERTIES, EMAIL, EmailWriter
from .patch import apply_patch
from .standard import SetResult, check_state, create_each, set_operations

MUTABLE = frozenset(("mailboxIds", "keywords"))


def _blob_ids(value: Any) -> Iterator[str]:
    """Every ``blobId`` named anywhere in an Email create object."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "blobId" and isinstance(item, str):
                yield item
            else:
                yield from _blob_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _blob_ids(item)


async def _create(
    inv: Invocation, account: Account, tx: Transaction, writer: EmailWriter, obj: dict[str, Any]
) -> dict[str, Any]:
    services = inv.services
    blobs: dict[str, bytes | None] = {}
    for blob_id in set(_blob_ids({k: v for k, v in obj.items() if k not in MUTABLE})):
        blobs[blob_id] = await read_blob(services.data, services.blobs, account.id, blob_id)
    attached = sum(len(b) for b in blobs.values() if b)
    if attached > services.config.limits.max_size_attachments_per_email:
        raise SetError("tooLarge", "The attachments are too large.")
    raw, invalid, why, not_found = b"", [], None, None
    try:
        outcome, built, model = await services.workers.run(
            inv.principal.id, email_tasks.build_email, obj, blobs, _domain(inv)
        )
    except BudgetExceeded:
        raise SetError("invalidEmail", "The message could not be built in time.") from None
    if outcome == "blobNotFound":
        not_found = built
    elif outcome == "invalid":
        invalid, why = built, model
    else:
        raw = built
    # every invalid property at once, the message's and the metadata's (RFC 8620 §5.3)
    mailbox_ids, keywords, received_at = await check_email_metadata(inv, tx, obj, invalid, why)
    if not_found is not None:
        raise SetError("blobNotFound", "Unknown blobs.", notFound=not_found)
    check_email_size(inv, len(raw))
    blob_id = await services.blobs.put(raw)
    doc = await writer.create(
        model, blob_id, mailbox_ids, keywords, received_at or utc_date(time.time())
    )
    return {k: doc[k] for k in CREATED_PROPERTIES}


def _domain(inv: Invocation) -> str:
    login = inv.principal.login
    return login.rpartition("@")[2] or "localhost"


def _normalise_patch(inv: Invocation, patch: dict[str, Any]) -> dict[str, Any]:
    """Keyword paths lower-cased, ``mailboxIds/#creationId`` paths resolved."""
    out: dict[str, Any] = {}
    for path, value in patch.items():
        head, sep, rest = path.partition("/")
        if sep and head == "keywords":
            path = f"keywords/{rest.lower()}"
        elif sep and head == "mailboxIds" and rest.startswith("#"):
            resolved = inv.resolve_creation_id(rest)
            if resolved is None:
                raise invalid_properties(["mailboxIds"], f"Unknown creation id {rest!r}.")
            path = f"mailboxIds/{resolved}"
        if sep and head in MUTABLE and value not in (True, None):
            raise invalid_properties([head], f"{path} may only be set to true or null.")
        out[path] = value
    return out


async def _update(
    inv: Invocation, tx: Transaction, writer: EmailWriter, current: Document, patch: dict
) -> None:
    shown = {k: current[k] for k in MUTABLE}
    patched, touched = apply_patch(shown, _normalise_patch(inv, patch))
    immutable = sorted(p for p in touched - MUTABLE if "/" in p or patch.get(p) != current.get(p))
    if immutable:
        raise invalid_properties(immutable, "Only mailboxIds and keywords can change.")
    new = {**current}
    changed: set[str] = set()
    if "keywords" in touched:
        new["keywords"] = check_keywords(patched.get("keywords") or {})
        if new["keywords"] != current["keywords"]:
            changed.add("keywords")
    if "mailboxIds" in touched:
        new["mailboxIds"] = await check_mailboxes(inv, tx, patched.get("mailboxIds"))
        if new["mailboxIds"] != current["mailboxIds"]:
            changed.add("mailboxIds")
    if changed:
        await writer.update(current, new, changed)


async def _current(tx: Transaction, email_id: str | None) -> Document | None:
    if not is_id(email_id):
        return None
    return (await tx.get(EMAIL, [email_id])).get(email_id)


async def email_set(inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
    account = inv.account(args.get("accountId"), write=True)
    create, update, destroy = set_operations(inv, args)
    result = SetResult()
    async with inv.services.write(account.id) as tx:
        old = await tx.modseq(EMAIL)
        check_state(args.get("ifInState"), old)
        writer = EmailWriter(tx, mail_index(inv.services.data))
        destroying = {inv.resolve_creation_id(d) for d in destroy}
        await create_each(inv, create, lambda obj: _create(inv, account, tx, writer, obj), result)
        for key, patch in update.items():
            email_id = inv.resolve_creation_id(key)
            try:
                if email_id in destroying:
                    raise SetError("willDestroy")
                current = await _current(tx, email_id)
                if current is None:
                    raise SetError("notFound")
                await _update(inv, tx, writer, current, patch)
            except SetError as exc:
                result.not_updated[key] = exc.as_dict()
                continue
            result.updated[key] = None
        for key in destroy:
            email_id = inv.resolve_creation_id(key)
            current = await _current(tx, email_id)
            if current is None:
                result.not_destroyed[key] = SetError("notFound").as_dict()
                continue
            await writer.destroy(current)
            result.destroyed.append(email_id)
        await writer.finish()
    new = tx.changed_types.get(EMAIL, old)
    return {
        "accountId": account.id,
        "oldState": encode_state(old),
        "newState": encode_state(new),
        **result.as_response(),
    }
