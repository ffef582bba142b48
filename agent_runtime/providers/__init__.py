"""Model providers: one small adapter per LLM API behind the ``ChatModel`` interface.

Vendor SDKs are optional extras, imported only when a Workflow names their provider.
"""

from agent_runtime.providers.base import (
    ChatModel,
    ChatRequest,
    Completion,
    Message,
    ProviderError,
    ToolCall,
    ToolDef,
    Usage,
)
from agent_runtime.providers.factory import create_model

__all__ = [
    "ChatModel",
    "ChatRequest",
    "Completion",
    "Message",
    "ProviderError",
    "ToolCall",
    "ToolDef",
    "Usage",
    "create_model",
]
