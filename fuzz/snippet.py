"""Fuzz the SearchSnippet highlighter (methods/snippet_html.py, RFC 8621 §5): HTML-escaped
text with ``<mark>`` around the match markers, cut to at most ``max_octets`` UTF-8 octets."""

from __future__ import annotations

import _harness
import atheris

with atheris.instrument_imports(include=["methods.snippet_html"]):
    from jmap.store.mail import MARK_END, MARK_START
    from methods.snippet_html import highlight

ALPHABET = ["<", ">", "&", '"', "a", " ", "é", "😀", MARK_START, MARK_END]


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    limit = fdp.ConsumeIntInRange(0, 300) if fdp.ConsumeBool() else None
    pieces = [ALPHABET[b % len(ALPHABET)] for b in fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400))]
    text = "".join(pieces) + fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    assert isinstance(highlight(text, limit), str)


if __name__ == "__main__":
    _harness.run("snippet", one_input)
