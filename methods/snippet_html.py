"""SearchSnippet text (RFC 8621 §5.1): a marked snippet from the mail index turned into
HTML-escaped text with ``<mark>`` elements, cut to an octet budget.

The marked text is first split into plain pieces, each marked or not; the budget is then
spent on the pieces in order and the marks are added around what was kept. Every loop runs
over the pieces or over the characters of one piece and stops at its end, so the work is
linear in the text and always terminates (a cut can never land inside a ``</mark>``).
"""

from __future__ import annotations

import html
import re

from jmap.store.mail import MARK_END, MARK_START

OPEN, CLOSE = "<mark>", "</mark>"
ELLIPSIS = "…"
#: characters kept before the first match when the text before it does not fit
CONTEXT_CHARS = 20

Piece = tuple[str, bool]
_MARKERS = re.compile(f"([{MARK_START}{MARK_END}])")


def unmark(text: str) -> list[Piece]:
    """The text as alternating (plain text, is marked) pieces, none empty.

    A start inside a mark or an end outside one is dropped, so the marks always pair up.
    """
    pieces: list[Piece] = []
    run: list[str] = []
    run_marked = marked = False
    for part in _MARKERS.split(text):
        if part == MARK_START:
            marked = True
        elif part == MARK_END:
            marked = False
        elif part:
            if run and marked != run_marked:
                pieces.append(("".join(run), run_marked))
                run = []
            run_marked = marked
            run.append(part)
    if run:
        pieces.append(("".join(run), run_marked))
    return pieces


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _size(text: str) -> int:
    return len(_escape(text).encode())


def _head(text: str, octets: int) -> str:
    """The longest start of ``text`` whose escaped UTF-8 form fits in ``octets``."""
    used = 0
    for end, char in enumerate(text):
        used += _size(char)
        if used > octets:
            return text[:end]
    return text


def _render(pieces: list[Piece]) -> str:
    return "".join(OPEN + _escape(t) + CLOSE if marked else _escape(t) for t, marked in pieces)


def _fit(pieces: list[Piece], octets: int) -> tuple[list[Piece], bool]:
    """The pieces cut to render in ``octets``; True when nothing had to be cut."""
    kept: list[Piece] = []
    for text, marked in pieces:
        room = octets - (len(OPEN) + len(CLOSE) if marked else 0)
        size = _size(text)
        if size <= room:
            kept.append((text, marked))
            octets -= size + (len(OPEN) + len(CLOSE) if marked else 0)
            continue
        head = _head(text, room) if room > 0 else ""
        if head:
            kept.append((head, marked))
        return kept, False
    return kept, True


def _skip_to_first_match(pieces: list[Piece], octets: int) -> list[Piece]:
    """Shorten a leading unmarked piece that would push the first match out of the budget
    to its last few words."""
    if len(pieces) < 2 or pieces[0][1] or len(pieces[0][0]) <= CONTEXT_CHARS:
        return pieces
    lead, (match, _) = pieces[0][0], pieces[1]
    needed = _size(lead) + len(OPEN) + _size(match[:1]) + len(CLOSE) + _size(ELLIPSIS)
    if needed <= octets:
        return pieces
    context = lead[-CONTEXT_CHARS:]
    if " " in context[:-1]:
        context = context.split(" ", 1)[1]
    return [(ELLIPSIS + context, False), *pieces[1:]]


def highlight(text: str | None, max_octets: int | None = None) -> str | None:
    """HTML for a marked snippet text, at most ``max_octets`` octets of UTF-8 when given.

    A cut text ends with an ellipsis; when the first match would fall past the budget, the
    text before it is shortened to a little context.
    """
    if text is None:
        return None
    pieces = unmark(text)
    if max_octets is None:
        return _render(pieces)
    pieces = _skip_to_first_match(pieces, max_octets)
    kept, whole = _fit(pieces, max_octets)
    if whole:
        return _render(kept)
    tail = ELLIPSIS if _size(ELLIPSIS) <= max_octets else ""
    kept, _ = _fit(pieces, max_octets - _size(tail))
    return _render(kept) + tail
