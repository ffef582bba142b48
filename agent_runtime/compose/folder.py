"""A folder of Workflows, AgentPools and Triggers, read as the gateway's ``--workflows`` reads it
(every ``*.yaml`` and ``*.yml`` below it), except that a broken file stops the compose file from
being written instead of being listed as a broken Workflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agent_runtime.spec import SpecError, Workflow
from agent_runtime.spec.agentpool import AgentPool
from agent_runtime.spec.errors import Problem
from agent_runtime.spec.loader import KINDS, load_documents, load_file
from agent_runtime.spec.trigger import Trigger
from agent_runtime.spec.workflow import LlmNode, ToolNode


@dataclass
class Project:
    """What one compose file serves: the folder's Workflows and the pools that run their nodes."""

    folder: Path
    workflows: list[Workflow] = field(default_factory=list)
    pools: list[AgentPool] = field(default_factory=list)
    triggers: list[Trigger] = field(default_factory=list)

    def capabilities(self) -> set[str]:
        """Every capability a node of the folder's Workflows sends to agents (llm and tool
        nodes; routers and human nodes run in the gateway)."""
        return {
            node.capability
            for w in self.workflows
            for node in w.spec.nodes
            if isinstance(node, LlmNode | ToolNode)
        }


def _ours(path: Path) -> bool:
    """Whether a file declares one of our kinds (others, e.g. a compose.yaml, are skipped)."""
    docs = load_documents(path.read_text(encoding="utf-8"), source=str(path))
    return any(isinstance(d, dict) and d.get("kind") in KINDS for d in docs)


def read_folder(folder: Path) -> Project:
    """The folder's resources; a SpecError naming the file and field for anything wrong, or
    when it holds no Workflow at all (a compose file would serve nothing)."""
    project = Project(folder)
    problems: list[str] = []
    for path in sorted({*folder.rglob("*.yaml"), *folder.rglob("*.yml")}):
        try:
            if not _ours(path):
                continue
            resources = load_file(path)
        except SpecError as exc:
            problems += exc.lines()
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read: {exc.__class__.__name__}")
            continue
        for resource in resources:
            if isinstance(resource, Workflow):
                project.workflows.append(resource)
            elif isinstance(resource, AgentPool):
                project.pools.append(resource)
            else:
                project.triggers.append(resource)
    if problems:
        raise SpecError([Problem("", line) for line in problems])
    if not project.workflows:
        raise SpecError([Problem("", "no Workflow in its YAML files")], source=str(folder))
    names = [pool.metadata.name for pool in project.pools]
    for name in sorted({n for n in names if names.count(n) > 1}):
        raise SpecError(
            [Problem("metadata.name", f"two AgentPools named {name!r}: one service each")],
            source=str(folder),
        )
    return project
