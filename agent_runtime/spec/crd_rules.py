"""The bounds and CEL rules the CRDs carry, keyed by schema path, for admission-time checks.

The apiserver needs bounds (``maxItems``, ``maxLength``) to estimate each rule's cost, and rules
stay cheap: what CEL cannot see or afford is checked by the operator with the same models.
"""

from __future__ import annotations

from typing import Any

from agent_runtime.spec.common import DNS_LABEL
from agent_runtime.spec.state import REDUCER_TYPES

PRESERVE = "x-kubernetes-preserve-unknown-fields"
VALIDATIONS = "x-kubernetes-validations"

Schema = dict[str, Any]

# Bounds the apiserver needs to estimate the cost of the CEL rules below (each rule must stay
# under 10^7 estimated cost). Keyed by schema path: ``[]`` is a list item, ``{}`` a map value.
LIMITS: dict[str, Schema] = {
    "Workflow.spec.nodes": {"maxItems": 200},
    "Workflow.spec.edges": {"maxItems": 500},
    "Workflow.spec.edges[].to": {"maxLength": 63},
    "Workflow.spec.edges[].branches": {"minItems": 1, "maxItems": 16},
    "Workflow.spec.edges[].branches[].to": {"maxLength": 63},
    "Workflow.spec.tools": {"maxItems": 64},
    "Workflow.spec.tools[].name": {"maxLength": 64},
    "Workflow.spec.nodes[].model": {"maxLength": 63},
    "Workflow.spec.nodes[].tool": {"maxLength": 64},
    "Workflow.spec.nodes[].messages": {"maxLength": 256},
    "Workflow.spec.nodes[].tools": {"maxItems": 16},
    "Workflow.spec.nodes[].tools[]": {"maxLength": 64},
    "Workflow.spec.nodes[].requireApproval": {"maxItems": 16},
    "Workflow.spec.nodes[].requireApproval[]": {"maxLength": 64},
    "Workflow.spec.input": {"maxItems": 256},
    "Workflow.spec.output": {"maxItems": 256},
    "Workflow.spec.models": {"maxProperties": 64},
    "Workflow.spec.state": {"maxProperties": 256},
    "AgentPool.spec.capabilities": {"maxItems": 64},
    "AgentPool.spec.env": {"maxItems": 256},
    "AgentPool.spec.env[].name": {"maxLength": 256},
}
DURATION_MAX_LENGTH = 64


def cel_rule(rule: str, message: str, field_path: str = "", message_expression: str = "") -> Schema:
    out: Schema = {"rule": rule, "message": message}
    if message_expression:
        out["messageExpression"] = message_expression
    if field_path:
        out["fieldPath"] = field_path
    return out


def reducer_rule() -> Schema:
    clauses = [
        f"(self.reducer == '{reducer}' && self.type in {list(types)})"
        for reducer, types in REDUCER_TYPES.items()
        if reducer != "replace"
    ]
    return cel_rule(
        "!has(self.reducer) || self.reducer == 'replace' || " + " || ".join(clauses),
        "'reducer' does not fit the field's type: append needs an array or messages, merge an "
        "object, sum an integer or number",
        ".reducer",
    )


NAME_RULE = cel_rule(
    f"size(self.metadata.name) <= 63 && self.metadata.name.matches('{DNS_LABEL}')",
    "metadata.name must be a DNS label: at most 63 lowercase letters, digits and '-'",
)

# An AgentPool's egress CIDRs (CEL's CIDR library: Kubernetes 1.31 and later).
CIDR_RULES = [
    cel_rule("isCIDR(self)", "must be an IPv4 or IPv6 CIDR such as 203.0.113.0/24"),
    cel_rule(
        "!isCIDR(self) || cidr(self).masked() == cidr(self)",
        "must not have host bits set (203.0.113.0/24, not 203.0.113.7/24)",
    ),
]

