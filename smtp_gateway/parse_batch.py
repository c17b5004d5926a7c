"""The delivery worker's task in the worker pool: parse several messages in one call, so a
batch of small messages pays for one round trip to a worker process, not one each."""

from __future__ import annotations

from typing import Any

from jmap.message import parse_message


def parse_all(messages: list[bytes]) -> list[dict[str, Any]]:
    """The stored Email model (``parse_message``) of each message, in order."""
    return [parse_message(octets) for octets in messages]
