"""HTML forms generated from JSON-Schema fields (run input, human-node answers), parsed back.

A browser sends strings; each is parsed by its field's declared type here, so a mistake is
shown next to its field before the gateway is asked. The gateway still validates everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent_runtime.spec.messages import is_message_schema

#: JSON examples shown as placeholders of the fields typed as JSON text.
_PLACEHOLDERS = {"array": '["first", "second"]  or one item per line', "object": '{"key": "value"}'}


@dataclass(frozen=True)
class FormField:
    name: str
    schema: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.schema.get("type", "string"))

    @property
    def enum(self) -> list[Any] | None:
        values = self.schema.get("enum")
        return list(values) if isinstance(values, list) else None

    @property
    def description(self) -> str:
        return str(self.schema.get("description") or "")

    @property
    def widget(self) -> str:
        """``select``, ``checkbox``, ``number``, ``json`` or ``text``."""
        if self.enum is not None:
            return "select"
        return {"boolean": "checkbox", "integer": "number", "number": "number"}.get(
            self.type, "json" if self.type in ("array", "object") else "text"
        )

    @property
    def step(self) -> str:
        return "1" if self.type == "integer" else "any"

    @property
    def placeholder(self) -> str:
        if is_message_schema(self.schema):
            return "Your message (or a JSON list of messages)"
        return _PLACEHOLDERS.get(self.type, "")

    def option_value(self, value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    def shown(self, value: Any) -> str:
        """A value as the field's text, to refill a form after an error."""
        if value is None:
            return ""
        if self.type in ("array", "object") and not isinstance(value, str):
            return json.dumps(value)
        return str(value)


def form_fields(schemas: Mapping[str, Any]) -> list[FormField]:
    return [FormField(name, dict(schema or {})) for name, schema in schemas.items()]


def _number(text: str, kind: str) -> int | float:
    if kind == "integer":
        return int(text)
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _parse_one(field: FormField, text: str) -> Any:
    kind = field.type
    if field.enum is not None:
        for option in field.enum:
            if field.option_value(option) == text:
                return option
        raise ValueError(f"must be one of {', '.join(field.option_value(o) for o in field.enum)}")
    if kind == "string":
        return text
    stripped = text.strip()
    if kind in ("integer", "number"):
        if not stripped:
            raise ValueError("required")
        try:
            return _number(stripped, kind)
        except ValueError:
            raise ValueError(
                f"expected {'an integer' if kind == 'integer' else 'a number'}, got {stripped!r}"
            ) from None
    if kind == "array":
        if stripped.startswith("["):
            value = _json(stripped, "a JSON array")
            if not isinstance(value, list):
                raise ValueError("expected a JSON array")
            return value
        if is_message_schema(field.schema):  # the text is one user message
            return [stripped] if stripped else []
        items = FormField("item", dict(field.schema.get("items") or {"type": "string"}))
        return [_parse_one(items, line.strip()) for line in stripped.splitlines() if line.strip()]
    if kind == "object":
        if not stripped:
            return {}
        value = _json(stripped, "a JSON object")
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value
    return text


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"expected {what} ({exc.msg} at column {exc.colno})") from None


def parse_form(
    fields: list[FormField], values: Mapping[str, str], *, prefix: str = "input"
) -> tuple[dict[str, Any], dict[str, str]]:
    """The typed input and, per field name, the problems (``input.count: expected an integer``)."""
    given: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for field in fields:
        if field.widget == "checkbox":
            given[field.name] = values.get(field.name, "") in ("true", "on", "1")
            continue
        try:
            given[field.name] = _parse_one(field, values.get(field.name, ""))
        except ValueError as exc:
            problems[field.name] = f"{prefix}.{field.name}: {exc}"
    return given, problems
