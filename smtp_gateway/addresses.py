"""Normal forms of mail domains and addresses, as local domains and aliases store them.

Domains are kept in ASCII (IDNA A-labels, lower case), so ``bücher.example`` and
``xn--bcher-kva.example`` are one domain; local parts are lower-cased (logins are) and may
be UTF-8 (RFC 6531).
"""

from __future__ import annotations

import re

#: an LDH label (RFC 1035 §2.3.1, with leading digits as RFC 1123 allows)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_DOMAIN = 253
MAX_LOCAL_PART = 64 * 4  # 64 characters of UTF-8 at most 4 octets each


class AddressError(ValueError):
    """Not a domain or address Fulmar can keep."""


def ascii_domain(domain: str) -> str:
    """The domain in lower-case ASCII (A-labels); raises AddressError if it is not one."""
    name = domain.strip().rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise AddressError(f"not a domain name: {domain!r}") from None
    labels = name.split(".")
    if len(name) > MAX_DOMAIN or not all(_LABEL.fullmatch(x) for x in labels):
        raise AddressError(f"not a domain name: {domain!r}")
    return name


def unicode_domain(domain: str) -> str:
    """An ASCII domain with its A-labels decoded (the form a login may have been made in)."""
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return domain


def split_address(address: str) -> tuple[str, str]:
    """(local part, ASCII domain) of ``local@domain``; raises AddressError."""
    local, at, domain = address.strip().rpartition("@")
    if (
        not at
        or not local
        or len(local.encode()) > MAX_LOCAL_PART
        or any(c.isspace() or c in "<>" for c in local)
    ):
        raise AddressError(f"not an email address: {address!r}")
    return local.lower(), ascii_domain(domain)


def normal_address(address: str) -> str:
    """``local@domain`` lower-cased with an ASCII domain; raises AddressError."""
    local, domain = split_address(address)
    return f"{local}@{domain}"


def login_forms(address: str) -> list[str]:
    """The spellings a login of this (normal) address may have: ASCII and Unicode domain."""
    local, _, domain = address.rpartition("@")
    forms = [address]
    decoded = f"{local}@{unicode_domain(domain)}"
    if decoded != address:
        forms.append(decoded)
    return forms
