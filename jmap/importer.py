"""``fulmar import``: mbox files and Maildirs into an account.

Maildir folders become Mailboxes (Maildir++ ``.Work.Projects`` -> ``Work/Projects``), the
top level and an mbox named ``inbox`` go to the Inbox, and Maildir flags become keywords.
Messages already in the account (same content, so the same blob) are skipped, so an
import can be re-run after an interruption without creating duplicates.
"""

from __future__ import annotations

import mailbox as mailboxes
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from methods.email_write import EmailWriter
from methods.mailbox import MailboxType

from .ids import utc_date
from .message import parse_message
from .services import rerun_on_conflict
from .store.base import BlobStore, DataStore, NotFoundError, Transaction
from .store.mail import mail_index
from .store.sqlite_mail_query import epoch

BATCH = 500
MAILDIR_FLAGS = {"S": "$seen", "F": "$flagged", "R": "$answered", "D": "$draft", "P": "$forwarded"}


@dataclass
class Source:
    """One message to import, or why it cannot be read."""

    folder: str  # "" is the Inbox
    keywords: dict[str, bool]
    raw: bytes | None
    where: str
    error: str | None = None


@dataclass
class Report:
    imported: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    #: messages over the size limit, not imported
    too_large: list[str] = field(default_factory=list)


def _maildir_keywords(name: str) -> dict[str, bool]:
    _, _, flags = name.partition(":2,")
    return {MAILDIR_FLAGS[f]: True for f in flags if f in MAILDIR_FLAGS}


def _read(path: Path, folder: str, keywords: dict[str, bool]) -> Source:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Source(folder, keywords, None, str(path), str(exc))
    if not raw.strip():
        return Source(folder, keywords, None, str(path), "empty file")
    return Source(folder, keywords, raw, str(path))


def _maildir(root: Path) -> Iterator[Source]:
    folders = [("", root)] + [
        (p.name[1:].replace(".", "/"), p)
        for p in sorted(root.iterdir())
        if p.is_dir() and p.name.startswith(".") and (p / "cur").is_dir()
    ]
    for folder, path in folders:
        for sub in ("new", "cur"):
            for file in sorted((path / sub).glob("*")) if (path / sub).is_dir() else ():
                keywords = _maildir_keywords(file.name) if sub == "cur" else {}
                yield _read(file, folder, keywords)


def _mbox(path: Path) -> Iterator[Source]:
    folder = "" if path.stem.lower() == "inbox" else path.stem
    try:
        box = mailboxes.mbox(str(path), create=False)
        keys = list(box.keys())
    except (OSError, mailboxes.Error) as exc:
        yield Source(folder, {}, None, str(path), str(exc))
        return
    for key in keys:
        try:
            raw = box.get_bytes(key)
        except (OSError, mailboxes.Error, KeyError) as exc:
            yield Source(folder, {}, None, f"{path}#{key}", str(exc))
            continue
        yield Source(folder, {}, raw, f"{path}#{key}")


def sources(path: Path) -> Iterator[Source]:
    """The messages of an mbox file or a Maildir."""
    return _maildir(path) if path.is_dir() else _mbox(path)


def count(paths: list[Path]) -> int:
    """How many messages the paths hold (for a progress bar); reads only the structure."""
    total = 0
    for path in paths:
        if path.is_dir():
            total += sum(1 for _ in _maildir_files(path))
        else:
            try:
                total += len(mailboxes.mbox(str(path), create=False))
            except (OSError, mailboxes.Error):
                total += 1
    return total


def _maildir_files(root: Path) -> Iterator[Path]:
    for sub in root.glob("**/new/*"):
        yield sub
    for sub in root.glob("**/cur/*"):
        yield sub


async def _mailbox_ids(tx: Transaction, folders: set[str]) -> dict[str, str]:
    """Mailbox id for every folder path, creating missing Mailboxes (and their parents)."""
    existing = await tx.all(MailboxType.name)
    by_id = {m["id"]: m for m in existing}

    def path_of(box: dict) -> str:
        names = []
        while box is not None:
            names.append(box["name"])
            box = by_id.get(box.get("parentId"))
        return "/".join(reversed(names))

    ids = {path_of(m): m["id"] for m in existing}
    ids[""] = next(m["id"] for m in existing if m.get("role") == "inbox")
    for folder in sorted(folders):
        parent = None
        parts = folder.split("/")
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            if path not in ids:
                (new_id,) = await tx.new_ids(MailboxType.id_prefix, 1)
                doc = {
                    "id": new_id,
                    "name": parts[depth - 1],
                    "parentId": parent,
                    "role": None,
                    "sortOrder": 10,
                    "isSubscribed": True,
                }
                await tx.create(MailboxType.name, doc)
                by_id[new_id] = doc
                ids[path] = new_id
            parent = ids[path]
    return ids


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


async def import_paths(
    data: DataStore,
    blobs: BlobStore,
    address: str,
    paths: list[Path],
    advance: Callable[[int], None] = lambda n: None,
    max_size: int | None = None,
) -> Report:
    """Import every message under ``paths`` into ``address``'s personal account; messages
    over ``max_size`` octets are left out and listed in ``Report.too_large``."""
    principal = await data.principal_by_login(address)
    if principal is None:
        raise NotFoundError(f"no account with the address {address}")
    account = next(a for a in await data.accounts_for(principal.id) if a.is_personal)
    report = Report()
    batch: list[Source] = []
    for path in paths:
        for source in sources(path):
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
