"""HTML to plain text conversion for previews and indexing."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

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


class _Extractor(HTMLParser):
    def __init__(self, with_alt: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0
        self.with_alt = with_alt

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.out.append("\n")
        elif self.with_alt and tag == "img":
            for key, value in attrs:
                if key in ("alt", "title") and value:
                    self.out.append(" " + value + " ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


_TAG = re.compile(r"<[^>]*>?")
_BLANKS = re.compile(r"[ \t\r\f\v\u00a0]+")
_LINES = re.compile(r"\n\s*\n\s*")


def html_to_text(source: str, with_alt: bool = False) -> str:
    """Visible text of an HTML document: tags, scripts and styles dropped, entities decoded.

    Block elements become line breaks; runs of blanks collapse.  With ``with_alt`` the
    ``alt``/``title`` of images are included (for search).  Never raises.
    """
    try:
        parser = _Extractor(with_alt)
        parser.feed(source)
        parser.close()
        text = "".join(parser.out)
    except Exception:
        text = html.unescape(_TAG.sub(" ", source))
    text = _BLANKS.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _LINES.sub("\n\n", text).strip()
