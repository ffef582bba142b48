"""The compose document: what the chart (gateway, dashboard, Postgres) and the operator (one
workload per AgentPool) run, as Compose services on one machine.

Where a cluster part has no counterpart here, the one-machine replacement is used, and the
differences are written down in ``CLUSTER_ONLY`` and ``COMPOSE_ONLY``, which the test comparing
this file with the chart's rendered Deployments holds to:

- agents are found through ``serve --agents CAPABILITY=URL`` (static endpoints: Compose's DNS
  name of each pool's service), not EndpointSlices;
- the gateway proves its tasks with a shared secret (``task_auth: secret``), not a projected
  ServiceAccount token;
- nobody is authenticated (``--insecure-no-auth``): RBAC needs an API server, so the gateway's
  port is published on the host's loopback address only; put an authenticating proxy in front
  of it to share it;
- the tool policy is given as ``CONFIGURABLE_AGENTS_POLICY_*`` variables (the chart mounts the
  same settings as a file); PostgreSQL's password comes from the env file as ``POSTGRES_PASSWORD``
  (the chart mounts it as a file).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from agent_runtime import __version__
from agent_runtime.compose.envfile import EnvVariable
from agent_runtime.compose.folder import Project
from agent_runtime.compose.quantities import compose_resources
from agent_runtime.policy import POLICY_ENV_PREFIX, ToolPolicy
from agent_runtime.policy.admission import tool_policy_problems
from agent_runtime.spec import SpecError
from agent_runtime.spec.agentpool import AgentPool
from agent_runtime.spec.common import API_GROUP
from agent_runtime.spec.errors import Problem
from agent_runtime.telemetry.secrets import SECRET_ENV

Obj = dict[str, Any]

#: The chart's defaults (values.yaml); the chart comparison test keeps them equal.
AGENT_IMAGE = f"ghcr.io/configurable-agents/agent:{__version__}"
UI_IMAGE = f"ghcr.io/configurable-agents/ui:{__version__}"
POSTGRES_IMAGE = "docker.io/library/postgres:18"
GATEWAY_PORT = 8080
AGENT_PORT = 8080
UI_PORT = 8081
CONCURRENCY = 32
LEASE_TTL = 30
DATABASE = USERNAME = "configurable_agents"
#: The images' own user (Dockerfile.*: uid 10001), as the chart's pods run.
USER = "10001:10001"
#: Where the gateway finds the folder's Workflows (and Triggers).
WORKFLOWS_PATH = "/etc/configurable-agents/workflows"
#: PostgreSQL 18's image keeps its data below /var/lib/postgresql (mode 1777, so uid 10001 may
#: write to a fresh named volume there) in a folder per major version.
PGDATA = "/var/lib/postgresql/18/docker"

#: Pinned images of the optional services (profiles ``observability`` and ``mlflow``).
OTEL_COLLECTOR_IMAGE = "docker.io/otel/opentelemetry-collector-contrib:0.120.0"
PROMETHEUS_IMAGE = "docker.io/prom/prometheus:v3.2.1"
MLFLOW_IMAGE = "ghcr.io/mlflow/mlflow:v3.6.0"

POSTGRES_PASSWORD = EnvVariable(
    "POSTGRES_PASSWORD",
    "PostgreSQL's password, letters and digits (it is part of the store URL)",
    generated=True,
)
TASK_SECRET = EnvVariable(
    "CONFIGURABLE_AGENTS_TASK_SECRET",
    "signs the gateway's tasks; agents run only tasks signed with it",
    generated=True,
)
UI_SECRET = EnvVariable(
    "CONFIGURABLE_AGENTS_UI_SECRET", "signs the dashboard's forms (CSRF tokens)", generated=True
)
OTEL_ENDPOINT = EnvVariable(
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "where the gateway and agents send traces: http://otel-collector:4318 (profile "
    "observability) or http://mlflow:5000 (profile mlflow); empty: no traces",
    required=False,
)
OTEL_HEADERS = EnvVariable(
    "OTEL_EXPORTER_OTLP_HEADERS",
    "headers sent with traces, e.g. x-mlflow-experiment-id=0 for MLflow",
    required=False,
)


@dataclass(frozen=True)
class Difference:
    """Names the chart's object has and the compose service has not, and the reverse; and
    names both have whose values differ on purpose."""

    cluster_only: frozenset[str]
    compose_only: frozenset[str]
    other_values: frozenset[str] = frozenset()


_OTEL = frozenset({OTEL_ENDPOINT.name, OTEL_HEADERS.name})
_POLICY = frozenset(
    f"{POLICY_ENV_PREFIX}{k}"
    for k in ("PRESET", "ALLOWED_FUNCTIONS", "EGRESS_ALLOW", "ALLOW_LOOPBACK", "ALLOW_PRIVATE")
)
#: (component, "args" or "env") -> what differs from the chart's (or the operator's) object.
DIFFERENCES: dict[tuple[str, str], Difference] = {
    ("gateway", "args"): Difference(
        frozenset({"--kubernetes", "--auth"}),
        frozenset({"--insecure-no-auth", "--workflows", "--agents"}),
    ),
    ("gateway", "env"): Difference(
        frozenset({"CONFIGURABLE_AGENTS_TASK_TOKEN_FILE", f"{POLICY_ENV_PREFIX}FILE"}),
        frozenset({TASK_SECRET.name, *_POLICY, *_OTEL}),
    ),
    ("agent", "env"): Difference(
        frozenset(
            {
                "POD_NAME",
                "POD_NAMESPACE",
                "CONFIGURABLE_AGENTS_TASK_ISSUER",
                "CONFIGURABLE_AGENTS_TASK_CALLERS",
                "CONFIGURABLE_AGENTS_TASK_CA_FILE",
                "CONFIGURABLE_AGENTS_TASK_DISCOVERY_TOKEN_FILE",
            }
        ),
        frozenset({TASK_SECRET.name, *_OTEL}),
        # a shared secret proves the gateway's tasks, not a ServiceAccount token
        frozenset({"CONFIGURABLE_AGENTS_TASK_AUTH"}),
    ),
    ("postgres", "env"): Difference(
        frozenset({"POSTGRES_PASSWORD_FILE"}), frozenset({POSTGRES_PASSWORD.name})
    ),
}
#: A Kubernetes variable name Compose can also interpolate from the env file.
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ComposeOptions:
    #: The folder as the compose file names it (relative to the compose file's folder).
    workflows_source: str
    agent_image: str = AGENT_IMAGE
    ui_image: str = UI_IMAGE
    #: The platform tool policy of the gateway and every agent: the chart's default (the
    #: cluster preset: no ``function`` tools, public addresses only) unless the installer
    #: loosens it, as ``policy.tools.*`` does in the chart.
    policy: ToolPolicy = field(default_factory=ToolPolicy.cluster)


@dataclass
class ComposeFile:
    """The document, the env file's variables it needs, and notes for whoever generated it."""

    document: Obj
    variables: list[EnvVariable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def need(self, variable: EnvVariable) -> str:
        if all(v.name != variable.name for v in self.variables):
            self.variables.append(variable)
        return variable.reference()


def agent_service_name(pool: str) -> str:
    return f"agent-{pool}"


def _http_check(port: int, path: str) -> Obj:
    """A health check by the image's own Python (the images have no curl)."""
    probe = (
        f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=3)"
    )
    return {
        "test": ["CMD", "python", "-c", probe],
        "interval": "10s",
        "timeout": "5s",
        "retries": 3,
        "start_period": "30s",
    }


