"""Fuzz the MIME parser: parse_message, body values, part downloads, looks_like_message.

The model must always be built by the real parser (its catch-all fallback would hide a
defect, so the harness calls the parser under it) and be JSON-serialisable.
"""

from __future__ import annotations

import _harness
import atheris

with atheris.instrument_imports(include=["jmap.message"]):
    import orjson

    from jmap.message import MessageReader, looks_like_message
    from jmap.message.model import PREVIEW_CHARS, _parse


def one_input(data: bytes) -> None:
    looks_like_message(data)
    model = _parse(data)
    orjson.dumps(model)
    assert model["size"] == len(data)
    assert len(model["preview"]) <= PREVIEW_CHARS
    reader = MessageReader(data)
    for pid in (model["textBody"] + model["htmlBody"] + model["attachments"])[:8]:
        assert reader.part_bytes(pid) is not None
        value = reader.body_value(pid, max_bytes=64)
        if value is not None:
            assert len(value["value"].encode("utf-8", "surrogatepass")) <= 64
            orjson.dumps(value)


if __name__ == "__main__":
    _harness.run("mime", one_input)
