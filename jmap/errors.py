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


class MethodError(Exception):
    """Stops one method call: answered as an ``error`` invocation."""

    def __init__(self, kind: str, description: str | None = None, **extra: Any) -> None:
        super().__init__(description or kind)
        self.kind = kind
        self.description = description
        self.extra = extra

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {"type": self.kind}
        if self.description:
            args["description"] = self.description
        args.update(self.extra)
        return args


def invalid_arguments(description: str) -> MethodError:
    return MethodError("invalidArguments", description)


class SetError(Exception):
    """Refuses one create, update or destroy of a /set, /copy or import."""

    def __init__(self, kind: str, description: str | None = None, **extra: Any) -> None:
        super().__init__(description or kind)
        self.kind = kind
        self.description = description
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "description": self.description}
        out.update(self.extra)
        return out


def invalid_properties(properties: list[str], description: str | None = None) -> SetError:
    return SetError("invalidProperties", description, properties=sorted(set(properties)))