def _hardened(service: Obj) -> Obj:
    """The chart's securityContext in Compose's words: the images' non-root user, a read-only
    root filesystem with a private /tmp, no capabilities, no privilege escalation."""
    return {
        **service,
        "user": USER,
        "read_only": True,
        "tmpfs": ["/tmp"],
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "restart": "unless-stopped",
    }


def _policy_env(policy: ToolPolicy) -> Obj:
    """The tool policy, every setting spelled out, as the operator gives it agents."""
    return {
        f"{POLICY_ENV_PREFIX}PRESET": "cluster",
        f"{POLICY_ENV_PREFIX}ALLOWED_FUNCTIONS": json.dumps(policy.allowed_functions),
        f"{POLICY_ENV_PREFIX}EGRESS_ALLOW": json.dumps(policy.egress_allow),
        f"{POLICY_ENV_PREFIX}ALLOW_LOOPBACK": json.dumps(policy.allow_loopback),
        f"{POLICY_ENV_PREFIX}ALLOW_PRIVATE": json.dumps(policy.allow_private),
    }


def _literal(value: str) -> str:
    """A value as it is: ``$`` would start an interpolation in Compose."""
    return value.replace("$", "$$")


def _pool_env(pool: AgentPool, out: ComposeFile, taken: set[str]) -> tuple[Obj, list[str]]:
    """The pool's own ``env``: literal values as they are, values from Secrets and ConfigMaps
    as env-file variables of the same name (never their values), and the names of those from
    Secrets (which the agent scrubs from its logs)."""
    env: Obj = {}
    secret_names: list[str] = []
    where = f"AgentPool {pool.metadata.name}"
    for i, var in enumerate(pool.spec.env):
        if var.name in taken or var.name.startswith(POLICY_ENV_PREFIX):
            continue  # the platform's settings win, as the operator does it
        source = var.valueFrom or {}
        if not source:
            env[var.name] = _literal(var.value or "")
            continue
        ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
        if ref is None:
            out.notes.append(
                f"{where}: spec.env[{i}] ({var.name}) comes from {', '.join(source)}, which "
                "only a cluster has; left out"
            )
            continue
        if not _VARIABLE.fullmatch(var.name):
            raise SpecError(
                [Problem(f"spec.env[{i}].name", "not a name an env file can hold")], source=where
            )
        kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
        why = f"{where}: {var.name}, from {kind} {ref.get('name')} key {ref.get('key')}"
        variable = EnvVariable(var.name, why, required=not ref.get("optional", False))
        env[var.name] = out.need(variable)
        if kind == "Secret":
            secret_names.append(var.name)
    return env, secret_names


