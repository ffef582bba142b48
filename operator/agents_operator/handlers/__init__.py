"""kopf handlers: importing this package registers them."""

from agents_operator.handlers import agentpool, lifecycle, workflow

__all__ = ["agentpool", "lifecycle", "workflow"]
