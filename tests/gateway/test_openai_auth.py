"""OpenAI-compatible chat under real authentication and RBAC: a caller sees as models only the
conversation Workflows whose runs it may create, and another tenant's are a 404 in OpenAI's
shape (a viewer's a 403), with real tokens from the test control plane."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam as Message

from tests.gateway.auth_harness import Tenants, kube_auth_gateway, tenants_in
from tests.gateway.conftest import GatewayProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CHAT = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {{name: talk, namespace: {namespace}}}
spec:
  state: {{messages: {{type: messages}}}}
  input: [messages]
  output: [messages]
  models: {{m: {{provider: scripted, responses: ["hello from {namespace}"]}}}}
  nodes:
    - {{name: reply, type: llm, model: m, messages: messages, output: messages}}
  edges: [{{from: START, to: reply}}, {{from: reply, to: END}}]
"""


@pytest.fixture(scope="module")
def tenants(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with tenants_in(control_plane, tmp_path_factory.mktemp("openai-auth")) as made:
        for ns in (made.a, made.b):
            (made.workdir / "workflows" / f"{ns}-talk.yaml").write_text(CHAT.format(namespace=ns))
        yield made


@pytest.fixture(scope="module")
def served(tenants: Tenants) -> Iterator[GatewayProcess]:
    with kube_auth_gateway(tenants) as started:
        yield started


def as_caller(served: GatewayProcess, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served.url}/openai/v1", api_key=token, max_retries=0)


def test_models_and_chats_are_each_tenants_own(tenants: Tenants, served: GatewayProcess) -> None:
    runner_a = as_caller(served, tenants.tokens["runner-a"])
    intruder = as_caller(served, tenants.tokens["runner-b"])
    viewer = as_caller(served, tenants.tokens["viewer-a"])
    mine, theirs = f"{tenants.a}/talk", f"{tenants.b}/talk"
    assert [m.id for m in runner_a.models.list()] == [mine]
    assert [m.id for m in intruder.models.list()] == [theirs]
    assert [m.id for m in viewer.models.list()] == []  # may read runs, not start them
    said: list[Message] = [{"role": "user", "content": "hi"}]
    answer = runner_a.chat.completions.create(model=mine, messages=said)
    assert answer.choices[0].message.content == f"hello from {tenants.a}"
    with pytest.raises(openai.NotFoundError) as hidden:
        intruder.chat.completions.create(model=mine, messages=said)
    assert tenants.a not in str(hidden.value.body).replace(mine, "")
    with pytest.raises(openai.NotFoundError):
        intruder.models.retrieve(mine)
    with pytest.raises(openai.PermissionDeniedError):
        viewer.chat.completions.create(model=mine, messages=said)
    with pytest.raises(openai.AuthenticationError):
        as_caller(served, "not-a-token").models.list()
