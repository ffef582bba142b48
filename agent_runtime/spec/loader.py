"""Reading YAML documents into spec models, with every error named by its field path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent_runtime.spec.agentpool import AgentPool
from agent_runtime.spec.errors import Problem, SpecError, join_path
from agent_runtime.spec.trigger import Trigger
from agent_runtime.spec.workflow import Workflow

Resource = Workflow | AgentPool | Trigger
KINDS: dict[str, type[Resource]] = {
    "Workflow": Workflow,
    "AgentPool": AgentPool,
    "Trigger": Trigger,
}


def problems_from(exc: ValidationError) -> list[Problem]:
    """Flatten pydantic's errors; our own SpecError inside a validator keeps its paths."""
    problems: list[Problem] = []
    members: dict[str, list[Any]] = {}  # errors of a union's members, by the union's path
    fitted: set[str] = set()  # unions whose value fits a member and fails deeper inside it
    for err in exc.errors():
        loc = _without_union_tags(err["loc"])
        path = join_path(loc)
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, SpecError):
            problems += [p.under(path) for p in inner.problems]
            continue
        for i, part in enumerate(err["loc"][:-1]):
            if isinstance(part, str) and _MEMBER_TAG.match(part):
                fitted.add(join_path(_without_union_tags(err["loc"][:i])))
        if _MEMBER_TAG.match(str(err["loc"][-1])) and len(loc) < len(err["loc"]):
            if path not in members:
                members[path] = []
                problems.append(Problem(path, _UNION))  # filled in below, keeping the order
            members[path].append(err)
            continue
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "union_tag_invalid":
            message = (
                f"unknown type {err['input'].get('type')!r}: expected llm, tool, router or human"
            )
            if isinstance(err["input"], dict):
                path = f"{path}.type" if path else "type"
        elif err["type"] == "union_tag_not_found":
            message = "required field is missing: a node needs a type: llm, tool, router or human"
            path = f"{path}.type" if path else "type"
        elif err["type"] == "literal_error" and loc and loc[-1] in ("kind", "apiVersion"):
            message = f"expected {err['ctx']['expected']}, got {err['input']!r}"
        # A value error raised for a named sub-field ("responses: ...") points at that field.
        head, sep, rest = message.partition(": ")
        if sep and head.replace(".", "").isidentifier() and " " not in head:
            path, message = f"{path}.{head}" if path else head, rest
        problems.append(Problem(path, message))
    out = []
    for problem in problems:
        if problem.message is _UNION:
            message = _union_message(members[problem.path], fitted=problem.path in fitted)
            if not message:
                continue
            problem = Problem(problem.path, message)
        out.append(problem)
    return out


_UNION = "<union>"
_NODE_TYPES = ("llm", "tool", "router", "human")
#: How pydantic names the members of a plain union in an error location (``str``, ``list[str]``,
#: ``constrained-str``, ``dict[str,StateField]``).
_MEMBER_TAG = re.compile(r"^(str|int|float|bool|constrained-\w+|\w+\[.*\])$")
_NESTED_MEMBER_TAG = re.compile(r"^(constrained-\w+|\w+\[.*\])$")


def _without_union_tags(loc: tuple[str | int, ...]) -> list[str | int]:
    """Drop the union tags from an error location, leaving fields and indexes.

    A node's type follows its index in ``nodes``; a plain union's member is named after the
    union's field (a bare ``str`` only as the last part, so a field named ``str`` stays).
    """
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if part in _NODE_TYPES and i >= 2 and isinstance(loc[i - 1], int) and loc[i - 2] == "nodes":
            continue
        if i > 0 and isinstance(part, str):
            tag = _MEMBER_TAG if i == len(loc) - 1 else _NESTED_MEMBER_TAG
            if tag.match(part):
                continue
        out.append(part)
    return out


def _union_message(errors: list[Any], *, fitted: bool) -> str:
    """One message for a value no member of a union accepts ("" when a deeper error explains).

    A member whose type fits the value but whose constraint fails explains best; when no member's
    type fits, name the types the field takes.
    """
    fitting = [e for e in errors if not e["type"].endswith("_type")]
    if fitting:
        return str(fitting[0]["msg"]).removeprefix("Value error, ")
    if fitted:
        return ""
    kinds = [str(e["msg"]).removeprefix("Input should be ") for e in errors]
    return "Input should be " + " or ".join(kinds)


def parse_resource(doc: Any, *, source: str = "") -> Resource:
    """Validate one decoded document as a Workflow, AgentPool or Trigger."""
    if not isinstance(doc, dict):
        raise SpecError(
            [Problem("", "expected a mapping with apiVersion, kind, metadata and spec")],
            source=source,
        )
    kind = doc.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise SpecError(
            [Problem("kind", f"expected Workflow, AgentPool or Trigger, got {kind!r}")],
            source=source,
        )
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise SpecError(problems_from(exc), source=source) from None


def parse_workflow(doc: Any, *, source: str = "") -> Workflow:
    resource = parse_resource(doc, source=source)
    if not isinstance(resource, Workflow):
        raise SpecError([Problem("kind", "expected a Workflow")], source=source)
    return resource


def load_documents(text: str, *, source: str = "") -> list[Any]:
    """Decode a YAML stream; a syntax error names the line and column."""
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and start and mark and start.line != mark.line:
            problem += f" ({context} started on line {start.line + 1})"
        raise SpecError([Problem("", f"invalid YAML: {where}{problem}")], source=source) from None


def load_file(path: str | os.PathLike[str]) -> list[Resource]:
    """Every Workflow, AgentPool and Trigger in a YAML file; other kinds are skipped, errors
    collected."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem("", "no such file")], source=str(p)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SpecError(
            [Problem("", f"cannot read: {exc.__class__.__name__}")], source=str(p)
        ) from None
    resources: list[Resource] = []
    problems: list[Problem] = []
    docs = load_documents(text, source=str(p))
    for i, doc in enumerate(docs):
        if isinstance(doc, dict) and doc.get("kind") not in KINDS and "kind" in doc:
            continue  # other Kubernetes objects may share the file
        try:
            resources.append(parse_resource(doc))
        except SpecError as exc:
            label = f"document {i + 1}: " if len(docs) > 1 else ""
            problems += [
                Problem(p_.path, label + p_.message) if label else p_ for p_ in exc.problems
            ]
    if problems:
        raise SpecError(problems, source=str(p))
    return resources


def pick_workflow(
    path: str | os.PathLike[str], name: str | None = None, *, choose_with: str = "--workflow"
) -> Workflow:
    """The one Workflow of a YAML file, or the one called ``name``; ``choose_with`` is what the
    caller sets ``name`` with, named when the file holds several."""
    workflows = [r for r in load_file(path) if isinstance(r, Workflow)]
    if name:
        workflows = [w for w in workflows if w.name == name]
    if len(workflows) == 1:
        return workflows[0]
    what = f"no Workflow named {name!r}" if name else "no Workflow"
    if len(workflows) > 1:
        names = ", ".join(w.name for w in workflows)
        what = f"{len(workflows)} Workflows ({names}); choose one with {choose_with}"
    raise SpecError([Problem("", what)], source=os.fspath(path))
