"""JSON Pointer (RFC 6901) evaluation with JMAP's ``*`` extension (RFC 8620 §3.7)."""

from __future__ import annotations

from typing import Any


class PointerError(Exception):
    """The path does not resolve against the value."""


class TooManyItems(Exception):
    """A ``*`` expansion would produce more items than the caller allows."""


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def evaluate(value: Any, path: str, max_items: int | None = None) -> Any:
    """Resolve ``path`` against ``value``.

    A ``*`` token applied to an array maps the rest of the path over every item; results
    that are arrays themselves are flattened into one array, in order. An expansion that
    would hold more than ``max_items`` items raises TooManyItems before it grows past it.
    """
    if path == "":
        return value
    if not path.startswith("/"):
        raise PointerError(f"path must start with '/': {path!r}")
    return _walk(value, [_unescape(t) for t in path[1:].split("/")], max_items)


def _walk(value: Any, tokens: list[str], max_items: int | None) -> Any:
    for index, token in enumerate(tokens):
        if isinstance(value, dict):
            if token not in value:
                raise PointerError(f"no member {token!r}")
            value = value[token]
        elif isinstance(value, list):
            if token == "*":
                rest = tokens[index + 1 :]
                out: list[Any] = []
                for item in value:
                    found = _walk(item, rest, max_items)
                    grown = len(out) + (len(found) if isinstance(found, list) else 1)
                    if max_items is not None and grown > max_items:
                        raise TooManyItems(f"more than {max_items} items")
                    if isinstance(found, list):
                        out.extend(found)
                    else:
                        out.append(found)
                return out
            # RFC 6901 array-index: ASCII digits only (str.isdigit accepts "²" too)
            digits = token.isascii() and token.isdigit()
            if not digits or (token != "0" and token.startswith("0")):
                raise PointerError(f"bad array index {token!r}")
            position = int(token)
            if position >= len(value):
                raise PointerError(f"index {position} out of range")
            value = value[position]
        else:
            raise PointerError(f"cannot descend into a {type(value).__name__} with {token!r}")
    return value
