"""Parsing of MIME structured header values with parameters (Content-Type, -Disposition)."""

from __future__ import annotations

import re

from .rfc2047 import decode_2231, unfold

_SECTION = re.compile(r"^(.*?)\*(\d+)(\*?)$")
_TOKEN_OK = re.compile(r"^[a-z0-9!#$%&'*+.^_`{|}~-]+$")


def strip_comments(value: str) -> str:
    """Remove (possibly nested) RFC 5322 comments outside quoted strings (best effort)."""
    if "(" not in value:
        return value
    out: list[str] = []
    depth = 0
    in_quote = False
    escape = False
    for ch in value:
        if escape:
            escape = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escape = True
            if depth == 0:
                out.append(ch)
            continue
        if in_quote:
            if ch == '"':
                in_quote = False
            out.append(ch)
            continue
        if ch == "(":
            depth += 1
            continue
        if ch == ")" and depth:
            depth -= 1
            continue
        if depth:
            continue
        if ch == '"':
            in_quote = True
        out.append(ch)
    return "".join(out)


def _split_params(text: str) -> list[tuple[str, str]]:
    """Split ``a=b; c="d;e"`` into pairs; values are unquoted; nameless items are skipped."""
    pairs: list[tuple[str, str]] = []
    i = 0
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t;":
            i += 1
        start = i
        while i < n and text[i] not in "=;":
            i += 1
        name = text[start:i].strip().lower()
        if i >= n or text[i] == ";":
            continue
        i += 1  # '='
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            buf: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            i += 1
            value = "".join(buf)
            while i < n and text[i] != ";":  # junk after the closing quote
                i += 1
        else:
            start = i
            while i < n and text[i] != ";":
                i += 1
            value = text[start:i]
            if "(" in value:
                value = value.split("(", 1)[0]
            value = value.strip()
        if name:
            pairs.append((name, value))
    return pairs


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """Parse ``main; k=v; ...`` into (lower-case main value, {param: decoded value}).

    RFC 2231 continuations and charset/language prefixes are assembled and decoded; the
    RFC 2231 form wins over a plain parameter of the same name.  Encoded words are NOT decoded
    here (callers do that for ``name``/``filename``).
    """
    text = unfold(value)
    main, _sep, rest = text.partition(";")
    main = strip_comments(main).strip().strip('"').strip().lower()
    main = "".join(main.split())
    params: dict[str, str] = {}
    sections: dict[str, list[tuple[int, bool, str]]] = {}
    for name, val in _split_params(rest):
        m = _SECTION.match(name)
        if m:
            sections.setdefault(m.group(1), []).append((int(m.group(2)), bool(m.group(3)), val))
        elif name.endswith("*"):
            sections.setdefault(name[:-1], []).append((0, True, val))
        elif name not in params:
            params[name] = val
    for base, secs in sections.items():
        if base:
            params[base] = decode_2231(secs)
    return main, params


def valid_media_type(main: str) -> bool:
    """True if ``main`` looks like ``type/subtype``."""
    typ, slash, sub = main.partition("/")
    return bool(slash) and bool(_TOKEN_OK.match(typ)) and bool(_TOKEN_OK.match(sub))