# Admission-time rules by schema path. ``from`` and ``output`` hold a string or a list or mapping,
# which CEL cannot see, so the rules on them (one entry, sources exist, routers branch) and those
# too costly to estimate (branch targets exist, reachability) are left to the operator, which
# validates with the models and reports them in the Ready condition.
RULES: dict[str, list[Schema]] = {
    "Workflow": [NAME_RULE],
    "AgentPool": [NAME_RULE],
    "Trigger": [NAME_RULE],
    "Trigger.spec": [
        cel_rule(
            "(has(self.schedule) ? 1 : 0) + (has(self.webhook) ? 1 : 0) == 1",
            "a trigger fires on exactly one of: schedule, webhook",
            ".schedule",
        )
    ],
    "Trigger.spec.webhook": [
        cel_rule(
            "self.signature != 'github' || !has(self.tolerance)",
            "GitHub signs no timestamp; a tolerance applies to signature: standard",
            ".tolerance",
        ),
        cel_rule(
            "self.format != 'cloudevents' || !has(self.deliveryHeader)",
            "a CloudEvent's source and id name its delivery; give no deliveryHeader",
            ".deliveryHeader",
        ),
    ],
    "Trigger.spec.webhook.keys": [
        cel_rule(
            "has(self.secretRef) && !has(self.env)",
            "in a cluster a webhook's keys come from a Secret in the Trigger's namespace "
            "(secretRef); env is for a gateway serving files",
            ".secretRef",
        )
    ],
    "Trigger.spec.webhook.keys.secretRef.keys": [
        cel_rule("self.all(a, self.exists_one(b, b == a))", "each key may be listed once"),
    ],
    "Trigger.spec.schedule": [
        cel_rule(
            "self.schedule.matches('^[ \\t]*(@(yearly|annually|monthly|weekly|daily|midnight|"
            "hourly)|[^ \\t]+([ \\t]+[^ \\t]+){4})[ \\t]*$')",
            "schedule must be five cron fields or one of @yearly, @annually, @monthly, @weekly, "
            "@daily, @midnight, @hourly",
            ".schedule",
        )
    ],
    "Workflow.spec": [
        cel_rule(
            "self.edges.all(e, !has(e.to) || e.to == 'END' || "
            "self.nodes.exists(n, n.name == e.to))",
            "every edge's 'to' must name a node or END",
            ".edges",
        ),
        cel_rule(
            "self.nodes.all(n, n.type != 'llm' || "
            "(has(self.models) && (has(n.model) ? n.model : 'default') in self.models))",
            "every llm node's 'model' (default: 'default') must be declared under spec.models",
            ".nodes",
        ),
        cel_rule(
            "self.nodes.all(n, n.type != 'tool' || !has(n.tool) || n.tool == 'http_get' || "
            "(has(self.tools) && self.tools.exists(t, t.name == n.tool)))",
            "every tool node's 'tool' must be http_get or declared under spec.tools",
            ".nodes",
        ),
        cel_rule(
            "self.nodes.all(n, !has(n.tools) || n.tools.all(x, x == 'http_get' || "
            "(has(self.tools) && self.tools.exists(t, t.name == x))))",
            "every llm node's 'tools' must be http_get or declared under spec.tools",
            ".nodes",
        ),
        cel_rule(
            "self.nodes.all(n, n.type != 'llm' || has(n.prompt) || has(n.messages))",
            "every llm node needs a 'prompt' or 'messages'",
            ".nodes",
        ),
        cel_rule(
            "self.nodes.all(n, !has(n.messages) || (has(self.state) && n.messages in self.state "
            "&& self.state[n.messages].type == 'messages'))",
            "an llm node's 'messages' must name a state field of type messages",
            ".nodes",
        ),
        cel_rule(
            "!has(self.input) || self.input.all(f, has(self.state) && f in self.state)",
            "'input' must name declared state fields",
            ".input",
        ),
        cel_rule(
            "!has(self.output) || self.output.all(f, has(self.state) && f in self.state)",
            "'output' must name declared state fields",
            ".output",
        ),
    ],
    "Workflow.spec.state{}": [reducer_rule()],
    "Workflow.spec.models{}": [
        cel_rule(
            "self.provider == 'scripted' || (has(self.model) && size(self.model) > 0)",
            "every provider but scripted needs a 'model' name",
            ".model",
        ),
        cel_rule(
            "!has(self.baseUrl) || self.provider in ['openai', 'ollama']",
            "only the openai and ollama providers take a 'baseUrl'",
            ".baseUrl",
        ),
        cel_rule(
            "self.provider == 'scripted' || !has(self.delay) || "
            "self.delay.matches('^(0+(\\\\.0+)?(ms|s|m|h))+$')",
            "only the scripted provider takes a 'delay'",
            ".delay",
        ),
    ],
    "Workflow.spec.tools": [
        cel_rule(
            "self.all(a, self.exists_one(b, b.name == a.name))",
            "tool names must be unique",
        ),
    ],
    "Workflow.spec.tools[]": [
        cel_rule(
            "(has(self.httpGet) ? 1 : 0) + (has(self.function) ? 1 : 0) + "
            "(has(self.mcp) ? 1 : 0) + (has(self.a2a) ? 1 : 0) == 1",
            "a tool needs exactly one of httpGet, function, mcp or a2a",
        ),
    ],
    "Workflow.spec.nodes": [
        cel_rule(
            "self.all(a, self.exists_one(b, b.name == a.name))",
            "node names must be unique",
        ),
    ],
    "Workflow.spec.nodes[]": [
        cel_rule(
            "self.name != 'START' && self.name != 'END'",
            "START and END are reserved for the graph's ends: choose another 'name'",
            ".name",
        ),
        cel_rule(
            "!has(self.requireApproval) || "
            "self.requireApproval.all(t, has(self.tools) && t in self.tools)",
            "'requireApproval' must name only tools of this node's 'tools'",
            ".requireApproval",
        ),
    ],
    "Workflow.spec.edges[]": [
        cel_rule(
            "has(self.to) != has(self.branches)",
            "an edge needs exactly one of 'to' or 'branches'",
        ),
        cel_rule(
            "!has(self.to) || self.to != 'START'",
            "'to' cannot lead back to START",
            ".to",
        ),
    ],
    "Workflow.spec.edges[].branches": [
        cel_rule(
            "self.filter(b, !has(b.when)).size() <= 1",
            "only one branch may omit 'when'",
        ),
        cel_rule(
            "!self.exists(b, !has(b.when)) || !has(self[size(self) - 1].when)",
            "the default branch (no 'when') must be last",
        ),
    ],
    "Workflow.spec.edges[].branches[]": [
        cel_rule("self.to != 'START'", "'to' cannot lead back to START", ".to"),
    ],
    # AgentPool
    "AgentPool.spec.capabilities": [
        cel_rule(
            "self.all(a, self.exists_one(b, b == a))",
            "each capability may be listed once",
        ),
    ],
    "AgentPool.spec.autoscaling": [
        cel_rule(
            "self.maxReplicas >= (has(self.minReplicas) ? self.minReplicas : 1)",
            "'maxReplicas' must not be below 'minReplicas'",
            ".maxReplicas",
        ),
        cel_rule(
            "!has(self.minReplicas) || self.minReplicas > 0 || "
            "(has(self.metric) && self.metric == 'queue')",
            "'minReplicas' 0 needs metric: queue (CPU cannot wake a pool that has no pods)",
            ".minReplicas",
        ),
        cel_rule(
            "!has(self.queue) || (has(self.metric) && self.metric == 'queue')",
            "'queue' only with metric: queue",
            ".queue",
        ),
    ],
    "AgentPool.spec.env[]": [
        cel_rule(
            "!has(self.value) || size(self.value) == 0 || "
            "!self.name.matches('(?i)(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)')",
            "'value' looks like a credential: take it from a Secret with "
            "valueFrom.secretKeyRef instead of a literal value",
            ".value",
            "self.name + ' looks like a credential: take it from a Secret with "
            "valueFrom.secretKeyRef instead of a literal value'",
        ),
    ],
    "AgentPool.spec.egress[].cidr": CIDR_RULES,
    "AgentPool.spec.egress[].except[]": CIDR_RULES,
    "AgentPool.spec.egress[]": [
        cel_rule(
            "!has(self.except) || !isCIDR(self.cidr) || self.except.all(e, !isCIDR(e) || "
            "(cidr(self.cidr).containsCIDR(e) && "
            "cidr(e).prefixLength() > cidr(self.cidr).prefixLength()))",
            "every 'except' must be a smaller network inside 'cidr'",
            ".except",
        ),
    ],
}
