"""Byte-level MIME entity tree: header blocks, multipart splitting, part content octets.

The tree keeps offsets into the original buffer, so the raw octets of any part can be
re-read cheaply and exactly (for blob downloads and body values).  Decoding is lazy.
"""

from __future__ import annotations

from functools import cached_property

from .bounds import MAX_DEPTH, MAX_PARTS
from .headers import RawHeader, header_text, split_header_block
from .params import parse_params, valid_media_type
from .transfer import decode_transfer


class Entity:
    """One MIME entity: its raw headers and the span of its body in ``buf``."""

    __slots__ = (
        "__dict__",
        "body_end",
        "body_start",
        "buf",
        "children",
        "depth",
        "headers",
        "in_digest",
        "part_id",
    )

    def __init__(
        self,
        buf: bytes,
        headers: list[RawHeader],
        body_start: int,
        body_end: int,
        depth: int,
        in_digest: bool,
    ) -> None:
        self.buf = buf
        self.headers = headers
        self.body_start = body_start
        self.body_end = body_end
        self.depth = depth
        self.in_digest = in_digest
        self.children: list[Entity] | None = None
        self.part_id: str | None = None

    def header(self, name: str) -> bytes | None:
        """Octets of the last field called ``name`` (case-insensitive), or None."""
        key = name.lower()
        for hname, value in reversed(self.headers):
            if hname.lower() == key:
                return value
        return None

    @cached_property
    def content_type(self) -> tuple[str, dict[str, str], bool]:
        """(effective type, params, header_present).  Malformed types fall back to default."""
        raw = self.header("content-type")
        default = "message/rfc822" if self.in_digest else "text/plain"
        if raw is None:
            return default, {}, False
        main, params = parse_params(header_text(raw))
        if not valid_media_type(main):
            return default, params, True
        return main, params, True

    @property
    def type(self) -> str:
        return self.content_type[0]

    @property
    def is_multipart(self) -> bool:
        return self.children is not None

    @property
    def raw_body(self) -> bytes:
        """The body octets still transfer-encoded."""
        return self.buf[self.body_start : self.body_end]

    @cached_property
    def decoded(self) -> tuple[bytes, bool]:
        """(content octets after Content-Transfer-Encoding decoding, problem flag)."""
        cte = self.header("content-transfer-encoding")
        return decode_transfer(self.raw_body, header_text(cte) if cte is not None else None)

    def walk(self):
        """Depth-first iteration over this entity and all descendants."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            if node.children:
                stack.extend(reversed(node.children))


def _split_multipart(buf: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """Spans of the body parts between ``--boundary`` delimiter lines in ``buf[start:end]``."""
    delim = b"--" + boundary
    dlen = len(delim)
    spans: list[tuple[int, int]] = []
    part_start: int | None = None
    pos = start
    while True:
        idx = buf.find(delim, pos, end)
        if idx < 0:
            break
        if idx != start and buf[idx - 1] != 0x0A:
            pos = idx + 1
            continue
        nl = buf.find(b"\n", idx + dlen, end)
        line_end = end if nl < 0 else nl + 1
        rest = buf[idx + dlen : line_end]
        closing = rest.startswith(b"--")
        if not closing and rest.strip():
            pos = idx + 1  # a longer boundary that merely starts with ours
            continue
        if part_start is not None:
            part_end = idx
            if part_end > part_start and buf[part_end - 1] == 0x0A:
                part_end -= 1
                if part_end > part_start and buf[part_end - 1] == 0x0D:
                    part_end -= 1
            spans.append((part_start, part_end))
        if closing:
            return spans
        part_start = line_end
        pos = line_end
    if part_start is not None:
        spans.append((part_start, end))  # missing close delimiter
    return spans


def _build(
    buf: bytes, start: int, end: int, depth: int, in_digest: bool, budget: list[int]
) -> Entity:
    headers, body_start = split_header_block(buf, start, end)
    ent = Entity(buf, headers, body_start, end, depth, in_digest)
    budget[0] -= 1
    ctype, params, _present = ent.content_type
    if not ctype.startswith("multipart/"):
        return ent
    boundary = params.get("boundary", "")
    spans: list[tuple[int, int]] = []
    if boundary:
        spans = _split_multipart(buf, body_start, end, boundary.encode("utf-8", "surrogateescape"))
    if not spans:
        # No usable boundary: show the body as a plain text leaf rather than losing it.
        ent.__dict__["content_type"] = ("text/plain", {}, True)
        return ent
    ent.children = []
    if depth >= MAX_DEPTH:
        return ent
    digest = ctype == "multipart/digest"
    for s, e in spans:
        if budget[0] <= 0:
            break
        ent.children.append(_build(buf, s, e, depth + 1, digest, budget))
    return ent


def parse_entities(raw: bytes) -> Entity:
    """Parse ``raw`` into an entity tree and assign partIds ("1", "2", ...) to the leaves,
    in depth-first order.  Multipart entities get no partId.  Never raises for bytes input.
    """
    root = _build(raw, 0, len(raw), 0, False, [MAX_PARTS])
    counter = 0
    for ent in root.walk():
        if ent.children is None:
            counter += 1
            ent.part_id = str(counter)
    return root
