"""Turning a pydantic JSON Schema into a Kubernetes *structural* schema.

References inlined, ``title`` dropped, ``anyOf`` with null turned into ``nullable``, unions of a
string and an object (and recursive or free-form values) kept as
``x-kubernetes-preserve-unknown-fields``, and a discriminated union merged into one object whose
per-type fields are enforced by CEL rules; the bounds and rules of ``crd_rules`` added by path.
"""

from __future__ import annotations

import copy

from agent_runtime.spec.common import DURATION_PATTERN, format_duration
from agent_runtime.spec.crd_rules import (
    DURATION_MAX_LENGTH,
    LIMITS,
    PRESERVE,
    RULES,
    VALIDATIONS,
    Schema,
    cel_rule,
)


def _preserve(description: str = "", *, object_: bool = False) -> Schema:
    out: Schema = {"type": "object"} if object_ else {}
    if description:
        out["description"] = description
    out[PRESERVE] = True
    return out


def _exposed(schema: Schema) -> bool:
    """Whether the apiserver exposes a field of this schema to CEL rules."""
    kind = schema.get("type")
    if kind == "array":
        return _exposed(schema.get("items", {}))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return _exposed(schema["additionalProperties"])
    return kind is not None


class StructuralConverter:
    """Turns one pydantic JSON Schema into a structural schema."""

    def __init__(self, defs: dict[str, Schema]) -> None:
        self.defs = defs

    def convert(self, schema: Schema, path: str, stack: tuple[str, ...] = ()) -> Schema:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            if name in stack:  # recursive: one level is typed, deeper levels are kept as they are
                return _preserve(self.defs[name].get("description", ""), object_=True)
            return self.convert({**self.defs[name], **rest}, path, (*stack, name))
        if "oneOf" in schema and "discriminator" in schema:
            return self._finish(self._union(schema, path, stack), path)
        if "anyOf" in schema:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            members = [m for m in schema["anyOf"] if m != {"type": "null"}]
            if len(members) == 1:
                out = self.convert({**members[0], **rest}, path, stack)
                if len(members) < len(schema["anyOf"]):
                    out = _with_nullable(out)
                return out
            # A string or an object (or a string or a list): no structural type can say it.
            return self._finish(_preserve(schema.get("description", "")), path)
        return self._finish(self._plain(schema, path, stack), path)

    def _plain(self, schema: Schema, path: str, stack: tuple[str, ...]) -> Schema:
        kind = schema.get("type")
        if "const" in schema:
            kind = kind or "string"
        if kind is None:  # Any
            return _preserve(schema.get("description", ""))
        out: Schema = {"type": kind}
        if schema.get("description"):
            out["description"] = schema["description"]
        if "const" in schema:
            out["enum"] = [schema["const"]]
        if kind == "object":
            props = schema.get("properties") or {}
            if props:
                out["properties"] = {
                    name: self.convert(sub, f"{path}.{name}", stack) for name, sub in props.items()
                }
                required = [r for r in schema.get("required", []) if r in props]
                if required:
                    out["required"] = required
            extra = schema.get("additionalProperties")
            if extra is True or extra == {}:
                out[PRESERVE] = True
            elif isinstance(extra, dict) and not props:
                out["additionalProperties"] = self.convert(extra, f"{path}{{}}", stack)
            elif not props and extra is not False:
                out[PRESERVE] = True  # a bare ``dict``
        elif kind == "array":
            items = schema.get("items") or {}
            out["items"] = self.convert(items, f"{path}[]", stack) if items else _preserve()
        for key in (
            "enum", "minimum", "maximum", "minLength", "maxLength", "pattern",
            "minItems", "maxItems", "minProperties", "maxProperties",
        ):  # fmt: skip
            if key in schema:
                out[key] = schema[key]
        for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if isinstance(schema.get(key), int | float) and not isinstance(schema[key], bool):
                out[bound] = schema[key]
                out[key] = True
        if schema.get("pattern") == DURATION_PATTERN:
            out.setdefault("maxLength", DURATION_MAX_LENGTH)
        default = schema.get("default")
        if default is not None:
            if schema.get("pattern") == DURATION_PATTERN and isinstance(default, int | float):
                default = format_duration(float(default))
            out["default"] = default
        return out

    def _union(self, schema: Schema, path: str, stack: tuple[str, ...]) -> Schema:
        """Merge a discriminated union into one object; CEL rules say which type takes what."""
        tag = schema["discriminator"]["propertyName"]
        variants: dict[str, Schema] = {}
        for member in schema["oneOf"]:
            name = member["$ref"].rsplit("/", 1)[-1]
            definition = self.defs[name]
            variants[definition["properties"][tag]["const"]] = definition
        types = list(variants)
        merged: dict[str, list[tuple[str, Schema]]] = {}
        for type_, definition in variants.items():
            for prop, sub in definition["properties"].items():
                if prop != tag:
                    converted = self.convert(sub, f"{path}.{prop}", stack)
                    merged.setdefault(prop, []).append((type_, converted))
        required = [
            r for r in variants[types[0]].get("required", [])
            if all(r in d.get("required", []) for d in variants.values())
        ]  # fmt: skip
        properties: Schema = {
            tag: {"type": "string", "description": " | ".join(types), "enum": types}
        }
        rules: list[Schema] = []
        for prop, versions in merged.items():
            properties[prop] = _merge_property([s for _, s in versions], len(types))
            allowed = [t for t, _ in versions]
            if len(allowed) < len(types) and _exposed(properties[prop]):
                rules.append(
                    cel_rule(
                        f"{_type_in(tag, allowed)} || !has(self.{prop})",
                        f"only {_and(allowed)} nodes take '{prop}'",
                        f".{prop}",
                    )
                )
        for type_, definition in variants.items():
            for prop in definition.get("required", []):
                if prop not in required and _exposed(properties[prop]):
                    rules.append(
                        cel_rule(
                            f"self.{tag} != '{type_}' || has(self.{prop})",
                            f"{type_} nodes need '{prop}'",
                            f".{prop}",
                        )
                    )
        out: Schema = {
            "type": "object",
            "description": "A graph node; which fields it takes depends on its type.",
            "properties": properties,
            "required": [tag, *[r for r in required if r != tag]],
        }
        if rules:
            out[VALIDATIONS] = rules
        return out

    def _finish(self, out: Schema, path: str) -> Schema:
        out = {**out, **LIMITS.get(path, {})}
        rules = RULES.get(path, [])
        if rules:
            out[VALIDATIONS] = [*out.get(VALIDATIONS, []), *copy.deepcopy(rules)]
        return out


def _with_nullable(schema: Schema) -> Schema:
    out: Schema = {}
    for key, value in schema.items():
        out[key] = value
        if key == "type" or (key == "description" and "type" not in schema):
            out["nullable"] = True
    out.setdefault("nullable", True)
    return out


def _merge_property(versions: list[Schema], variant_count: int) -> Schema:
    def shape(s: Schema) -> Schema:
        return {k: v for k, v in s.items() if k not in ("default", "description")}

    first = versions[0]
    if all(shape(v) == shape(first) for v in versions):
        out = dict(first)
        defaults = [v.get("default") for v in versions]
        if len(versions) < variant_count or any(d != defaults[0] for d in defaults):
            out.pop("default", None)  # a default would give the field to types that reject it
        return out
    return _preserve(next((v["description"] for v in versions if v.get("description")), ""))


def _type_in(tag: str, allowed: list[str]) -> str:
    if len(allowed) == 1:
        return f"self.{tag} == '{allowed[0]}'"
    return f"self.{tag} in {allowed}"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
