"""Core/echo (RFC 8620 §4)."""

from __future__ import annotations

from typing import Any

from jmap.api import Invocation, MethodRegistry
from jmap.capabilities import CORE


async def echo(inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
    """Return exactly the arguments given."""
    return args


def register(registry: MethodRegistry) -> None:
    registry.add("Core/echo", CORE, echo)
