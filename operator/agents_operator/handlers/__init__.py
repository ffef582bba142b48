"""kopf handlers: importing this package registers them."""

from agents_operator.handlers import agentpool, lifecycle, members, trigger, workflow

__all__ = ["agentpool", "lifecycle", "members", "trigger", "workflow"]
