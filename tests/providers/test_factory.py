"""Provider names to adapters: lazy SDK imports and a useful error when an SDK is missing."""

from __future__ import annotations

import sys

import pytest

from agent_runtime.providers.base import ChatModel, ProviderError
from agent_runtime.providers.factory import create_model
from agent_runtime.providers.scripted import ScriptedModel
from agent_runtime.spec.workflow import ModelSpec

# provider -> (the SDK module whose absence we simulate, adapter module, adapter class name)
ADAPTERS = {
    "openai": ("openai", "agent_runtime.providers.openai", "OpenAIModel"),
    "anthropic": ("anthropic", "agent_runtime.providers.anthropic", "AnthropicModel"),
    "google": ("google.genai", "agent_runtime.providers.google", "GoogleModel"),
    "ollama": ("ollama", "agent_runtime.providers.ollama", "OllamaModel"),
}


def test_scripted_needs_no_sdk() -> None:
    model = create_model(ModelSpec(provider="scripted", responses=["hi"]))
    assert isinstance(model, ScriptedModel)


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
def test_missing_sdk_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch, provider: str) -> None:
    sdk, adapter_module, _ = ADAPTERS[provider]
    # None in sys.modules makes ``import sdk`` fail; drop the adapter so it is imported afresh.
    monkeypatch.setitem(sys.modules, sdk, None)
    monkeypatch.delitem(sys.modules, adapter_module, raising=False)

    with pytest.raises(ProviderError) as caught:
        create_model(ModelSpec(provider=provider, model="some-model"))  # type: ignore[arg-type]

    message = str(caught.value)
    assert f"pip install 'configurable-agents[{provider}]'" in message
    assert sdk in message
    assert caught.value.retryable is False


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
def test_adapters_construct_without_credentials_or_network(
    monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    sdk, _, class_name = ADAPTERS[provider]
    pytest.importorskip(sdk)
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)

    model = create_model(ModelSpec(provider=provider, model="some-model"))  # type: ignore[arg-type]

    assert isinstance(model, ChatModel)
    assert type(model).__name__ == class_name
    assert model.spec.model == "some-model"


@pytest.mark.parametrize("provider", sorted(ADAPTERS))
async def test_aclose_before_any_call_is_harmless(provider: str) -> None:
    pytest.importorskip(ADAPTERS[provider][0])
    model = create_model(ModelSpec(provider=provider, model="some-model"))  # type: ignore[arg-type]
    await model.aclose()
    await model.aclose()
