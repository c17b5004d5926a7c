"""Mail on disk for ``fulmar import``: Maildirs, mbox files (also gzip/xz), single messages.

``open_inputs`` looks at every path first and refuses, with the reason, anything that is
not mail (a password file, a binary, a folder that is no Maildir), so that an import never
reports "imported 0" for a mistake. Compressed mbox files are unpacked to a temporary file
first (the mbox reader needs to seek), removed when the import ends.
"""

from __future__ import annotations

import gzip
import lzma
import mailbox as mailboxes
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAILDIR_FLAGS = {"S": "$seen", "F": "$flagged", "R": "$answered", "D": "$draft", "P": "$forwarded"}
#: how much of a file is looked at to tell what it is
SNIFF_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
#: a message's header names at least one of these (a ``key: value`` text file does not)
_MESSAGE_FIELDS = {
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"received",
    b"return-path",
    b"mime-version",
    b"content-type",
    b"delivered-to",
    b"sender",
    b"reply-to",
}


class NotMailError(Exception):
    """A path given to import is not mail that Fulmar can read."""


@dataclass
class Source:
    """One message to import, or why it cannot be read."""

    folder: str  # the mailbox path ("Work/Projects"); "" is the default target (the Inbox)
    keywords: dict[str, bool]
    raw: bytes | None
    where: str
    error: str | None = None


@dataclass
class Input:
    """One path to import from, once it is known to be mail."""

    path: Path  # as given
    kind: str  # "maildir", "mbox" or "message"
    target: str  # the mailbox path its messages go to ("" is the default)
    readable: Path  # the file to read: a decompressed copy for .gz / .xz

    def count(self) -> int:
        """How many messages it holds (for a progress bar); reads only the structure."""
        if self.kind == "maildir":
            return sum(1 for _ in _maildir_files(self.path))
        if self.kind == "message":
            return 1
        try:
            return len(mailboxes.mbox(str(self.readable), create=False))
        except (OSError, mailboxes.Error):
            return 1

    def sources(self) -> Iterator[Source]:
        if self.kind == "maildir":
            return _maildir(self.path, self.target)
        if self.kind == "message":
            return iter([_read(self.readable, self.target, {}, str(self.path))])
        return _mbox(self.readable, self.target, str(self.path))


@contextmanager
def open_inputs(paths: list[Path], mailbox: str | None = None) -> Iterator[list[Input]]:
    """The paths as inputs; raises ``NotMailError`` naming every path that is not mail.

    ``mailbox`` (a path like ``Archive/2023``) is where everything goes; without it an mbox
    file goes to the mailbox of its name and a Maildir's top level and single messages to
    the Inbox (a Maildir's folders always go below its target).
    """
    target = "/".join(_parts(mailbox)) if mailbox is not None else None
    with tempfile.TemporaryDirectory(prefix="fulmar-import-") as work:
        inputs, problems = [], []
        for n, path in enumerate(paths):
            try:
                inputs.append(_inspect(path, target, Path(work) / f"{n}.mbox"))
            except NotMailError as exc:
                problems.append(f"{path}: {exc}")
        if problems:
            raise NotMailError("; ".join(problems))
        yield inputs


def _parts(folder: str) -> list[str]:
    return [part for part in folder.split("/") if part.strip()]


def _inspect(path: Path, target: str | None, scratch: Path) -> Input:
    if path.is_dir():
        if not ((path / "cur").is_dir() or (path / "new").is_dir()):
            raise NotMailError("a folder that is not a Maildir (it has no cur/ or new/ inside)")
        return Input(path, "maildir", target or "", path)
    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise NotMailError(f"cannot be read ({exc.strerror})") from None
    name, readable = path.name, path
    for magic, opener, suffix in ((_GZIP_MAGIC, gzip.open, ".gz"), (_XZ_MAGIC, lzma.open, ".xz")):
        if head.startswith(magic):
            head = _unpack(path, opener, scratch)
            name, readable = name.removesuffix(suffix), scratch
    from_line = head.lstrip(b"\r\n").startswith(b"From ")
    if name.lower().endswith(".eml") and (from_line or _looks_like_message(head)):
        return Input(path, "message", target or "", readable)  # an mbox "From " line too
    if not head.strip() or from_line:
        folder = Path(name).stem
        return Input(path, "mbox", target if target is not None else folder, readable)
    if _looks_like_message(head):
        return Input(path, "message", target or "", readable)
    what = "a binary file" if b"\x00" in head else "a file"
    raise NotMailError(f"{what} that is not an mbox file, a Maildir or an email message")


def _unpack(path: Path, opener: type, scratch: Path) -> bytes:
    """Decompress ``path`` into ``scratch``; return the start of what it holds."""
    try:
        with opener(path, "rb") as packed, scratch.open("wb") as out:
            shutil.copyfileobj(packed, out, 1 << 20)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise NotMailError(f"a damaged compressed file ({exc})") from None
    with scratch.open("rb") as handle:
        return handle.read(SNIFF_BYTES)


def _looks_like_message(head: bytes) -> bool:
    """Does ``head`` start with an RFC 5322 header section naming a message field?"""
    block = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    names = set()
    for line in block.splitlines():
        if line[:1] in (b" ", b"\t"):
            continue  # a folded line
        match = _FIELD.match(line)
        if not match:
            return False
        names.add(match.group().rstrip(b" \t:").lower())
    return bool(names & _MESSAGE_FIELDS)


def _maildir_keywords(name: str) -> dict[str, bool]:
    _, _, flags = name.partition(":2,")
    return {MAILDIR_FLAGS[f]: True for f in flags if f in MAILDIR_FLAGS}


def _read(path: Path, folder: str, keywords: dict[str, bool], where: str) -> Source:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Source(folder, keywords, None, where, str(exc))
    if not raw.strip():
        return Source(folder, keywords, None, where, "empty file")
    return Source(folder, keywords, raw, where)


def _maildir(root: Path, target: str) -> Iterator[Source]:
    folders = [(target, root)] + [
        ("/".join(_parts(target) + _parts(p.name[1:].replace(".", "/"))), p)
        for p in sorted(root.iterdir())
        if p.is_dir() and p.name.startswith(".") and (p / "cur").is_dir()
    ]
    for folder, path in folders:
        for sub in ("new", "cur"):
            for file in sorted((path / sub).glob("*")) if (path / sub).is_dir() else ():
                keywords = _maildir_keywords(file.name) if sub == "cur" else {}
                yield _read(file, folder, keywords, str(file))


def _maildir_files(root: Path) -> Iterator[Path]:
    yield from root.glob("**/new/*")
    yield from root.glob("**/cur/*")


def _mbox(path: Path, folder: str, where: str) -> Iterator[Source]:
    try:
        box = mailboxes.mbox(str(path), create=False)
        keys = list(box.keys())
    except (OSError, mailboxes.Error) as exc:
        yield Source(folder, {}, None, where, str(exc))
        return
    for key in keys:
        try:
            raw = box.get_bytes(key)
        except (OSError, mailboxes.Error, KeyError) as exc:
            yield Source(folder, {}, None, f"{where}#{key}", str(exc))
            continue
        yield Source(folder, {}, raw, f"{where}#{key}")
