"""A small async Kubernetes client: credentials from kubeconfig or the pod's account, and watches.

Shared by the operator (its writes) and the gateway (its watches of Workflows and EndpointSlices).
"""

from agent_runtime.kube.client import KubeClient, KubeConfigError, KubeError, load_configuration
from agent_runtime.kube.watch import Watch

__all__ = ["KubeClient", "KubeConfigError", "KubeError", "Watch", "load_configuration"]
