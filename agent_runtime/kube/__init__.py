"""The Kubernetes API through lightkube: credentials from the pod's account or a kubeconfig,
plain-dict reads and writes, and list-then-watch.

Shared by the operator (its writes) and the gateway (its watches, TokenReviews and
SubjectAccessReviews).
"""

from agent_runtime.kube.client import KubeClient, KubeError, Labels
from agent_runtime.kube.config import KubeConfigError, load_configuration
from agent_runtime.kube.resources import resource
from agent_runtime.kube.watch import WATCH_ERRORS, Watch

__all__ = [
    "WATCH_ERRORS",
    "KubeClient",
    "KubeConfigError",
    "KubeError",
    "Labels",
    "Watch",
    "load_configuration",
    "resource",
]
