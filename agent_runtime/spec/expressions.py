"""Branch conditions: CEL over ``state``, compiled once per Workflow version.

The ``cel`` library (Rust) checks and evaluates a condition; which state fields and other names
it reads comes from cel-python's syntax tree, since the Rust binding exposes none.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from agent_runtime.spec.errors import Problem, SpecError

if TYPE_CHECKING:
    from lark import Token, Tree

#: A lark Tree (``.data``, ``.children``) or Token (a ``str`` with ``.type``) of cel-python's
#: parse; lark is imported only when a condition is checked.
_Node = Any
#: Macros whose first argument names a variable bound in the others: ``list.all(x, x > 0)``.
_MACROS = {"all", "exists", "exists_one", "map", "filter"}


class ExpressionError(SpecError):
    """A condition that does not parse, or fails on a run's state: its author's to fix."""

    def __init__(self, message: str) -> None:
        super().__init__([Problem("", message)])


def _does_not_parse(exc: Exception) -> ExpressionError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ExpressionError(f"CEL does not parse: {first}")


def _cel() -> Any:
    """The ``cel`` binding, without its REPL.

    The package's ``__init__`` imports its command line, ``cel.cli``, and so typer, rich,
    prompt_toolkit and pygments: a fifth of a second at first use and 21 MB in each image, for a
    REPL nothing here runs. An empty ``cel.cli`` stands in for it (when the real one is not loaded
    already), so the images leave those packages out (requirements/image.excludes); the
    architecture tests compile and evaluate conditions with them blocked.
    """
    if "cel" not in sys.modules:
        sys.modules.setdefault("cel.cli", ModuleType("cel.cli"))
    import cel

    return cel


@lru_cache(maxsize=4096)
def compile_condition(source: str) -> Any:
    cel = _cel()
    try:
        return cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        raise _does_not_parse(exc) from exc


@lru_cache(maxsize=1024)
def _syntax_tree(source: str) -> Tree[Token]:
    from celpy.celparser import CELParseError, CELParser  # its import takes a fifth of a second
    from lark.exceptions import LarkError

    try:
        return CELParser().parse(source)
    except (CELParseError, LarkError) as exc:
        raise _does_not_parse(exc) from exc


@dataclass
class _Names:
    """What a syntax tree reads: ``state.<field>`` (or ``state["field"]``) and free names."""

    fields: set[str] = field(default_factory=set)
    others: set[str] = field(default_factory=set)

    def visit(self, node: _Node, bound: frozenset[str]) -> None:
        if not hasattr(node, "data"):
            return  # a token: operators, literals, member and function names
        kind, children = node.data, node.children
        if kind in ("ident", "dot_ident"):  # ``.name`` is a name of its own to CEL
            name = ("." if kind == "dot_ident" else "") + str(children[0])
            if name not in bound and name != "state":
                self.others.add(name)
            return
        if kind == "member_object":  # ``Type{field: value}``: a message type, no variable
            children = children[1:]
        if kind in ("member_dot", "member_index") and _identifier(children[0]) == "state":
            if "state" not in bound:
                key = _field_key(kind, children[1])
                if key is not None:
                    self.fields.add(key)
                    return
        if kind == "member_dot_arg" and str(children[1]) in _MACROS and len(children) > 2:
            variable, *body = children[2].children
            if bound_name := _identifier(variable):
                self.visit(children[0], bound)
                for part in body:
                    self.visit(part, bound | {bound_name})
                return
        for child in children:
            self.visit(child, bound)


def _sole(node: _Node) -> _Node:
    """The node an expression of one term comes down to (``expr -> ... -> primary -> ident``)."""
    while hasattr(node, "data") and len(node.children) == 1 and node.data != "ident":
        node = node.children[0]
    return node


def _identifier(node: _Node) -> str | None:
    """The identifier when ``node`` is just one (``state``, or a macro's variable)."""
    sole = _sole(node)
    return str(sole.children[0]) if getattr(sole, "data", None) == "ident" else None


def _field_key(kind: str, key: _Node) -> str | None:
    """``a`` of ``state.a``; ``a`` of ``state["a"]``; None for ``state[k]`` (not known)."""
    if kind == "member_dot":
        return str(key)
    literal = _sole(key)
    if getattr(literal, "type", None) in ("STRING_LIT", "MLSTRING_LIT"):
        from celpy.evaluation import celstr

        return str(celstr(cast("Token", literal)))
    return None


def referenced_fields(source: str) -> tuple[set[str], set[str]]:
    """(state fields read, other variables named) by a condition; raises when it does not parse."""
    compile_condition(source)
    names = _Names()
    names.visit(_syntax_tree(source), frozenset())
    return names.fields, names.others


def evaluate(source: str, state: dict[str, Any]) -> bool:
    """Evaluate a condition; anything but ``true`` is false, and errors are the author's to fix."""
    try:
        result = compile_condition(source).execute({"state": state})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ExpressionError(f"condition {source!r} failed: {exc}") from exc
    return result is True
