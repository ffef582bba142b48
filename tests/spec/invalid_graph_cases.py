"""Invalid Workflow variants breaking graph rules, CEL conditions and templates."""

from __future__ import annotations

from typing import Any

from tests.spec.workflow_edits import DELETE, edits

# (id, document, exact field path, key phrase of the message)
GRAPH_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # --- graph rules (rules.py) ---
    (
        "duplicate-node-name",
        edits(("spec.nodes.+", {"name": "write", "type": "human"})),
        "spec.nodes[5].name",
        "duplicate node name 'write' (also nodes[1])",
    ),
    (
        "reserved-node-name",
        edits(("spec.nodes.+", {"name": "END", "type": "human"})),
        "spec.nodes[5].name",
        "'END' is reserved for the graph's ends",
    ),
    (
        "edge-to-unknown-node",
        edits(("spec.edges[3].to", "wirte")),
        "spec.edges[3].to",
        "unknown node 'wirte'; did you mean 'write'?",
    ),
    (
        "edge-from-unknown-node",
        edits(("spec.edges[1].from", "reserch")),
        "spec.edges[1].from",
        "unknown node 'reserch'; did you mean 'research'?",
    ),
    (
        "join-from-unknown-node",
        edits(("spec.edges[2].from", ["research", "fetc"])),
        "spec.edges[2].from[1]",
        "unknown node 'fetc'; did you mean 'fetch'?",
    ),
    (
        "branch-to-unknown-node",
        edits(("spec.edges[5].branches[1].to", "wrte")),
        "spec.edges[5].branches[1].to",
        "unknown node 'wrte'; did you mean 'write'?",
    ),
    ("empty-join", edits(("spec.edges[2].from", [])), "spec.edges[2].from", "'from' names no node"),
    (
        "no-entry",
        edits(("spec.edges[0].from", "review")),
        "spec.edges",
        "no entry: one edge must start at START",
    ),
    (
        "two-entries",
        edits(("spec.edges.+", {"from": "START", "to": "write"})),
        "spec.edges[6].from",
        "a second entry: edges[0] already starts at START",
    ),
    (
        "start-joined",
        edits(("spec.edges[0].from", ["START", "fetch"])),
        "spec.edges[0].from[0]",
        "START cannot be joined with other nodes",
    ),
    (
        "edge-leaves-end",
        edits(("spec.edges.+", {"from": "END", "to": "write"})),
        "spec.edges[6].from",
        "no edge can leave END",
    ),
    (
        "edge-to-start",
        edits(("spec.edges[3].to", "START")),
        "spec.edges[3].to",
        "no edge can lead back to START",
    ),
    (
        "branch-to-start",
        edits(("spec.edges[5].branches[1].to", "START")),
        "spec.edges[5].branches[1].to",
        "no edge can lead back to START",
    ),
    (
        "edge-with-to-and-branches",
        edits(("spec.edges[3].branches", [{"to": "END"}])),
        "spec.edges[3]",
        "an edge needs exactly one of 'to' or 'branches'",
    ),
    (
        "edge-with-neither",
        edits(("spec.edges[3].to", DELETE)),
        "spec.edges[3]",
        "an edge needs exactly one of 'to' or 'branches'",
    ),
    (
        "two-default-branches",
        edits(("spec.edges[5].branches[0].when", DELETE)),
        "spec.edges[5].branches[1]",
        "only one branch may omit 'when'",
    ),
    (
        "default-branch-not-last",
        edits(
            ("spec.edges[5].branches", [{"to": "write"}, {"when": "state.approved", "to": "END"}])
        ),
        "spec.edges[5].branches[0]",
        "the default branch (no 'when') must be last",
    ),
    (
        "empty-branches",
        edits(("spec.edges[5].branches", [])),
        "spec.edges[5].branches",
        "at least one branch",
    ),
    (
        "branches-from-a-join",
        edits(("spec.edges[5].from", ["review", "write"])),
        "spec.edges[5].from",
        "branches leave a single node, not a join",
    ),
    (
        "router-without-branches",
        edits(("spec.edges[4]", {"from": "check", "to": "review"})),
        "spec.nodes[3]",
        "router 'check' has no edge with branches",
    ),
    (
        "unreachable-node",
        edits(
            ("spec.nodes.+", {"name": "orphan", "type": "llm", "prompt": "x"}),
            ("spec.edges.+", {"from": "orphan", "to": "END"}),
        ),
        "spec.nodes[5]",
        "node 'orphan' cannot be reached from START",
    ),
    (
        "node-without-path-to-end",
        edits(
            ("spec.nodes.+", {"name": "sink", "type": "llm", "prompt": "x"}),
            ("spec.edges.+", {"from": "write", "to": "sink"}),
        ),
        "spec.nodes[5]",
        "node 'sink' has no path to END (or to a human node)",
    ),
    # --- conditions (CEL) and templates ---
    (
        "cel-syntax-error",
        edits(("spec.edges[5].branches[0].when", "state.approved ==")),
        "spec.edges[5].branches[0].when",
        "CEL does not parse",
    ),
    (
        "cel-unknown-state-field",
        edits(("spec.edges[5].branches[0].when", "state.aproved")),
        "spec.edges[5].branches[0].when",
        "condition reads state.aproved, but 'aproved' is not a declared state field; "
        "did you mean 'approved'?",
    ),
    (
        "cel-unknown-variable",
        edits(("spec.edges[5].branches[0].when", "approved == true")),
        "spec.edges[5].branches[0].when",
        "unknown variable 'approved': conditions read state.<field>; did you mean state.approved?",
    ),
    (
        "template-syntax-error",
        edits(("spec.nodes[1].prompt", "Write {{ topic ")),
        "spec.nodes[1].prompt",
        "template does not parse",
    ),
    (
        "template-unknown-field",
        edits(("spec.nodes[0].prompt", "Facts about {{ topik }}")),
        "spec.nodes[0].prompt",
        "template names 'topik' is not a declared state field; did you mean 'topic'?",
    ),
    (
        "system-template-unknown-field",
        edits(("spec.nodes[0].system", "You are {{ persona }}")),
        "spec.nodes[0].system",
        "template names 'persona' is not a declared state field",
    ),
    (
        "tool-args-template-unknown-field",
        edits(("spec.nodes[2].args", {"url": "https://x/{{ subject }}"})),
        "spec.nodes[2].args.url",
        "template names 'subject' is not a declared state field",
    ),
    (
        "human-prompt-template-unknown-field",
        edits(("spec.nodes[4].prompt", "Approve {{ drafts }}?")),
        "spec.nodes[4].prompt",
        "did you mean 'draft'?",
    ),
]
