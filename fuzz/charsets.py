"""Fuzz the charset and transfer decoders: decode_text for every label of the WHATWG table
(and junk labels), the ISO-2022-JP and EUC-JP decoders, base64, quoted-printable, uuencode.

Documented exceptions: only the strict Japanese decoders may raise UnicodeDecodeError.
"""

from __future__ import annotations

import _harness
import atheris

with atheris.instrument_imports(include=["jmap.message", "webencodings"]):
    import webencodings.labels

    from jmap.message.charsets import decode_header_bytes, decode_text
    from jmap.message.japanese import decode_eucjp, decode_iso2022jp
    from jmap.message.transfer import decode_transfer

LABELS = [*sorted(webencodings.labels.LABELS), "us-ascii", "utf-7", "punycode", "", "x-junk"]
CTES = ["base64", "quoted-printable", "x-uuencode", "7bit", "8bit", "binary", "bogus"]


def _japanese(decoder, data: bytes) -> None:
    text = decoder(data, "replace")
    assert isinstance(text, str)
    try:
        strict = decoder(data)
    except UnicodeDecodeError:
        assert "\ufffd" in text
    else:
        assert strict == text


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    label = LABELS[fdp.ConsumeIntInRange(0, len(LABELS) - 1)]
    cte = CTES[fdp.ConsumeIntInRange(0, len(CTES) - 1)]
    octets = fdp.ConsumeBytes(fdp.remaining_bytes())
    text, problem = decode_text(octets, label)
    assert isinstance(text, str) and isinstance(problem, bool)
    text.encode("utf-8")  # no lone surrogates: the text goes into JSON
    decode_header_bytes(octets, label).encode("utf-8")
    _japanese(decode_iso2022jp, octets)
    _japanese(decode_eucjp, octets)
    decoded, flag = decode_transfer(octets, cte)
    assert isinstance(decoded, bytes) and isinstance(flag, bool)


if __name__ == "__main__":
    _harness.run("charsets", one_input)
