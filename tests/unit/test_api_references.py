"""Request processing without HTTP (``jmap.api``): result references (RFC 8620 §3.7), the
response and reference budgets (issue 8.4) and the JSON depth limit (issue 8.6)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
import pytest

from jmap.api import Invocation, MethodRegistry, decode_json, parse_request, run_request
from jmap.auth import Credentials
from jmap.config import Config, Limits
from jmap.errors import RequestError
from jmap.pointer import TooManyItems, evaluate
from jmap.services import Services
from jmap.store.base import Account, Principal

CORE = "urn:ietf:params:jmap:core"


async def _echo(inv: Invocation, args: dict[str, Any]) -> dict[str, Any]:
    return args


async def _copy(inv: Invocation, args: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Answers like Foo/copy with onSuccessDestroyOriginal: two responses, one call id."""
    return [("Foo/copy", {"created": {"k": {"id": "new"}}}), ("Foo/set", {"destroyed": ["old"]})]


def _run(calls: list[list[Any]], **limits: int) -> dict[str, Any]:
    registry = MethodRegistry()
    registry.add("Core/echo", CORE, _echo)
    registry.add("Foo/copy", CORE, _copy)
    config = Config(limits=replace(Limits(), **limits))
    services = Services(config, None, None, None, None)  # type: ignore[arg-type]
    credentials = Credentials(
        "Basic x", Principal("p", "a@example.com", ""), [Account("a", "a", "p")]
    )
    request = {"using": [CORE], "methodCalls": calls}
    body = asyncio.run(run_request(request, services, registry, credentials, "s"))
    return orjson.loads(orjson.dumps(body))


def _ref(call_id: str, name: str, path: str) -> dict[str, str]:
    return {"resultOf": call_id, "name": name, "path": path}


def test_reference_to_the_second_response_of_a_call():
    """RFC 8620 §3.7: ``name`` picks the response of that call (Foo/copy's implicit Foo/set)."""
    body = _run(
        [["Foo/copy", {}, "c"], ["Core/echo", {"#d": _ref("c", "Foo/set", "/destroyed")}, "e"]]
    )
    assert body["methodResponses"][-1] == ["Core/echo", {"d": ["old"]}, "e"]
    wrong = _run([["Foo/copy", {}, "c"], ["Core/echo", {"#d": _ref("c", "Foo/get", "")}, "e"]])
    assert wrong["methodResponses"][-1][1]["type"] == "invalidResultReference"


def test_responses_are_counted_as_they_are_made():
    calls = [["Core/echo", {"v": "x" * 1000}, f"c{n}"] for n in range(5)]
    assert len(_run(calls, max_size_response=5200)["methodResponses"]) == 5
    with pytest.raises(RequestError) as refused:
        _run(calls, max_size_response=4000)
    assert refused.value.kind == "limit" and refused.value.limit == "maxSizeResponse"


def test_doubling_references_stop_at_the_reference_budget():
    calls = [["Core/echo", {"v": "x" * 1000}, "c0"]]
    for n in range(1, 16):
        ref = _ref(f"c{n - 1}", "Core/echo", "")
        calls.append(["Core/echo", {"#a": ref, "#b": ref}, f"c{n}"])
    with pytest.raises(RequestError) as refused:
        _run(calls)
    assert refused.value.kind == "limit" and refused.value.limit == "maxSizeReferences"


def test_wildcard_expansion_stops_before_it_grows():
    shared = [0] * 1000
    value = {"v": [shared] * 1000}  # a million items through one list
    with pytest.raises(TooManyItems):
        evaluate(value, "/v/*", max_items=5000)
    assert len(evaluate(value, "/v/*", max_items=1_000_000)) == 1_000_000
    calls = [["Core/echo", {"v": [[0] * 100] * 100}, "c0"]]
    calls.append(["Core/echo", {"#w": _ref("c0", "Core/echo", "/v/*")}, "c1"])
    with pytest.raises(RequestError) as refused:
        _run(calls, max_size_references=1000)
    assert refused.value.limit == "maxSizeReferences"
    assert len(_run(calls)["methodResponses"][1][1]["w"]) == 10_000


@pytest.mark.parametrize("depth", [5, 6, 100, 1023, 1024, 1025, 5000])
def test_depth_limit(depth):
    """RFC 8259 §9: a parser may limit nesting; deeper than the limit is notJSON."""
    body = b"[" * depth + b"]" * depth
    if depth <= 5:
        assert decode_json(body, 5) is not None
        return
    with pytest.raises(RequestError) as refused:
        decode_json(body, 5)
    assert refused.value.kind == "notJSON" and "5" in refused.value.detail


def test_objects_count_for_depth_and_duplicates_are_still_refused():
    with pytest.raises(RequestError):
        decode_json(b'{"a":' * 6 + b"1" + b"}" * 6, 5)
    assert decode_json(b'{"a":' * 5 + b"1" + b"}" * 5, 5)
    with pytest.raises(RequestError) as refused:
        decode_json(b'{"a": 1, "a": 2}', 5)
    assert "Duplicate" in refused.value.detail


def test_wide_values_are_not_deep():
    wide = orjson.dumps(
        {"using": [CORE], "methodCalls": [["Core/echo", {"v": [[1]] * 10000}, "0"]]}
    )
    assert parse_request(wide, replace(Limits(), max_json_depth=6))
    with pytest.raises(RequestError):
        parse_request(wide, replace(Limits(), max_json_depth=5))
