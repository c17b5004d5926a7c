"""JMAP errors: request-level (RFC 8620 §3.6.1), method-level (§3.6.2) and SetError (§5.3)."""

from __future__ import annotations

from typing import Any

REQUEST_ERROR_PREFIX = "urn:ietf:params:jmap:error:"


class RequestError(Exception):
    """Rejects a whole request: answered as RFC 7807 problem details."""

    def __init__(self, kind: str, detail: str, status: int = 400, limit: str | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status
        self.limit = limit

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": REQUEST_ERROR_PREFIX + self.kind,
            "status": self.status,
            "detail": self.detail,
        }
        if self.limit is not None:
            body["limit"] = self.limit
        return body


class TypedError(Exception):
    """A JMAP error object: a ``type``, a description, and type-specific properties."""

    def __init__(self, kind: str, description: str | None = None, **extra: Any) -> None:
        super().__init__(description or kind)
        self.kind = kind
        self.description = description
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "description": self.description, **self.extra}


class MethodError(TypedError):
    """Stops one method call: answered as an ``error`` invocation."""

    def arguments(self) -> dict[str, Any]:
        args = self.as_dict()
        if not self.description:
            del args["description"]
        return args


class SetError(TypedError):
    """Refuses one create, update or destroy of a /set, /copy or import."""


def invalid_properties(properties: list[str], description: str | None = None) -> SetError:
    return SetError("invalidProperties", description, properties=sorted(set(properties)))
