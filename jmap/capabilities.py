"""Capability URIs the server implements."""

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"

SUPPORTED = frozenset({CORE, MAIL})
