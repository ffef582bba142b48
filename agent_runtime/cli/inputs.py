"""Parsing ``--input k=v`` by each field's declared type, and ``--input-json``."""

from __future__ import annotations

import json
from typing import Any

from agent_runtime.spec.run_input import InputError
from agent_runtime.spec.state import StateField

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


def _parse(name: str, field: StateField | None, raw: str) -> Any:
    kind = field.type if field else "string"
    try:
        if kind == "string":
            return raw
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "messages" and not raw.lstrip().startswith(("[", "{")):
            return raw  # a plain text is one user message
        if kind == "boolean":
            low = raw.strip().lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise ValueError
        return json.loads(raw)
    except ValueError:
        raise InputError([f"--input {name}: expected {kind}, got {raw!r}"]) from None


def parse_inputs(
    pairs: tuple[str, ...], raw_json: str | None, fields: dict[str, StateField]
) -> dict[str, Any]:
    """``--input-json`` first, then each ``--input k=v`` over it; unknown keys are checked later."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    if raw_json:
        try:
            decoded = json.loads(raw_json)
        except json.JSONDecodeError as exc:
            raise InputError(
                [f"--input-json: invalid JSON: {exc.msg} at column {exc.colno}"]
            ) from None
        if not isinstance(decoded, dict):
            raise InputError(["--input-json: expected a JSON object"])
        values.update(decoded)
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(f"--input {pair!r}: expected key=value")
            continue
        try:
            values[name] = _parse(name, fields.get(name), raw)
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    return values
