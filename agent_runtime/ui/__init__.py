"""The dashboard and the chat page: a client of the Runs API over HTTP, never of the engine.

Because it only speaks HTTP to a gateway, the same app is embedded by ``serve`` and runs alone as
a sidecar (``configurable-agents ui --gateway URL``).
"""

from agent_runtime.ui.app import create_dashboard, create_ui_app, mount_ui
from agent_runtime.ui.client import GatewayClient, GatewayError
from agent_runtime.ui.csrf import UiSecretError

__all__ = [
    "GatewayClient",
    "GatewayError",
    "UiSecretError",
    "create_dashboard",
    "create_ui_app",
    "mount_ui",
]
