"""Best-effort RFC 5322 §3.4 address-list parsing into JMAP EmailAddress(Group) objects."""

from __future__ import annotations

import re
from typing import Any

from .rfc2047 import _EW, decode_words, nfc, unfold

_ATOM_STOP = frozenset(' \t\r\n"(),:;<>')
_WS = " \t\r\n"

Token = tuple[str, str]  # (kind, text): kind in 'atom', 'quoted', 'comment', 'angle', ',', ':', ';'


def _tokenize(value: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch in _WS:
            i += 1
        elif ch == '"':
            i += 1
            buf: list[str] = []
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(value[i])
                i += 1
            i += 1
            tokens.append(("quoted", "".join(buf)))
        elif ch == "(":
            depth = 0
            buf = []
            while i < n:
                c = value[i]
                if c == "\\" and i + 1 < n:
                    buf.append(value[i + 1])
                    i += 2
                    continue
                if c == "(":
                    depth += 1
                    if depth > 1:
                        buf.append(c)
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                    buf.append(c)
                else:
                    buf.append(c)
                i += 1
            tokens.append(("comment", "".join(buf)))
        elif ch == "<":
            end = value.find(">", i + 1)
            if end < 0:
                end = n
            tokens.append(("angle", value[i + 1 : end]))
            i = end + 1
        elif ch in ",:;":
            tokens.append((ch, ch))
            i += 1
        elif ch in ">)":  # stray closers: dropped
            i += 1
        else:
            m = _EW.match(value, i) if value.startswith("=?", i) else None
            if m:
                tokens.append(("atom", m.group(0)))
                i = m.end()
                continue
            start = i
            i += 1  # ch itself is not a stop character: every pass consumes one at least
            while i < n and value[i] not in _ATOM_STOP:
                i += 1
            tokens.append(("atom", value[start:i]))
    return tokens


def _phrase_text(words: list[Token]) -> str | None:
    """Join display-name words, decoding encoded words (adjacent ones merge)."""
    pieces: list[str] = []
    run: list[str] = []
    for kind, text in words:
        if kind == "atom":
            run.append(text)
            continue
        if run:
            pieces.append(decode_words(" ".join(run)))
            run = []
        pieces.append(decode_words(text))
    if run:
        pieces.append(decode_words(" ".join(run)))
    name = " ".join(p.strip() for p in pieces if p.strip())
    name = nfc(" ".join(name.split())) if name else ""
    return name or None


_ROUTE = re.compile(r"^@[^:]*:")


def _clean_addr(text: str) -> str:
    addr = "".join(re.sub(r"\([^()]*\)", "", text).split())
    addr = _ROUTE.sub("", addr)
    return nfc(addr.strip('"') if addr.count('"') == 2 and addr.startswith('"') else addr)


class _Builder:
    def __init__(self) -> None:
        self.groups: list[dict[str, Any]] = []
        self.loose: list[dict[str, Any]] = []
        self.group_name: str | None = None
        self.group_addrs: list[dict[str, Any]] | None = None
        self.words: list[Token] = []
        self.angle: str | None = None
        self.comments: list[str] = []

    def finish_mailbox(self) -> None:
        mailbox: dict[str, Any] | None = None
        if self.angle is not None:
            mailbox = {"name": _phrase_text(self.words), "email": _clean_addr(self.angle)}
        elif self.words:
            texts = [t for _k, t in self.words]
            at = [t for k, t in self.words if k == "atom" and "@" in t and t != "@"]
            comment_name = _phrase_text([("quoted", c) for c in self.comments])
            if len(at) == 1 and len(texts) > 1 and not any(t in ("@", ".") for t in texts):
                # "John Smith john@example.com": missing angle brackets
                rest = [w for w in self.words if w[1] != at[0]]
                mailbox = {"name": _phrase_text(rest) or comment_name, "email": _clean_addr(at[0])}
            else:
                email = "".join(texts)
                if "@" not in email and len(texts) > 1:
                    email = " ".join(texts)
                mailbox = {"name": comment_name, "email": nfc(decode_words(email))}
        if mailbox is not None:
            target = self.group_addrs if self.group_addrs is not None else self.loose
            target.append(mailbox)
        self.words = []
        self.angle = None
        self.comments = []

    def flush_loose(self) -> None:
        if self.loose:
            self.groups.append({"name": None, "addresses": self.loose})
            self.loose = []

    def start_group(self) -> None:
        name = _phrase_text(self.words)
        self.words = []
        self.comments = []
        self.flush_loose()
        self.group_name = name
        self.group_addrs = []

    def end_group(self) -> None:
        self.finish_mailbox()
        if self.group_addrs is not None:
            self.groups.append({"name": self.group_name, "addresses": self.group_addrs})
            self.group_addrs = None
            self.group_name = None

    def result(self) -> list[dict[str, Any]]:
        self.finish_mailbox()
        if self.group_addrs is not None:
            self.end_group()
        self.flush_loose()
        return self.groups


def parse_grouped_addresses(value: str) -> list[dict[str, Any]]:
    """Parse an address-list into EmailAddressGroup dicts ``{name, addresses}``.

    Mailboxes outside any group are collected into groups with ``name: None``.  Without a
    display name, a comment (``jdoe@example.com (John Doe)``) is used as the name.
    """
    b = _Builder()
    for kind, text in _tokenize(unfold(value)):
        if kind == ",":
            b.finish_mailbox()
        elif kind == ":":
            if b.angle is None and b.group_addrs is None and b.words:
                b.start_group()
            elif b.angle is None:
                b.words.append(("atom", ":"))
        elif kind == ";":
            if b.group_addrs is not None:
                b.end_group()
            else:
                b.finish_mailbox()
        elif kind == "angle":
            if b.angle is not None:
                b.finish_mailbox()
            b.angle = text
        elif kind == "comment":
            b.comments.append(text)
        elif b.angle is not None and kind == "atom":
            # text after <addr> without a comma: start a new mailbox
            b.finish_mailbox()
            b.words.append((kind, text))
        else:
            b.words.append((kind, text))
    return b.result()


def parse_addresses(value: str) -> list[dict[str, Any]]:
    """Parse an address-list into EmailAddress dicts ``{name, email}`` (groups flattened)."""
    return [addr for group in parse_grouped_addresses(value) for addr in group["addresses"]]
