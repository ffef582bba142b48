"""Prompt templates: Jinja2 in a sandbox, compiled once per Workflow version."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from agent_runtime.errors import AgentRuntimeError

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_ENV.filters["json"] = lambda v: json.dumps(v, ensure_ascii=False)


class TemplateError(AgentRuntimeError, ValueError):
    code = "invalid_template"


def referenced_names(source: str) -> set[str]:
    """The top-level variables a template reads; raises TemplateError when it does not parse."""
    try:
        return set(meta.find_undeclared_variables(_ENV.parse(source)))
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template does not parse: {exc.message} (line {exc.lineno})") from exc


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Any:
    return _ENV.from_string(source)


def render(source: str, state: dict[str, Any]) -> str:
    """Render with the state fields as top-level variables (and the whole state as ``state``)."""
    if "{" not in source:
        return source
    try:
        return str(compile_template(source).render({**state, "state": state}))
    except Exception as exc:  # any template failure is the author's
        raise TemplateError(f"template failed: {exc}") from exc


def render_value(value: Any, state: dict[str, Any]) -> Any:
    """Render every string in a JSON-like value; a lone ``{{ field }}`` keeps the field's type."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
            name = stripped[2:-2].strip()
            if name in state:
                return state[name]
        return render(value, state)
    if isinstance(value, list):
        return [render_value(v, state) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, state) for k, v in value.items()}
    return value
