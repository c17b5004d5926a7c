"""Fuzz the header decoders: every parsed form of RFC 8621 §4.1.2, encoded words (RFC 2047),
parameters (RFC 2045/2231), the base subject (RFC 5256) and the raw header block splitter.

The form functions are called directly: ``parse_form`` catches everything, which would hide
a defect.
"""

from __future__ import annotations

import _harness
import atheris

with atheris.instrument_imports(include=["jmap.message"]):
    import orjson

    from jmap.message import base_subject
    from jmap.message.headers import (
        as_addresses,
        as_date,
        as_grouped_addresses,
        as_message_ids,
        as_text,
        as_urls,
        raw_form,
        split_header_block,
    )
    from jmap.message.params import parse_params
    from jmap.message.rfc2047 import decode_words

HINTS = [None, "utf-8", "iso-8859-1", "shift_jis", "iso-2022-jp", "gb2312", "koi8-r", "bogus"]
FORMS = [as_text, as_addresses, as_grouped_addresses, as_message_ids, as_date, as_urls]


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    hint = HINTS[fdp.ConsumeIntInRange(0, len(HINTS) - 1)]
    value = fdp.ConsumeBytes(fdp.remaining_bytes())
    results = [raw_form(value)] + [form(value, hint) for form in FORMS]
    orjson.dumps(results)
    text = results[1]
    assert isinstance(base_subject(text), str)
    assert isinstance(decode_words(value.decode("utf-8", "replace")), str)
    main, params = parse_params(value.decode("latin-1"))
    orjson.dumps([main, params])
    headers, body_start = split_header_block(value)
    assert 0 <= body_start <= len(value)
    for _name, raw in headers:
        assert raw in value


if __name__ == "__main__":
    _harness.run("headers", one_input)
