"""Capability URIs the server implements."""

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
#: RFC 8887: a client may name it in "using" when it speaks JMAP over the WebSocket
WEBSOCKET = "urn:ietf:params:jmap:websocket"

SUPPORTED = frozenset({CORE, MAIL, WEBSOCKET})
