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
from .config import Limits
from .errors import MethodError, RequestError
from .pointer import PointerError, TooManyItems, evaluate
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
        """The account the call names, if this user may use this method there.

        A missing or non-string accountId is invalidArguments; accountNotFound is for an
        id that names no account of this user (RFC 8620 §3.6.2).
        """
        if not isinstance(account_id, str):
            raise MethodError("invalidArguments", "accountId must be given, as a string.")
        account = self.accounts.get(account_id)
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


def decode_json(body: bytes, max_depth: int) -> Any:
    """Parse I-JSON (RFC 7493) nested at most ``max_depth`` arrays and objects deep.

    Deeper is ``notJSON``: RFC 8259 §9 lets a parser limit the depth of nesting, and the
    limit keeps every later stage (the duplicate-name check, validation, the filter and
    response writers) far from Python's recursion limit and orjson's.
    """
    too_deep = RequestError(
        "notJSON", f"The JSON is nested deeper than {max_depth} arrays and objects."
    )
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):  # orjson's own limit (1024) is above any we allow
            raise too_deep from None
        raise RequestError("notJSON", "The request body is not valid JSON.") from None
    if _deeper_than(value, max_depth):
        raise too_deep
    try:
        _reject_duplicate_names(body)
    except DuplicateName as exc:
        raise RequestError("notJSON", f"Duplicate member name {exc} (not I-JSON).") from None
    return value


def _deeper_than(value: Any, max_depth: int) -> bool:
    """Level by level, without recursion; each array and object is looked at once."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(max_depth):
        if not level:
            return False
        inner: list[Any] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            inner.extend(c for c in children if isinstance(c, dict | list))
        level = inner
    return bool(level)


def parse_request(body: bytes, limits: Limits) -> dict[str, Any]:
    """Decode and type-check a Request object; raise the matching RequestError."""
    return check_request(decode_json(body, limits.max_json_depth), limits)


def check_request(request: Any, limits: Limits) -> dict[str, Any]:
    """Type-check a decoded Request object; raise the matching RequestError."""
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
    if len(calls) > limits.max_calls_in_request:
        raise RequestError(
            "limit",
            f"The request has {len(calls)} method calls; "
            f"the limit is {limits.max_calls_in_request}.",
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


@dataclass
class _Answered:
    """A method response, kept for the result references of later calls."""

    name: str
    arguments: dict[str, Any]
    call_id: str


@dataclass
class _Budget:
    """The octets a request's responses and reference expansions may still use.

    Sizes are counted as each response is encoded (once) and each reference resolved,
    so the check costs no extra serialisation of what came before.
    """

    responses: int
    references: int

    def spend_references(self, size: int) -> None:
        self.references -= size
        if self.references < 0:
            raise self.too_much_referenced()

    @staticmethod
    def too_much_referenced() -> RequestError:
        return RequestError(
            "limit",
            "The result references of the request expand to too much data.",
            limit="maxSizeReferences",
        )

    def spend_response(self, size: int) -> None:
        self.responses -= size
        if self.responses < 0:
            raise RequestError("limit", "The response would be too large.", limit="maxSizeResponse")


def _resolve_references(
    args: dict[str, Any], responses: list[_Answered], budget: _Budget
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
        # RFC 8620 §3.7: the response of that call with that name (Foo/copy may also
        # answer an implicit Foo/set under the same call id)
        answers = [r for r in responses if r.call_id == value["resultOf"]]
        source = next((r for r in answers if r.name == value["name"]), None)
        if not answers:
            raise MethodError(
                "invalidResultReference", f"No earlier call has the id {value['resultOf']!r}."
            )
        if source is None:
            raise MethodError(
                "invalidResultReference",
                f"Call {value['resultOf']!r} answered {answers[0].name!r}, not {value['name']!r}.",
            )
        # What a path selects is at most twice the JSON of its source (each item once,
        # plus commas), and the source's size was within the response budget; a ``*``
        # expansion stops at what the budget could hold (an item takes 2 octets or more).
        try:
            resolved[name] = evaluate(source.arguments, value["path"], budget.references // 2)
        except PointerError as exc:
            raise MethodError("invalidResultReference", f"Path {value['path']!r}: {exc}") from None
        except TooManyItems:
            raise budget.too_much_referenced() from None
        budget.spend_references(len(orjson.dumps(resolved[name])))
    return resolved


def _encode(name: str, arguments: dict[str, Any]) -> tuple[str, dict[str, Any], bytes]:
    """The response's JSON; a value JSON cannot hold is a bug, answered serverFail."""
    try:
        return name, arguments, orjson.dumps(arguments)
    except orjson.JSONEncodeError:
        log.exception("%s answered what JSON cannot hold", name)
        error = {"type": "serverFail", "description": "Internal error."}
        return "error", error, orjson.dumps(error)


async def run_request(
    request: dict[str, Any],
    services: Services,
    registry: MethodRegistry,
    credentials: Credentials,
    session_state: str,
) -> dict[str, Any]:
    """Run the method calls of a parsed Request and build the Response object.

    Each method response is encoded once, as soon as it is made, and kept encoded (an
    ``orjson.Fragment``; error objects stay dicts for the metrics): its size counts
    against ``limits.max_size_response``, which ends the request with a ``limit`` error.
    """
    limits = services.config.limits
    budget = _Budget(limits.max_size_response, limits.max_size_references)
    given_ids = request.get("createdIds")
    invocation = Invocation(
        services=services,
        principal=credentials.principal,
        accounts={a.id: a for a in credentials.accounts},
        using=frozenset(request["using"]),
        created_ids=dict(given_ids or {}),
        credential_id=credentials.id,
    )
    responses: list[_Answered] = []
    out: list[list[Any]] = []
    for name, args, call_id in request["methodCalls"]:
        for response_name, response_args in await _run_call(
            invocation, registry, name, args, call_id, responses, budget
        ):
            response_name, response_args, encoded = _encode(response_name, response_args)
            size = len(encoded) + len(orjson.dumps([response_name, call_id]))
            budget.spend_response(size)
            responses.append(_Answered(response_name, response_args, call_id))
            shown = response_args if response_name == "error" else orjson.Fragment(encoded)
            out.append([response_name, shown, call_id])
    body: dict[str, Any] = {"methodResponses": out, "sessionState": session_state}
    if given_ids is not None:
        body["createdIds"] = invocation.created_ids
    return body


async def _run_call(
    invocation: Invocation,
    registry: MethodRegistry,
    name: str,
    args: dict[str, Any],
    call_id: str,
    earlier: list[_Answered],
    budget: _Budget,
) -> list[Response]:
    method = registry.methods.get(name)
    if method is None or method.capability not in invocation.using:
        return [("error", {"type": "unknownMethod", "description": f"Unknown method {name}."})]
    invocation.name, invocation.call_id, invocation.capability = name, call_id, method.capability
    try:
        resolved = _resolve_references(args, earlier, budget)
        result = await rerun_on_conflict(
            lambda: method.handler(invocation, resolved), invocation.created_ids
        )
    except MethodError as exc:
        return [("error", exc.arguments())]
    except RequestError:
        raise
    except StoreError:
        log.exception("storage failure in %s", name)
        return [("error", {"type": "serverUnavailable", "description": "Storage is unavailable."})]
    except Exception:
        log.exception("unexpected failure in %s", name)
        return [("error", {"type": "serverFail", "description": "Internal error; no change made."})]
    if isinstance(result, dict):
        return [(name, result)]
    return result