def _pod_labels(pool: AgentPool) -> dict[str, str]:
    """The labels the operator gives a pool's pods (the pool, one per capability, the usual
    app labels, the pod template's own), so containers are found by the same selectors."""
    name = pool.metadata.name
    return {
        "app.kubernetes.io/name": "agent",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "agent-pool",
        "app.kubernetes.io/managed-by": "configurable-agents",
        f"{API_GROUP}/pool": name,
        **{f"capability.{API_GROUP}/{c}": "true" for c in pool.spec.capabilities},
        **pool.spec.pod_template.labels,
    }


def _agent(pool: AgentPool, options: ComposeOptions, out: ComposeFile) -> Obj:
    spec = pool.spec
    ours: Obj = {
        "CONFIGURABLE_AGENTS_POOL": pool.metadata.name,
        "CONFIGURABLE_AGENTS_CAPABILITIES": ",".join(spec.capabilities),
        "CONFIGURABLE_AGENTS_TASK_AUTH": "secret",
        TASK_SECRET.name: out.need(TASK_SECRET),
        **_policy_env(options.policy),
        OTEL_ENDPOINT.name: out.need(OTEL_ENDPOINT),
        OTEL_HEADERS.name: out.need(OTEL_HEADERS),
    }
    env, from_secrets = _pool_env(pool, out, set(ours))
    if from_secrets:
        ours[SECRET_ENV] = ",".join(from_secrets)
    if spec.autoscaling is not None:
        out.notes.append(
            f"AgentPool {pool.metadata.name}: autoscaling has no Compose counterpart; "
            f"{spec.replicas} replicas (docker compose up --scale changes it)"
        )
    deploy: Obj = {"replicas": spec.replicas}
    resources = compose_resources(spec.resources)
    if resources:
        deploy["resources"] = resources
    image = spec.image or options.agent_image
    return _hardened(
        {
            "image": image,
            "command": [
                "agent",
                "--port",
                str(AGENT_PORT),
                "--max-concurrent-tasks",
                str(spec.max_concurrent_tasks),
            ],
            "environment": {**env, **ours},
            "expose": [str(AGENT_PORT)],
            "healthcheck": _http_check(AGENT_PORT, "/readyz"),
            "deploy": deploy,
            "stop_grace_period": "60s",
            "labels": _pod_labels(pool),
        }
    )


