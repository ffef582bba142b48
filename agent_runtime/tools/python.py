"""Python callables as tools, by import path (``{function: "pkg.module:fn"}``).

Only paths the platform tool policy allows (``allowedFunctions``) are imported; any other is
refused on its text, before its module is imported. The arguments' JSON schema comes from the
signature and type hints through a pydantic model, which also validates the model's arguments
before the call. Sync functions run in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
from typing import Any

import pydantic
from pydantic_core import PydanticSerializationError, to_jsonable_python

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools.base import Tool, ToolError
from agent_runtime.tools.egress import Resolver
from agent_runtime.tools.policy import check_function, policy_or_default


def load_callable(path: str) -> Any:
    """Import ``pkg.module:attr.attr``; ToolError naming the path when that fails."""
    module_name, _, attr_path = path.partition(":")
    if not module_name or not attr_path:
        raise ToolError(f"function {path!r}: expected 'pkg.module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import runs arbitrary code: any error is the module's
        raise ToolError(
            f"function {path!r}: cannot import module '{module_name}': {type(exc).__name__}: {exc}"
        ) from exc
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise ToolError(
                f"function {path!r}: module '{module_name}' has no attribute '{attr_path}'"
            ) from None
    if not callable(target):
        raise ToolError(
            f"function {path!r}: '{attr_path}' is a {type(target).__name__}, not callable"
        )
    return target


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    paragraph = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(paragraph.split())


def _is_async(fn: Any) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


class PythonTool(Tool):
    """Calls a Python function; arguments validated by a pydantic model built from its signature."""

    def __init__(self, *, name: str, description: str, path: str, fn: Any) -> None:
        self.name = name
        self.path = path
        self._fn = fn
        self._async = _is_async(fn)
        try:
            signature = inspect.signature(fn, eval_str=True)
        except (NameError, TypeError, ValueError) as exc:
            raise ToolError(
                f"function {path!r}: cannot read its signature: {type(exc).__name__}: {exc}"
            ) from exc
        self._positional_only: list[str] = []
        # Field names are internal (p0, p1, ...) with the parameter names as aliases, so that
        # parameters such as "json" or "model_config" cannot clash with BaseModel's attributes.
        self._fields: dict[str, str] = {}
        definitions: dict[str, Any] = {}
        for index, param in enumerate(signature.parameters.values()):
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ToolError(
                    f"function {path!r}: parameter '{param.name}' is *args or **kwargs, "
                    "which a tool's JSON schema cannot describe"
                )
            if param.kind is param.POSITIONAL_ONLY:
                self._positional_only.append(param.name)
            annotation = Any if param.annotation is param.empty else param.annotation
            default = ... if param.default is param.empty else param.default
            field = f"p{index}"
            self._fields[field] = param.name
            definitions[field] = (annotation, pydantic.Field(default, alias=param.name))
        try:
            self._model: type[pydantic.BaseModel] = pydantic.create_model(
                getattr(fn, "__name__", name),
                __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True),
                **definitions,
            )
            schema = self._model.model_json_schema(by_alias=True)
        except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError) as exc:
            raise ToolError(f"function {path!r}: cannot derive an argument schema: {exc}") from exc
        schema.pop("title", None)
        schema.setdefault("properties", {})
        self.parameters = schema
        self.description = (
            description
            or _first_paragraph(inspect.getdoc(fn))
            or f"Calls the Python function {path}."
        )

    @classmethod
    async def create(
        cls,
        spec: ToolSpec,
        *,
        policy: ToolPolicy | None = None,
        resolver: Resolver | None = None,
    ) -> PythonTool:
        """Import the function if the platform ``policy`` (else the environment's) allows it.

        ``resolver`` is taken for the kinds' common signature; a function connects on its own.
        """
        path = check_function(spec, policy_or_default(policy))
        fn = load_callable(path)
        return cls(name=spec.name, description=spec.description, path=path, fn=fn)

    def validate(self, args: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the call; ToolError naming the bad ones."""
        try:
            model = self._model.model_validate(args)
        except pydantic.ValidationError as exc:
            problems: dict[str, list[str]] = {}
            for error in exc.errors(include_url=False):
                where = ".".join(str(part) for part in error["loc"]) or "(arguments)"
                problems.setdefault(where, []).append(error["msg"])
            names = ", ".join(problems)
            detail = "; ".join(f"{k}: {' / '.join(v)}" for k, v in problems.items())
            raise ToolError(f"{self.name}: bad arguments {names} ({detail})") from None
        values = {alias: getattr(model, field) for field, alias in self._fields.items()}
        positional = [values.pop(p) for p in self._positional_only]
        return positional, values

    async def call(self, args: dict[str, Any]) -> Any:
        if not isinstance(args, dict):
            raise ToolError(f"{self.name}: arguments must be an object, got {type(args).__name__}")
        positional, keywords = self.validate(args)
        try:
            if self._async:
                result = await self._fn(*positional, **keywords)
            else:
                result = await asyncio.to_thread(self._fn, *positional, **keywords)
                if inspect.isawaitable(result):
                    result = await result
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(
                f"{self.name}: {self.path} raised {type(exc).__name__}: {exc}",
                retryable=True,  # the node's retry policy decides; only set-up errors are permanent
            ) from exc
        try:
            return to_jsonable_python(result)
        except PydanticSerializationError as exc:
            raise ToolError(
                f"{self.name}: {self.path} returned a {type(result).__name__}, "
                f"which cannot be turned into JSON: {exc}"
            ) from exc
