"""Capability URIs the server implements."""

CORE = "urn:ietf:params:jmap:core"
MAIL = "urn:ietf:params:jmap:mail"
#: RFC 8621 §1.3.2: Identity and EmailSubmission
SUBMISSION = "urn:ietf:params:jmap:submission"
#: RFC 8887: a client may name it in "using" when it speaks JMAP over the WebSocket
WEBSOCKET = "urn:ietf:params:jmap:websocket"

#: RFC 9749: the VAPID key a client passes to its push service (``applicationServerKey``)
WEBPUSH_VAPID = "urn:ietf:params:jmap:webpush-vapid"

#: RFC 8621 §8: the VacationResponse singleton
VACATION_RESPONSE = "urn:ietf:params:jmap:vacationresponse"

SUPPORTED = frozenset({CORE, MAIL, SUBMISSION, WEBSOCKET, WEBPUSH_VAPID, VACATION_RESPONSE})