def _endpoints(project: Project, out: ComposeFile) -> list[str]:
    """``--agents`` flags: each capability's pool services, by their Compose DNS names."""
    urls: dict[str, list[str]] = {}
    for pool in project.pools:
        for capability in pool.spec.capabilities:
            url = f"http://{agent_service_name(pool.metadata.name)}:{AGENT_PORT}"
            urls.setdefault(capability, []).append(url)
    for capability in sorted(project.capabilities() - set(urls)):
        out.notes.append(
            f"no AgentPool serves capability {capability!r}: runs that need it wait queued"
        )
    return [f"--agents={c}={','.join(u)}" for c, u in sorted(urls.items())]


def _gateway(project: Project, options: ComposeOptions, out: ComposeFile) -> Obj:
    password = out.need(POSTGRES_PASSWORD)
    store = f"postgresql://{USERNAME}:{password}@postgres:5432/{DATABASE}"
    return _hardened(
        {
            "image": options.agent_image,
            "command": [
                "serve",
                "--host=0.0.0.0",
                f"--port={GATEWAY_PORT}",
                f"--concurrency={CONCURRENCY}",
                f"--lease-ttl={LEASE_TTL}",
                # RBAC needs an API server: the port is published on the host's loopback only
                "--insecure-no-auth",
                f"--workflows={WORKFLOWS_PATH}",
                *_endpoints(project, out),
            ],
            "environment": {
                UI_SECRET.name: out.need(UI_SECRET),
                "CONFIGURABLE_AGENTS_STORE": store,
                TASK_SECRET.name: out.need(TASK_SECRET),
                **_policy_env(options.policy),
                OTEL_ENDPOINT.name: out.need(OTEL_ENDPOINT),
                OTEL_HEADERS.name: out.need(OTEL_HEADERS),
            },
            "ports": [f"127.0.0.1:${{GATEWAY_PORT:-{GATEWAY_PORT}}}:{GATEWAY_PORT}"],
            "volumes": [f"{options.workflows_source}:{WORKFLOWS_PATH}:ro"],
            "depends_on": {"postgres": {"condition": "service_healthy"}},
            "healthcheck": _http_check(GATEWAY_PORT, "/readyz"),
            "deploy": {"resources": {"limits": {"cpus": "2", "memory": "1024M"}}},
            "stop_grace_period": "30s",
        }
    )


def _ui(options: ComposeOptions, out: ComposeFile) -> Obj:
    return _hardened(
        {
            "image": options.ui_image,
            "profiles": ["dashboard"],
            "command": [
                "ui",
                "--gateway",
                f"http://gateway:{GATEWAY_PORT}",
                "--host",
                "0.0.0.0",
                "--port",
                str(UI_PORT),
            ],
            "environment": {UI_SECRET.name: out.need(UI_SECRET)},
            "ports": [f"127.0.0.1:${{UI_PORT:-{UI_PORT}}}:{UI_PORT}"],
            "depends_on": {"gateway": {"condition": "service_healthy"}},
            "healthcheck": _http_check(UI_PORT, "/healthz"),
            "deploy": {"resources": {"limits": {"cpus": "1", "memory": "256M"}}},
        }
    )


def _postgres(out: ComposeFile) -> Obj:
    ready = ["CMD", "pg_isready", "-U", USERNAME, "-d", DATABASE]
    service = _hardened(
        {
            "image": POSTGRES_IMAGE,
            "environment": {
                "POSTGRES_DB": DATABASE,
                "POSTGRES_USER": USERNAME,
                POSTGRES_PASSWORD.name: out.need(POSTGRES_PASSWORD),
                "PGDATA": PGDATA,
            },
            "volumes": ["postgres-data:/var/lib/postgresql"],
            "healthcheck": {
                "test": ready,
                "interval": "5s",
                "timeout": "5s",
                "retries": 5,
                "start_period": "30s",
            },
            "deploy": {"resources": {"limits": {"cpus": "2", "memory": "1024M"}}},
        }
    )
    service["tmpfs"] = ["/tmp", "/var/run/postgresql"]
    return service


