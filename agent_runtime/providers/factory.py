"""Provider name to adapter, importing each vendor SDK only when it is used."""

from __future__ import annotations

import importlib

from agent_runtime.providers.base import ChatModel, ProviderError
from agent_runtime.spec.workflow import ModelSpec

_ADAPTERS = {
    "scripted": ("agent_runtime.providers.scripted", "ScriptedModel", None),
    "openai": ("agent_runtime.providers.openai", "OpenAIModel", "openai"),
    "anthropic": ("agent_runtime.providers.anthropic", "AnthropicModel", "anthropic"),
    "google": ("agent_runtime.providers.google", "GoogleModel", "google"),
    "ollama": ("agent_runtime.providers.ollama", "OllamaModel", "ollama"),
}


def create_model(spec: ModelSpec) -> ChatModel:
    module_name, class_name, extra = _ADAPTERS[spec.provider]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProviderError(
            f"the {spec.provider} provider needs its client library: "
            f"pip install 'configurable-agents[{extra}]' ({exc.name} is missing)"
        ) from None
    cls: type[ChatModel] = getattr(module, class_name)
    return cls(spec)
