"""API request processing (RFC 8620 §3): independent of HTTP, so WebSocket reuses it.

A request is checked against the Request type signature, its method calls run in order,
result references are resolved before each call, and method errors are turned into
``error`` responses. Handlers live in ``methods/`` and are looked up in a registry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .auth import Credentials
from .capabilities import CORE, SUPPORTED
from .errors import MethodError, RequestError
from .pointer import PointerError, evaluate
from .services import Services, rerun_on_conflict
from .store.base import Account, Principal, StoreError

log = logging.getLogger("fulmar.api")

Response = tuple[str, dict[str, Any]]


@dataclass
class Invocation:
    """What a method handler sees of the request it runs in."""

    services: Services
    principal: Principal
    accounts: dict[str, Account]
    using: frozenset[str]
    created_ids: dict[str, str]
    #: names the credentials of the request (see ``Credentials.id``)
    credential_id: str = ""
    name: str = ""
    call_id: str = ""
    capability: str = CORE

    def account(self, account_id: Any, *, write: bool = False) -> Account:
        """The account the call names, if this user may use this method there."""
        account = self.accounts.get(account_id) if isinstance(account_id, str) else None
        if account is None:
            raise MethodError("accountNotFound")
        if write and account.is_read_only:
            raise MethodError("accountReadOnly")
        return account

    def resolve_creation_id(self, value: Any) -> Any:
        """Replace a ``#creationId`` reference with the id created earlier in the request."""
        if isinstance(value, str) and value.startswith("#"):
            return self.created_ids.get(value[1:])
        return value


Handler = Callable[[Invocation, dict[str, Any]], Awaitable[list[Response] | dict[str, Any]]]


@dataclass(frozen=True)
class Method:
    name: str
    capability: str
    handler: Handler


@dataclass
class MethodRegistry:
    methods: dict[str, Method] = field(default_factory=dict)

    def add(self, name: str, capability: str, handler: Handler) -> None:
        self.methods[name] = Method(name, capability, handler)


def parse_request(body: bytes, limits_calls: int) -> dict[str, Any]:
    """Decode and type-check a Request object; raise the matching RequestError."""
    try:
        request = orjson.loads(body)
        _reject_duplicate_names(body)
    except orjson.JSONDecodeError:
        raise RequestError("notJSON", "The request body is not valid JSON.") from None
    except DuplicateName as exc:
        raise RequestError("notJSON", f"Duplicate member name {exc} (not I-JSON).") from None
    if not isinstance(request, dict):
        raise RequestError("notRequest", "The request is not a JSON object.")
    using = request.get("using")
    calls = request.get("methodCalls")
    created_ids = request.get("createdIds")
    if not isinstance(using, list) or not all(isinstance(u, str) for u in using):
        raise RequestError("notRequest", "'using' must be an array of strings.")
    if not isinstance(calls, list):
        raise RequestError("notRequest", "'methodCalls' must be an array.")
    for call in calls:
        if not (
            isinstance(call, list)
            and len(call) == 3
            and isinstance(call[0], str)
            and isinstance(call[1], dict)
            and isinstance(call[2], str)
        ):
            raise RequestError(
                "notRequest", "Each method call must be [name, arguments object, call id]."
            )
    if created_ids is not None and not (
        isinstance(created_ids, dict) and all(isinstance(v, str) for v in created_ids.values())
    ):
        raise RequestError("notRequest", "'createdIds' must map creation ids to ids.")
    unknown = [u for u in using if u not in SUPPORTED]
    if unknown:
        raise RequestError(
            "unknownCapability", f"The server does not support: {', '.join(unknown)}."
        )
    if CORE not in using:
        raise RequestError("unknownCapability", f"'using' must include {CORE}.")
    if len(calls) > limits_calls:
        raise RequestError(
            "limit",
            f"The request has {len(calls)} method calls; the limit is {limits_calls}.",
            limit="maxCallsInRequest",
        )
    return request


