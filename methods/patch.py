"""PatchObject (RFC 8620 §5.3): apply a patch to a JMAP object."""

from __future__ import annotations

import copy
from typing import Any

from jmap.errors import SetError


def _tokens(path: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")]


def apply_patch(obj: dict[str, Any], patch: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Return the patched copy of ``obj`` and the top-level properties the patch touches.

    Raises SetError ``invalidPatch`` when a path goes inside an array, a non-final part
    does not exist, or one path is a prefix of another.
    """
    for path in patch:
        parts = path.split("/")
        for end in range(1, len(parts)):
            prefix = "/".join(parts[:end])
            if prefix in patch:
                raise SetError("invalidPatch", f"'{prefix}' is a prefix of '{path}'.")
    result = copy.deepcopy(obj)
    touched: set[str] = set()
    for path, value in patch.items():
        tokens = _tokens(path)
        if not tokens or tokens[0] == "":
            raise SetError("invalidPatch", f"Empty path {path!r}.")
        touched.add(tokens[0])
        target: Any = result
        for token in tokens[:-1]:
            if isinstance(target, list):
                raise SetError("invalidPatch", f"'{path}' goes inside an array.")
            if not isinstance(target, dict) or not isinstance(target.get(token), dict | list):
                raise SetError("invalidPatch", f"'{path}': '{token}' does not exist.")
            target = target[token]
        if isinstance(target, list):
            raise SetError("invalidPatch", f"'{path}' goes inside an array.")
        last = tokens[-1]
        if value is None and len(tokens) > 1:
            target.pop(last, None)
        else:
            target[last] = value
    return result, touched
