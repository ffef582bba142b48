"""A Workflow's agent card: who it is, what it takes and gives, where and how to call it.

One skill per Workflow (the Workflow is the agent's one skill), tagged with its namespace, its
input fields and its nodes' capabilities. The JSON-RPC interface is announced at A2A 1.0 and at
0.3, both on the same URL (the SDK's dispatcher answers both method sets there). Where the
gateway authenticates, the card asks for a bearer token, as the Runs API does.
"""

from __future__ import annotations

from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import PROTOCOL_VERSION_0_3, PROTOCOL_VERSION_1_0, TransportProtocol

from agent_runtime import __version__
from agent_runtime.spec import Workflow

#: The one security scheme, named in each card's requirements.
BEARER = "bearer"
TEXT = "text/plain"
JSON = "application/json"


def path(namespace: str, name: str) -> str:
    """The agent's JSON-RPC endpoint; its card is under it at ``/.well-known/agent-card.json``."""
    return f"/a2a/{namespace}/{name}"


def input_modes(workflow: Workflow) -> list[str]:
    """Text where one input field can take it; a data part of the inputs always."""
    return [TEXT, JSON] if len(workflow.spec.input) == 1 else [JSON]


def skill(workflow: Workflow) -> AgentSkill:
    spec = workflow.spec
    capabilities = sorted({getattr(n, "capability", "") for n in spec.nodes} - {""})
    return AgentSkill(
        id=workflow.name,
        name=f"{workflow.namespace}/{workflow.name}",
        description=spec.description or f"Run the Workflow {workflow.namespace}/{workflow.name}",
        tags=[workflow.namespace, *(f"input:{f}" for f in spec.input), *capabilities],
        input_modes=input_modes(workflow),
        output_modes=[JSON, TEXT],
    )


def agent_card(workflow: Workflow, base_url: str, *, authenticated: bool) -> AgentCard:
    url = base_url.rstrip("/") + path(workflow.namespace, workflow.name)
    card = AgentCard(
        name=f"{workflow.namespace}/{workflow.name}",
        description=workflow.spec.description
        or f"The Workflow {workflow.namespace}/{workflow.name}",
        version=str(workflow.metadata.generation or __version__),
        supported_interfaces=[
            AgentInterface(
                url=url, protocol_binding=TransportProtocol.JSONRPC, protocol_version=version
            )
            for version in (PROTOCOL_VERSION_1_0, PROTOCOL_VERSION_0_3)
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=input_modes(workflow),
        default_output_modes=[JSON, TEXT],
        skills=[skill(workflow)],
    )
    if authenticated:
        card.security_schemes[BEARER].CopyFrom(
            SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="bearer",
                    bearer_format="JWT",
                    description="A Kubernetes or OpenID Connect token, as for the Runs API",
                )
            )
        )
        card.security_requirements.append(SecurityRequirement(schemes={BEARER: StringList()}))
    return card
