"""Fuzz HTML to text: the tokens must cover the input exactly, the text must be a string."""

from __future__ import annotations

import _harness
import atheris

with atheris.instrument_imports(include=["jmap.message"]):
    from jmap.message.htmltext import html_to_text, tokens


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    with_alt = fdp.ConsumeBool()
    source = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    pos = 0
    for _kind, start, end, _match in tokens(source):
        assert start == pos < end, (start, pos, end)
        pos = end
    assert pos == len(source)
    assert isinstance(html_to_text(source, with_alt=with_alt), str)


if __name__ == "__main__":
    _harness.run("htmltext", one_input)