class DuplicateName(ValueError):
    """An object has the same member name twice, which I-JSON (RFC 7493) forbids."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        raise DuplicateName(next(repr(k) for k, _ in pairs if k in seen or seen.add(k)))
    return members


def _reject_duplicate_names(body: bytes) -> None:
    """orjson keeps the last of duplicate names silently; the stdlib parser can tell."""
    json.loads(body, object_pairs_hook=_unique_members)


def _resolve_references(
    args: dict[str, Any], responses: list[tuple[str, dict[str, Any], str]]
) -> dict[str, Any]:
    if not any(key.startswith("#") for key in args):
        return args
    resolved: dict[str, Any] = {}
    for key, value in args.items():
        if not key.startswith("#"):
            resolved[key] = value
            continue
        name = key[1:]
        if name in args:
            raise MethodError("invalidArguments", f"Both '{name}' and '{key}' are given.")
        if not (
            isinstance(value, dict)
            and isinstance(value.get("resultOf"), str)
            and isinstance(value.get("name"), str)
            and isinstance(value.get("path"), str)
        ):
            raise MethodError("invalidResultReference", f"'{key}' is not a ResultReference object.")
        source = next((r for r in responses if r[2] == value["resultOf"]), None)
        if source is None:
            raise MethodError(
                "invalidResultReference", f"No earlier call has the id {value['resultOf']!r}."
            )
        if source[0] != value["name"]:
            raise MethodError(
                "invalidResultReference",
                f"Call {value['resultOf']!r} answered {source[0]!r}, not {value['name']!r}.",
            )
        try:
            resolved[name] = evaluate(source[1], value["path"])
        except PointerError as exc:
            raise MethodError("invalidResultReference", f"Path {value['path']!r}: {exc}") from None
    return resolved


async def run_request(
    request: dict[str, Any],
    services: Services,
    registry: MethodRegistry,
    credentials: Credentials,
    session_state: str,
) -> dict[str, Any]:
    """Run the method calls of a parsed Request and build the Response object."""
    given_ids = request.get("createdIds")
    invocation = Invocation(
        services=services,
        principal=credentials.principal,
        accounts={a.id: a for a in credentials.accounts},
        using=frozenset(request["using"]),
        created_ids=dict(given_ids or {}),
        credential_id=credentials.id,
    )
    responses: list[tuple[str, dict[str, Any], str]] = []
    for name, args, call_id in request["methodCalls"]:
        for response_name, response_args in await _run_call(
            invocation, registry, name, args, call_id, responses
        ):
            responses.append((response_name, response_args, call_id))
    body: dict[str, Any] = {
        "methodResponses": [list(r) for r in responses],
        "sessionState": session_state,
    }
    if given_ids is not None:
        body["createdIds"] = invocation.created_ids
    return body


async def _run_call(
    invocation: Invocation,
    registry: MethodRegistry,
    name: str,
    args: dict[str, Any],
    call_id: str,
    earlier: list[tuple[str, dict[str, Any], str]],
) -> list[Response]:
    method = registry.methods.get(name)
    if method is None or method.capability not in invocation.using:
        return [("error", {"type": "unknownMethod", "description": f"Unknown method {name}."})]
    invocation.name, invocation.call_id, invocation.capability = name, call_id, method.capability
    try:
        resolved = _resolve_references(args, earlier)
        result = await rerun_on_conflict(
            lambda: method.handler(invocation, resolved), invocation.created_ids
        )
    except MethodError as exc:
        return [("error", exc.arguments())]
    except StoreError:
        log.exception("storage failure in %s", name)
        return [("error", {"type": "serverUnavailable", "description": "Storage is unavailable."})]
    except Exception:
        log.exception("unexpected failure in %s", name)
        return [("error", {"type": "serverFail", "description": "Internal error; no change made."})]
    if isinstance(result, dict):
        return [(name, result)]
    return result