def _prometheus_config(project: Project) -> str:
    agents = [agent_service_name(p.metadata.name) for p in project.pools]
    config: Obj = {
        "global": {"scrape_interval": "15s"},
        "scrape_configs": [
            {"job_name": "gateway", "static_configs": [{"targets": [f"gateway:{GATEWAY_PORT}"]}]},
        ],
    }
    if agents:
        config["scrape_configs"].append(
            {
                "job_name": "agents",
                # every replica: Compose's DNS answers a service's name with all of them
                "dns_sd_configs": [{"names": agents, "type": "A", "port": AGENT_PORT}],
            }
        )
    return yaml.safe_dump(config, sort_keys=False)


_COLLECTOR_CONFIG = yaml.safe_dump(
    {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": "0.0.0.0:4317"},
                    "http": {"endpoint": "0.0.0.0:4318"},
                }
            }
        },
        "processors": {"batch": {}},
        "exporters": {"debug": {"verbosity": "basic"}},
        "service": {
            "pipelines": {
                "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["debug"]}
            }
        },
    },
    sort_keys=False,
)


def _observability(project: Project) -> dict[str, Obj]:
    collector = _hardened(
        {
            "image": OTEL_COLLECTOR_IMAGE,
            "profiles": ["observability"],
            # The collector reads its configuration from a variable (its env: provider).
            "command": ["--config=env:OTEL_COLLECTOR_CONFIG"],
            "environment": {"OTEL_COLLECTOR_CONFIG": _literal(_COLLECTOR_CONFIG)},
            "expose": ["4317", "4318"],
        }
    )
    prometheus = _hardened(
        {
            "image": PROMETHEUS_IMAGE,
            "profiles": ["observability"],
            # The image's shell writes the scrape configuration from a variable to /tmp.
            "entrypoint": [
                "/bin/sh",
                "-c",
                'printf "%s" "$$PROMETHEUS_CONFIG" > /tmp/prometheus.yml && exec /bin/prometheus '
                "--config.file=/tmp/prometheus.yml --storage.tsdb.path=/prometheus",
            ],
            "environment": {"PROMETHEUS_CONFIG": _literal(_prometheus_config(project))},
            "ports": ["127.0.0.1:${PROMETHEUS_PORT:-9090}:9090"],
            "volumes": ["prometheus-data:/prometheus"],
        }
    )
    prometheus["user"] = "65534:65534"  # the image's nobody, who owns /prometheus
    return {"otel-collector": collector, "prometheus": prometheus}


def _mlflow() -> Obj:
    data = "/var/tmp"  # mode 1777 in the image: a fresh named volume there is writable by 10001
    return _hardened(
        {
            "image": MLFLOW_IMAGE,
            "profiles": ["mlflow"],
            "command": [
                "mlflow",
                "server",
                "--host",
                "0.0.0.0",
                "--port",
                "5000",
                "--backend-store-uri",
                f"sqlite:///{data}/mlflow.db",
                "--artifacts-destination",
                f"{data}/artifacts",
                "--allowed-hosts",
                "mlflow,mlflow:5000,localhost,localhost:*,127.0.0.1,127.0.0.1:*",
            ],
            "environment": {"HOME": "/tmp"},
            "ports": ["127.0.0.1:${MLFLOW_PORT:-5000}:5000"],
            "volumes": [f"mlflow-data:{data}"],
        }
    )


def _policy_notes(project: Project, options: ComposeOptions, out: ComposeFile) -> None:
    """Tools the policy refuses: their Workflows would never be Ready, so say it now."""
    for workflow in project.workflows:
        for problem in tool_policy_problems(workflow.spec, options.policy):
            out.notes.append(
                f"Workflow {workflow.name}: {problem} (the gateway will not run it; "
                "--allow-function loosens the tool policy)"
            )


def build_compose(project: Project, options: ComposeOptions) -> ComposeFile:
    """The compose document for a folder (services in a stable order, so that a generated file
    can be checked for being current)."""
    out = ComposeFile({})
    _policy_notes(project, options, out)
    services: Obj = {
        "gateway": _gateway(project, options, out),
        "postgres": _postgres(out),
    }
    for pool in sorted(project.pools, key=lambda p: p.metadata.name):
        services[agent_service_name(pool.metadata.name)] = _agent(pool, options, out)
    services["ui"] = _ui(options, out)
    services.update(_observability(project))
    services["mlflow"] = _mlflow()
    out.document = {
        "services": services,
        "volumes": {"postgres-data": {}, "prometheus-data": {}, "mlflow-data": {}},
    }
    return out
