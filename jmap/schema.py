"""Loads the JSON Schemas in ``schemas/`` and turns them into validators.

Each data type has one file (``schemas/Mailbox.json`` …) that declares its object
properties, its FilterCondition, its sortable properties and the extra arguments of its
methods. The standard method arguments live once in ``schemas/core.json``; the validator of
``Foo/query`` is core's ``query`` arguments plus Foo's own, with Foo's FilterCondition as
the filter. A new type adds a schema file, not hand-written checks.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from .errors import MethodError
from .ids import is_date

Validator = Callable[[Any], Any]


@cache
def _load(name: str) -> dict[str, Any]:
    text = resources.files("schemas").joinpath(f"{name}.json").read_text("utf-8")
    return json.loads(text)


def schema_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".json")
        for p in resources.files("schemas").iterdir()
        if p.name.endswith(".json")
    )


def schema_document(name: str) -> dict[str, Any]:
    """The published form of one schema file."""
    return _load(name)


#: ``date-time`` is RFC 3339's, with RFC 8620 §1.4's upper-case letters, and a real date
#: (fastjsonschema's own only matches a pattern: it takes February 30th)
FORMATS = {"date-time": is_date}


def _compile(schema: dict[str, Any], defs: dict[str, Any]) -> Validator:
    return fastjsonschema.compile({**schema, "$defs": defs}, formats=FORMATS)


def _describe(exc: fastjsonschema.JsonSchemaValueException) -> str:
    where = exc.name.removeprefix("data").lstrip(".") or "arguments"
    message = exc.message.removeprefix(exc.name).strip()
    return f"{where} {message}"


@dataclass
class TypeSchema:
    """Validation for one JMAP data type, built from its schema file."""

    name: str
    capability: str
    methods: list[str]
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    read_only: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    defaults: dict[str, Any] = field(default_factory=dict)
    sort_properties: frozenset[str] = frozenset()
    _property_validators: dict[str, Validator] = field(default_factory=dict)
    _argument_validators: dict[str, Validator] = field(default_factory=dict)

    def validate_arguments(self, method: str, args: dict[str, Any]) -> None:
        """Raise invalidArguments unless ``args`` fits ``Type/method``'s signature."""
        validator = self._argument_validators.get(method)
        if validator is None:
            return
        try:
            validator(args)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise MethodError("invalidArguments", _describe(exc)) from None

    def invalid_properties(self, obj: dict[str, Any]) -> list[str]:
        """Names of the properties in ``obj`` that are unknown or of the wrong type/value."""
        bad = []
        for name, value in obj.items():
            validator = self._property_validators.get(name)
            if validator is None:
                bad.append(name)
                continue
            try:
                validator(value)
            except fastjsonschema.JsonSchemaValueException:
                bad.append(name)
        return bad

    def with_defaults(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {**copy.deepcopy(self.defaults), **obj}


def _filter_defs(filter_schema: dict[str, Any] | None) -> dict[str, Any]:
    condition = filter_schema or {"type": "object", "additionalProperties": False}
    return {
        "FilterCondition": {**condition, "not": {"required": ["operator"]}},
        "FilterOperator": {
            "type": "object",
            "properties": {
                "operator": {"enum": ["AND", "OR", "NOT"]},
                "conditions": {"type": "array", "items": {"$ref": "#/$defs/Filter"}},
            },
            "required": ["operator", "conditions"],
            "additionalProperties": False,
        },
        "Filter": {
            "if": {"type": "object", "required": ["operator"]},
            "then": {"$ref": "#/$defs/FilterOperator"},
            "else": {"$ref": "#/$defs/FilterCondition"},
        },
    }


@cache
def type_schema(name: str) -> TypeSchema:
    """The compiled schema of a data type (or of a method family such as ``Core``)."""
    core = _load("core")
    doc = _load(name)
    defs = {**core["$defs"], **doc.get("$defs", {}), **_filter_defs(doc.get("filter"))}
    obj = doc.get("object", {})
    properties: dict[str, dict[str, Any]] = obj.get("properties", {})
    schema = TypeSchema(
        name=name,
        capability=doc["capability"],
        methods=list(doc.get("methods", [])),
        properties=properties,
        read_only=frozenset(k for k, v in properties.items() if v.get("readOnly")),
        required=frozenset(obj.get("required", [])),
        defaults={k: v["default"] for k, v in properties.items() if "default" in v},
        sort_properties=frozenset(doc.get("sort", [])),
    )
    schema._property_validators = {k: _compile(v, defs) for k, v in properties.items()}
    extra = doc.get("arguments", {})
    required_extra = doc.get("requiredArguments", {})
    open_arguments = set(doc.get("openArguments", []))
    for method in {*schema.methods, *extra}:
        arguments = {**core["methods"].get(method, {}), **extra.get(method, {})}
        if method == "get" and properties:
            arguments["properties"] = {
                "type": ["array", "null"],
                "items": {"enum": sorted(properties)},
            }
        schema._argument_validators[method] = _compile(
            {
                "type": "object",
                "properties": arguments,
                "required": required_extra.get(method, core["required"].get(method, [])),
                "additionalProperties": method in open_arguments,
            },
            defs,
        )
    return schema
