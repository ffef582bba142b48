"""Branch conditions: CEL over ``state``, compiled once per Workflow version."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import cel

_STRING = re.compile(r"""(?s)(\"\"\".*?\"\"\"|'''.*?'''|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')""")
_MEMBER = re.compile(r"\bstate\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_INDEX = re.compile(r"""\bstate\s*\[\s*["']([^"']+)["']\s*\]""")
_COMPREHENSION = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


class ExpressionError(ValueError):
    pass


@lru_cache(maxsize=4096)
def compile_condition(source: str) -> Any:
    try:
        return cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        first = str(exc).splitlines()[0]
        raise ExpressionError(f"CEL does not parse: {first}") from exc


def referenced_fields(source: str) -> tuple[set[str], set[str]]:
    """(state fields read, other variables named) by a condition; raises when it does not parse."""
    program = compile_condition(source)
    without_strings = _STRING.sub('""', source)
    fields = set(_MEMBER.findall(without_strings))
    for literal in _INDEX.findall(source):
        fields.add(literal)
    bound = set(_COMPREHENSION.findall(without_strings))
    others = {v for v in program.variables() if v != "state" and v not in bound}
    return fields, others


def evaluate(source: str, state: dict[str, Any]) -> bool:
    """Evaluate a condition; anything but ``true`` is false, and errors are the author's to fix."""
    try:
        result = compile_condition(source).execute({"state": state})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ExpressionError(f"condition {source!r} failed: {exc}") from exc
    return result is True
