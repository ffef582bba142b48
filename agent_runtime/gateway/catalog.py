"""The Workflows a gateway serves, each with a Ready condition like the operator's."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent_runtime.policy import ToolPolicy
from agent_runtime.policy.admission import tool_policy_problems
from agent_runtime.spec import SpecError, Workflow, load_file
from agent_runtime.spec.loader import KINDS, load_documents
from agent_runtime.spec.trigger import Trigger, TriggerStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    namespace: str
    name: str
    workflow: Workflow | None
    source: str
    problems: tuple[str, ...] = ()
    #: The operator's status conditions, for Workflows read from the cluster.
    status_conditions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Whether runs can be started: a valid spec (runs wait queued for missing agents)."""
        return self.workflow is not None and not self.problems

    def describe(self) -> dict[str, Any]:
        conditions = self.status_conditions or [
            {
                "type": "Ready",
                "status": "True" if self.ready else "False",
                "reason": "Valid" if self.ready else "InvalidSpec",
                "message": "valid" if self.ready else "; ".join(self.problems),
            }
        ]
        out: dict[str, Any] = {
            "namespace": self.namespace,
            "name": self.name,
            "source": self.source,
            "conditions": conditions,
        }
        if self.workflow is not None:
            spec = self.workflow.spec
            out["description"] = spec.description
            out["input"] = {k: spec.state[k].json_schema() for k in spec.input}
            out["output"] = list(spec.output)
        return out


class Catalog:
    """Workflows by namespace and name; files without a namespace are in ``default``."""

    def __init__(self, *, policy: ToolPolicy | None = None) -> None:
        """``policy``: Workflows whose tools it refuses are listed, not Ready, with the reasons."""
        self._entries: dict[tuple[str, str], Entry] = {}
        self._triggers: dict[tuple[str, str], Trigger] = {}
        self._trigger_sources: dict[tuple[str, str], str] = {}
        self.policy = policy

    def get(self, namespace: str, name: str) -> Entry | None:
        return self._entries.get((namespace, name))

    def entries(self) -> list[Entry]:
        return [self._entries[k] for k in sorted(self._entries)]

    def put(self, entry: Entry) -> None:
        if entry.workflow is not None and self.policy is not None:
            refused = tool_policy_problems(entry.workflow.spec, self.policy)
            if refused:
                lines = tuple(f"{entry.source}: {p}" for p in refused)
                entry = replace(entry, problems=(*entry.problems, *lines))
        self._entries[(entry.namespace, entry.name)] = entry

    def triggers(self) -> list[Trigger]:
        """The Triggers whose runs this gateway starts, by namespace and name."""
        return [self._triggers[k] for k in sorted(self._triggers)]

    def trigger(self, namespace: str, name: str) -> Trigger | None:
        return self._triggers.get((namespace, name))

    def put_trigger(self, trigger: Trigger, *, source: str = "files") -> None:
        key = (trigger.namespace, trigger.name)
        self._triggers[key] = trigger
        self._trigger_sources[key] = source

    def remove_trigger(self, namespace: str, name: str) -> None:
        self._triggers.pop((namespace, name), None)
        self._trigger_sources.pop((namespace, name), None)

    def replace_triggers(
        self, triggers: list[Trigger], *, source: str, namespace: str | None = None
    ) -> None:
        """A re-list of one source's Triggers (in one namespace, or all), as ``replace``."""
        for key, known in list(self._trigger_sources.items()):
            if known == source and (namespace is None or key[0] == namespace):
                self.remove_trigger(*key)
        for trigger in triggers:
            self.put_trigger(trigger, source=source)

    def set_trigger_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge status fields (camelCase, as written to the cluster) into a served trigger's."""
        trigger = self._triggers.get((namespace, name))
        if trigger is None:
            return
        before = trigger.status.model_dump(by_alias=True) if trigger.status else {}
        merged = TriggerStatus.model_validate({**before, **status})
        self._triggers[(namespace, name)] = trigger.model_copy(update={"status": merged})

    def remove(self, namespace: str, name: str) -> None:
        self._entries.pop((namespace, name), None)

    def replace(self, entries: list[Entry], *, source: str, namespace: str | None = None) -> None:
        """A re-list of one source (in one namespace, or all): its entries become exactly these.

        Entries of other sources and namespaces stay, so several watches (and a folder of files)
        can feed one catalog.
        """
        self._entries = {
            key: e
            for key, e in self._entries.items()
            if e.source != source or (namespace is not None and e.namespace != namespace)
        }
        for entry in entries:
            self.put(entry)

    def load_folder(self, folder: Path) -> None:
        """Every Workflow and Trigger in the folder's YAML files; a bad file is listed, not
        fatal."""
        for path in sorted([*folder.rglob("*.yaml"), *folder.rglob("*.yml")]):
            if not _declares_ours(path):
                # e.g. a ConfigMap patch next to the examples: not a broken Workflow
                log.info("%s: no Workflow, AgentPool or Trigger in it; skipped", path)
                continue
            try:
                resources = load_file(path)
            except SpecError as exc:
                log.warning("%s", exc)
                self.put(Entry("default", path.stem, None, str(path), tuple(exc.lines())))
                continue
            for resource in resources:
                if isinstance(resource, Workflow):
                    self.put(Entry(resource.namespace, resource.name, resource, str(path)))
                elif isinstance(resource, Trigger):
                    self.put_trigger(resource)


def _declares_ours(path: Path) -> bool:
    """Whether a YAML file names one of our kinds at all (a broken one still counts)."""
    try:
        docs = load_documents(path.read_text(encoding="utf-8"), source=str(path))
    except (SpecError, OSError, UnicodeDecodeError):
        return True  # let load_file say what is wrong with it
    return any(isinstance(d, dict) and d.get("kind") in KINDS for d in docs)
