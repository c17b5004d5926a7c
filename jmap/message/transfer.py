"""Content-Transfer-Encoding decoding (RFC 2045 §6), forgiving of real-world damage."""

from __future__ import annotations

import binascii
import re

_B64_WS = re.compile(rb"[\s]+")
_B64_INVALID = re.compile(rb"[^A-Za-z0-9+/=]")
_B64_CHUNKS = re.compile(rb"[^=]+=*")


def b64decode_lenient(data: bytes) -> tuple[bytes, bool]:
    """Decode base64, skipping junk and repairing padding.

    Returns ``(octets, problem)``; ``problem`` is true when characters outside the alphabet
    or a dangling sextet had to be dropped.  Missing padding alone is not a problem.
    Concatenated padded blocks (``...=...=``) are all decoded.
    """
    cleaned = _B64_WS.sub(b"", data)
    problem = False
    if _B64_INVALID.search(cleaned):
        cleaned = _B64_INVALID.sub(b"", cleaned)
        problem = True
    chunks = _B64_CHUNKS.findall(cleaned) if b"=" in cleaned.rstrip(b"=") else [cleaned]
    out: list[bytes] = []
    for chunk in chunks:
        body = chunk.rstrip(b"=")
        rem = len(body) % 4
        if rem == 1:
            body = body[:-1]
            problem = True
        elif rem:
            body += b"=" * (4 - rem)
        if not body:
            continue
        try:
            out.append(binascii.a2b_base64(body))
        except (binascii.Error, ValueError):
            problem = True
    return b"".join(out), problem


def qp_decode(data: bytes) -> bytes:
    """Decode quoted-printable; malformed ``=XY`` escapes are kept literally."""
    try:
        return binascii.a2b_qp(data)
    except (binascii.Error, ValueError):
        return data


def uu_decode(data: bytes) -> tuple[bytes, bool]:
    """Decode a uuencoded body (``begin``/``end`` framed).  Returns ``(octets, problem)``."""
    out: list[bytes] = []
    started = False
    problem = False
    for line in data.splitlines():
        if not started:
            if line.startswith(b"begin"):
                started = True
            continue
        stripped = line.strip()
        if stripped == b"end":
            break
        if not stripped or stripped == b"`":
            continue
        try:
            out.append(binascii.a2b_uu(line))
        except (binascii.Error, ValueError):
            # Some encoders pad lines with junk; decode only the announced length.
            try:
                nbytes = (((line[0] - 32) & 63) * 4 + 5) // 3
                out.append(binascii.a2b_uu(line[:nbytes]))
            except (binascii.Error, ValueError, IndexError):
                problem = True
    if not started:
        return data, True
    return b"".join(out), problem


def normalise_cte(value: str | None) -> str:
    """Lower-case mechanism name without parameters, comments or stray punctuation."""
    if not value:
        return "7bit"
    token = value.strip().split(";", 1)[0].split("(", 1)[0].strip().strip("\"'").lower()
    return token or "7bit"


def decode_transfer(data: bytes, cte: str | None) -> tuple[bytes, bool]:
    """Decode ``data`` per its Content-Transfer-Encoding.  Returns ``(octets, problem)``.

    Unknown mechanisms (and 7bit/8bit/binary) pass the octets through unchanged.
    """
    mech = normalise_cte(cte)
    if mech == "base64":
        return b64decode_lenient(data)
    if mech == "quoted-printable":
        return qp_decode(data), False
    if mech in ("x-uuencode", "uuencode", "x-uue", "uue"):
        return uu_decode(data)
    return data, False
