"""The typed graph state: field types, reducers and their zero values."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from agent_runtime.spec.common import SpecModel
from agent_runtime.spec.messages import MESSAGE_SCHEMA, check_messages

FieldType = Literal["string", "integer", "number", "boolean", "array", "object", "messages"]
Reducer = Literal["replace", "append", "merge", "sum"]

#: Which field types each reducer can merge; ``append`` on messages is LangGraph's add_messages.
REDUCER_TYPES: dict[str, tuple[str, ...]] = {
    "replace": ("string", "integer", "number", "boolean", "array", "object", "messages"),
    "append": ("array", "messages"),
    "merge": ("object",),
    "sum": ("integer", "number"),
}

_ZERO: dict[str, Any] = {
    "string": "",
    "integer": 0,
    "number": 0.0,
    "boolean": False,
    "array": [],
    "object": {},
    "messages": [],
}

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "messages": (list,),
}


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class StateField(SpecModel):
    """One field of the graph state, or of a node's output, described in a JSON Schema subset."""

    type: FieldType
    description: str = ""
    items: StateField | None = None
    properties: dict[str, StateField] | None = None
    enum: list[Any] | None = None
    default: Any = None
    #: ``replace`` by default; ``append`` (add_messages) for a messages field. The CRD has no
    #: default here, so the apiserver does not write ``replace`` into a messages field.
    reducer: Reducer = Field(default="replace", json_schema_extra=_no_default)

    @model_validator(mode="before")
    @classmethod
    def _messages_append(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "messages" and "reducer" not in data:
            return {**data, "reducer": "append"}
        return data

    def zero(self) -> Any:
        """The value a field holds before anything writes it: its default, else its type's zero."""
        if self.default is not None:
            return self.default
        value = _ZERO[self.type]
        return value.copy() if isinstance(value, list | dict) else value

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema given to models for structured output and checked on resume input."""
        if self.type == "messages":
            return {"type": "array", "items": MESSAGE_SCHEMA} | (
                {"description": self.description} if self.description else {}
            )
        schema: dict[str, Any] = {"type": self.type}
        if self.description:
            schema["description"] = self.description
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.type == "array":
            schema["items"] = self.items.json_schema() if self.items else {}
        if self.type == "object" and self.properties is not None:
            schema["properties"] = {k: v.json_schema() for k, v in self.properties.items()}
            schema["required"] = list(self.properties)
            schema["additionalProperties"] = False
        return schema

    def check(self, value: Any) -> str | None:
        """Why ``value`` does not fit this field, or None when it does."""
        if self.type == "messages":  # a list, one message, or a string (a user message)
            return check_messages(value)
        expected = _PYTHON_TYPES[self.type]
        if isinstance(value, bool) and self.type != "boolean":
            return f"expected {self.type}, got boolean"
        if not isinstance(value, expected):
            return f"expected {self.type}, got {type_name(value)}"
        if self.enum is not None and value not in self.enum:
            return f"must be one of {self.enum}"
        if self.type == "array" and self.items is not None and isinstance(value, list):
            for i, item in enumerate(value):
                why = self.items.check(item)
                if why:
                    return f"[{i}]: {why}"
        if self.type == "object" and self.properties is not None and isinstance(value, dict):
            for key, sub in self.properties.items():
                if key in value:
                    why = sub.check(value[key])
                    if why:
                        return f".{key}: {why}"
        return None

    def compatible_with(self, other: StateField) -> bool:
        """Whether a node output declared as ``self`` can be written into state field ``other``."""
        if self.type == other.type:
            return True
        return self.type == "integer" and other.type == "number"


def type_name(value: Any) -> str:
    for name, types in _PYTHON_TYPES.items():
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, types) and name != "number":
            return name
    if isinstance(value, float):
        return "number"
    return "null" if value is None else type(value).__name__
