"""A valid Workflow document and a way to derive single-edit invalid variants of it."""

from __future__ import annotations

import copy
import re
from typing import Any

BASE: dict[str, Any] = {
    "apiVersion": "configurable-agents.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "research-brief", "namespace": "demo"},
    "spec": {
        "description": "Research a topic and write a brief",
        "state": {
            "topic": {"type": "string"},
            "notes": {"type": "string"},
            "sources": {"type": "array", "items": {"type": "string"}, "reducer": "append"},
            "draft": {"type": "string"},
            "approved": {"type": "boolean"},
        },
        "input": ["topic"],
        "output": ["draft", "sources"],
        "models": {"default": {"provider": "scripted", "responses": ["ok"]}},
        "tools": [{"name": "search", "function": "pkg.mod:search"}],
        "nodes": [
            {
                "name": "research",
                "type": "llm",
                "capability": "web-research",
                "system": "You are a careful researcher.",
                "prompt": "List the key facts about {{ topic }}.",
                "tools": ["http_get", "search"],
                "output": {
                    "notes": {"type": "string"},
                    "sources": {"type": "array", "items": {"type": "string"}},
                },
                "retry": {
                    "maxAttempts": 3,
                    "initialDelay": "1s",
                    "backoff": 2.0,
                    "maxDelay": "30s",
                },
                "timeout": "60s",
            },
            {
                "name": "write",
                "type": "llm",
                "prompt": "Brief on {{ topic }}: {{ notes }}",
                "output": "draft",
            },
            {
                "name": "fetch",
                "type": "tool",
                "tool": "http_get",
                "args": {"url": "https://x/{{ topic }}"},
            },
            {"name": "check", "type": "router"},
            {
                "name": "review",
                "type": "human",
                "prompt": "Approve {{ draft }}?",
                "output": {"approved": {"type": "boolean"}},
            },
        ],
        "edges": [
            {"from": "START", "to": "research"},
            {"from": "research", "to": "fetch"},
            {"from": ["research", "fetch"], "to": "write"},
            {"from": "write", "to": "check"},
            {
                "from": "check",
                "branches": [{"when": "state.draft == ''", "to": "write"}, {"to": "review"}],
            },
            {
                "from": "review",
                "branches": [{"when": "state.approved", "to": "END"}, {"to": "write"}],
            },
        ],
        "limits": {"maxSteps": 50, "timeout": "10m"},
    },
}

DELETE = object()


def edits(*changes: tuple[str, Any]) -> dict[str, Any]:
    """BASE with each ``(path, value)`` applied: ``a.b[2].c``; a last part ``+`` appends."""
    doc = copy.deepcopy(BASE)
    for path, value in changes:
        *parents, last = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
        target: Any = doc
        for part in parents:
            target = target[part]
        if value is DELETE:
            del target[last]
        elif last == "+":
            target.append(value)
        else:
            target[last] = value
    return doc
