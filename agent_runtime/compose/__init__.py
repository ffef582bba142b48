"""Compose: the whole platform on one machine's container engine, without Kubernetes.

``configurable-agents compose DIR`` reads a folder of Workflows and AgentPools and writes a
``compose.yaml`` that runs what the Helm chart and the operator would run for it (the same
images, commands and environment names): the gateway with its dashboard, PostgreSQL, one agent
service per AgentPool, and under profiles the dashboard on its own, an OpenTelemetry collector,
Prometheus and MLflow. What only a cluster has (RBAC, EndpointSlices, projected tokens) is
replaced by its one-machine counterpart, each listed in ``services.CLUSTER_ONLY``.
"""

from agent_runtime.compose.envfile import EnvVariable, write_env_file
from agent_runtime.compose.folder import Project, read_folder
from agent_runtime.compose.render import render_compose
from agent_runtime.compose.services import ComposeOptions, build_compose

__all__ = [
    "ComposeOptions",
    "EnvVariable",
    "Project",
    "build_compose",
    "read_folder",
    "render_compose",
    "write_env_file",
]
