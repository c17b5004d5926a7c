"""HTML to plain text conversion for previews and indexing.

The tokenizer is one left-to-right pass: every token is found by a single anchored match
(possessive quantifiers, so no backtracking) or one ``str.find``, and starts where the
previous one ended, so the work is linear in the document.  (``html.parser`` rescans the
rest of the document at every ``<`` of an unterminated tag: quadratic.)  It follows the
WHATWG tokenizer where it matters for the text: a tag runs to the first ``>`` outside a
quoted attribute value, an unterminated tag or comment swallows the rest of the input,
``<`` not followed by a letter, ``/`` or ``!`` is text, and script/style/textarea/title
contents are raw text up to their end tag.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

_BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    ]
)
_SKIP = frozenset(("script", "style", "head", "title", "template", "noscript", "svg"))
_RAW_TEXT = frozenset(("script", "style", "textarea", "title", "xmp", "iframe", "noembed"))

# A start or end tag: name, then attributes up to the first '>' outside a quoted value
# (an unterminated value or tag runs to the end of the input).
_TAG = re.compile(
    r"<(/?)([a-zA-Z][^\s/>]*+)((?:[^>\"'=]++|=\s*+(?:\"[^\"]*+\"?|'[^']*+'?)?|[\"'])*+)>?"
)
_ATTR = re.compile(r"([^\s/>=]++)(?:\s*+=\s*+(?:\"([^\"]*+)\"?|'([^']*+)'?|([^\s>]++)))?")
_MARKUP = re.compile(r"<[a-zA-Z/!?]")
_RCDATA = frozenset(("textarea", "title"))  # raw text in which character references count


def tokens(source: str) -> Iterator[tuple[str, int, int, re.Match[str] | None]]:
    """(kind, start, end, tag match) for consecutive spans that cover ``source`` exactly.

    Kinds: ``text``, ``start`` and ``end`` tags (with their match), ``raw`` and ``rcdata``
    text of a script-like element, ``other`` (comments, doctypes, processing instructions).
    """
    pos = 0
    n = len(source)
    while pos < n:
        m = _TAG.match(source, pos) if source[pos] == "<" else None
        if m is not None:
            yield ("end" if m.group(1) else "start"), pos, m.end(), m
            pos = m.end()
            name = m.group(2).lower()
            if not m.group(1) and name in _RAW_TEXT and pos < n:
                close = re.compile(rf"</{re.escape(name)}[\s/>]", re.I).search(source, pos)
                stop = close.start() if close is not None else n
                if stop > pos:
                    yield ("rcdata" if name in _RCDATA else "raw"), pos, stop, None
                pos = stop
            continue
        if source.startswith("<!--", pos):
            close_at = source.find("-->", pos + 4)
            end = n if close_at < 0 else close_at + 3
            yield "other", pos, end, None
        elif source.startswith(("<!", "<?", "</"), pos):  # bogus comment, doctype, "</3"
            close_at = source.find(">", pos + 2)
            end = n if close_at < 0 else close_at + 1
            yield "other", pos, end, None
        else:  # text, up to the next '<' that starts markup (a lone '<' is text)
            markup = _MARKUP.search(source, pos + 1)
            end = n if markup is None else markup.start()
            yield "text", pos, end, None
        pos = end


def _alt_text(attrs: str) -> list[str]:
    out = []
    for m in _ATTR.finditer(attrs):
        if m.group(1).lower() in ("alt", "title"):
            value = m.group(2) or m.group(3) or m.group(4)
            if value:
                out.append(" " + html.unescape(value) + " ")
    return out


_BLANKS = re.compile(r"[ \t\r\f\v\u00a0]+")
_LINES = re.compile(r"\n\s*\n\s*")


def html_to_text(source: str, with_alt: bool = False) -> str:
    """Visible text of an HTML document: tags, scripts and styles dropped, entities decoded.

    Block elements become line breaks; runs of blanks collapse.  With ``with_alt`` the
    ``alt``/``title`` of images are included (for search).  Never raises.
    """
    out: list[str] = []
    skip = 0
    for kind, start, end, m in tokens(source):
        if kind in ("text", "rcdata"):
            if not skip:
                out.append(html.unescape(source[start:end]))
        elif kind == "raw":
            if not skip:
                out.append(source[start:end])
        elif m is not None:
            name = m.group(2).lower()
            if name in _SKIP:
                if kind == "start" and not m.group(3).rstrip().endswith("/"):
                    skip += 1
                elif kind == "end":
                    skip = max(0, skip - 1)
            elif skip:
                continue
            elif name in _BLOCK:
                out.append("\n")
            elif with_alt and kind == "start" and name == "img":
                out.extend(_alt_text(m.group(3)))
    text = _BLANKS.sub(" ", "".join(out))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _LINES.sub("\n\n", text).strip()
