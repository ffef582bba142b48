"""Where the API server is and who we are to it: the pod's account, else a kubeconfig.

lightkube reads both; this only fixes the order and turns its errors into one line for the user.
"""

from __future__ import annotations

import os

import yaml
from lightkube import ConfigError, KubeConfig, SingleConfig

from agent_runtime.errors import AgentRuntimeError


class KubeConfigError(AgentRuntimeError, ValueError):
    """Neither an in-cluster account nor a usable kubeconfig: the one line to show the user."""

    #: The process cannot start, as the CLI's own ``Failure`` says.
    code = "command_failed"


def load_configuration(kubeconfig: str | None = None) -> SingleConfig:
    """The given kubeconfig; else the pod's service account; else $KUBECONFIG or ~/.kube/config.

    Inside a pod the token is read from its file and read again when the API server refuses it
    (the kubelet rotates it); the cluster's CA comes from the same folder.
    """
    if kubeconfig is None:
        try:
            return _current(KubeConfig.from_service_account())
        except (ConfigError, KeyError, OSError):  # KeyError: no KUBERNETES_SERVICE_HOST
            # read now, not at import; of a list of files, the first (lightkube reads one)
            kubeconfig = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or None
    where = kubeconfig or "~/.kube/config"
    try:
        return _current(KubeConfig.from_file(where))
    except (ConfigError, OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as exc:
        why = " ".join(str(exc).split())  # YAML's errors span lines, with a caret
        raise KubeConfigError(
            f"no Kubernetes credentials: not in a pod, and the kubeconfig {where} "
            f"is unusable ({why})"
        ) from None


def _current(config: KubeConfig) -> SingleConfig:
    current = config.get()
    if current is None or current.user is None:
        raise ConfigError("its current context names no user")
    return current
