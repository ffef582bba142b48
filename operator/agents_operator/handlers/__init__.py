"""kopf handlers: importing this package registers them."""

from agents_operator.handlers import agentpool, lifecycle, trigger, workflow

__all__ = ["agentpool", "lifecycle", "trigger", "workflow"]
