"""Reading YAML documents into spec models, with every error named by its field path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent_runtime.spec.agentpool import AgentPool
from agent_runtime.spec.errors import Problem, SpecError, join_path
from agent_runtime.spec.workflow import Workflow

KINDS: dict[str, type[Workflow] | type[AgentPool]] = {"Workflow": Workflow, "AgentPool": AgentPool}
Resource = Workflow | AgentPool


def problems_from(exc: ValidationError) -> list[Problem]:
    """Flatten pydantic's errors; our own SpecError inside a validator keeps its paths."""
    problems: list[Problem] = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not _is_union_tag(p)]
        path = join_path(loc)
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, SpecError):
            problems += [p.under(path) for p in inner.problems]
            continue
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "union_tag_invalid":
            message = f"unknown type {err['input'].get('type')!r}: expected llm, tool, router or human"
            if isinstance(err["input"], dict):
                path = f"{path}.type" if path else "type"
        elif err["type"] == "literal_error" and loc and loc[-1] in ("kind", "apiVersion"):
            message = f"expected {err['ctx']['expected']}, got {err['input']!r}"
        # A value error raised for a named sub-field ("responses: ...") points at that field.
        head, sep, rest = message.partition(": ")
        if sep and head.replace(".", "").isidentifier() and " " not in head:
            path, message = f"{path}.{head}" if path else head, rest
        problems.append(Problem(path, message))
    return problems


def _is_union_tag(part: str | int) -> bool:
    return part in ("llm", "tool", "router", "human") or (
        isinstance(part, str) and part.startswith(("str", "dict["))
    )


def parse_resource(doc: Any, *, source: str = "") -> Resource:
    """Validate one decoded document as a Workflow or AgentPool."""
    if not isinstance(doc, dict):
        raise SpecError([Problem("", "expected a mapping with apiVersion, kind, metadata and spec")], source=source)
    kind = doc.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise SpecError(
            [Problem("kind", f"expected Workflow or AgentPool, got {kind!r}")], source=source
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
        raise SpecError([Problem("", f"invalid YAML: {where}{problem}")], source=source) from None


def load_file(path: str | Path) -> list[Resource]:
    """Every Workflow and AgentPool in a YAML file; other kinds are skipped, errors collected."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem("", "no such file")], source=str(p)) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise SpecError([Problem("", f"cannot read: {exc.__class__.__name__}")], source=str(p)) from None
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
            problems += [Problem(p_.path, label + p_.message) if label else p_ for p_ in exc.problems]
    if problems:
        raise SpecError(problems, source=str(p))
    return resources
