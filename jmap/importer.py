"""``fulmar import``: mail from disk (see ``mailfiles``) into an account.

Maildir folders become Mailboxes (Maildir++ ``.Work.Projects`` -> ``Work/Projects``); an
mbox file goes to the mailbox of its name (``archive.mbox`` -> the Archive); a Maildir's top
level and single messages go to the Inbox; ``--mailbox`` chooses the target instead. Names
match existing mailboxes case-insensitively, and a top-level name that is a role
(``sent``, ``archive``, ``inbox``…) finds the mailbox with that role. An account with no
Inbox role gets its mail in a top-level mailbox named Inbox (made if missing). Maildir
flags become keywords. Messages already in the account (same content, so the same blob) are
skipped, so an import can be re-run after an interruption without creating duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from methods.email_write import EmailWriter
from methods.mailbox import MailboxType

from .ids import utc_date
from .mailfiles import Input, Source, open_inputs
from .message import parse_message
from .services import rerun_on_conflict
from .store.base import BlobStore, DataStore, NotFoundError, Transaction
from .store.mail import mail_index
from .store.sqlite_mail_query import epoch

BATCH = 500
#: where mail goes in an account whose mailboxes have no Inbox role
INBOX_NAME = "Inbox"


@dataclass
class Report:
    imported: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    #: messages over the size limit, not imported
    too_large: list[str] = field(default_factory=list)


def count(inputs: list[Input]) -> int:
    """How many messages the inputs hold (for a progress bar)."""
    return sum(source.count() for source in inputs)


class _Mailboxes:
    """Finds the Mailbox for a folder path, creating missing ones (and their parents)."""

    def __init__(self, tx: Transaction, existing: list[dict]) -> None:
        self.tx = tx
        self.existing = existing
        self.children: dict[str | None, list[dict]] = {}
        for box in existing:
            self.children.setdefault(box.get("parentId"), []).append(box)
        self.inbox = next((m["id"] for m in existing if m.get("role") == "inbox"), None)

    def _find(self, parent: str | None, name: str) -> str | None:
        """The sibling of that name (exactly, else case-insensitively); for a top-level name
        that is a role (``sent``), the Mailbox with that role wherever it is."""
        siblings = self.children.get(parent, [])
        found = [m for m in siblings if m["name"] == name]
        found = found or [m for m in siblings if m["name"].casefold() == name.casefold()]
        if parent is None:
            found = found or [m for m in self.existing if m.get("role") == name.lower()]
        return found[0]["id"] if found else None

    async def _create(self, parent: str | None, name: str) -> str:
        (new_id,) = await self.tx.new_ids(MailboxType.id_prefix, 1)
        doc = {
            "id": new_id,
            "name": name,
            "parentId": parent,
            "role": None,
            "sortOrder": 10,
            "isSubscribed": True,
        }
        await self.tx.create(MailboxType.name, doc)
        self.children.setdefault(parent, []).append(doc)
        return new_id

    async def id_of(self, folder: str) -> str:
        if not folder and self.inbox:
            return self.inbox
        parent = None
        for name in [p for p in folder.split("/") if p.strip()] or [INBOX_NAME]:
            parent = self._find(parent, name) or await self._create(parent, name)
        assert parent is not None
        return parent


async def _mailbox_ids(tx: Transaction, folders: set[str]) -> dict[str, str]:
    """Mailbox id for every folder path ("" is the Inbox)."""
    boxes = _Mailboxes(tx, await tx.all(MailboxType.name))
    return {folder: await boxes.id_of(folder) for folder in sorted(folders)}


async def _import_batch(
    data: DataStore, blobs: BlobStore, account_id: str, batch: list[Source], report: Report
) -> None:
    mail = mail_index(data)
    stored: list[tuple[Source, str]] = []
    for source in batch:
        assert source.raw is not None
        stored.append((source, await blobs.put(source.raw)))
    present = await mail.emails_with_blobs(account_id, [b for _, b in stored])
    fresh: dict[str, Source] = {}
    for source, blob_id in stored:
        if blob_id in present or blob_id in fresh:
            report.skipped += 1
        else:
            fresh[blob_id] = source
    if not fresh:
        return
    models = {}
    for blob_id, source in fresh.items():
        assert source.raw is not None
        models[blob_id] = parse_message(source.raw)

    async def store() -> None:
        async with data.transaction(account_id) as tx:
            boxes = await _mailbox_ids(tx, {s.folder for s in fresh.values()})
            writer = EmailWriter(tx, mail)
            for blob_id, source in fresh.items():
                model = models[blob_id]
                received = model["receivedAt"] or _sent_utc(model) or utc_date(time.time())
                await writer.create(
                    model, blob_id, {boxes[source.folder]: True}, source.keywords, received, True
                )
            await writer.finish()

    # the server may write to the same account meanwhile: then the batch is stored again
    await rerun_on_conflict(store, {})
    report.imported += len(fresh)


def _sent_utc(model: dict) -> str | None:
    seconds = epoch(model.get("sentAt"))
    return utc_date(seconds) if seconds is not None else None


async def import_inputs(
    data: DataStore,
    blobs: BlobStore,
    address: str,
    inputs: list[Input],
    advance: Callable[[int], None] = lambda n: None,
    max_size: int | None = None,
) -> Report:
    """Import every message of ``inputs`` into ``address``'s personal account; messages
    over ``max_size`` octets are left out and listed in ``Report.too_large``."""
    principal = await data.principal_by_login(address)
    if principal is None:
        raise NotFoundError(f"no account with the address {address}")
    account = next(a for a in await data.accounts_for(principal.id) if a.is_personal)
    report = Report()
    batch: list[Source] = []
    for item in inputs:
        for source in item.sources():
            if source.raw is None:
                report.failed.append(f"{source.where}: {source.error}")
                advance(1)
                continue
            if max_size is not None and len(source.raw) > max_size:
                report.too_large.append(f"{source.where}: {len(source.raw)} octets")
                advance(1)
                continue
            batch.append(source)
            if len(batch) >= BATCH:
                await _import_batch(data, blobs, account.id, batch, report)
                advance(len(batch))
                batch = []
    if batch:
        await _import_batch(data, blobs, account.id, batch, report)
        advance(len(batch))
    return report


async def import_paths(
    data: DataStore,
    blobs: BlobStore,
    address: str,
    paths: list[Path],
    mailbox: str | None = None,
    max_size: int | None = None,
) -> Report:
    """``import_inputs`` for paths (raises ``NotMailError`` if one is not mail)."""
    with open_inputs(paths, mailbox) as inputs:
        return await import_inputs(data, blobs, address, inputs, max_size=max_size)
