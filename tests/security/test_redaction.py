"""Which environment values ``redact`` scrubs: by the variable's name, or because it is listed."""

from __future__ import annotations

import pytest

from agent_runtime.telemetry.secrets import MASK, SECRET_ENV, redact


def test_values_of_listed_variables_are_scrubbed_whatever_their_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRM_LOGIN", "crm-login-0123456789")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:pw-0123456789@db/runs")
    monkeypatch.setenv("PLAIN_SETTING", "plain-value-0123456789")
    text = "crm-login-0123456789 postgresql://u:pw-0123456789@db/runs plain-value-0123456789"
    assert redact(text) == text, "nothing is scrubbed before the names are listed"
    monkeypatch.setenv(SECRET_ENV, " CRM_LOGIN, DATABASE_URL ,")
    assert redact(text) == f"{MASK} {MASK} plain-value-0123456789"
    assert redact(SECRET_ENV + "=CRM_LOGIN") == SECRET_ENV + "=CRM_LOGIN", "names are not secret"


@pytest.mark.parametrize("name", ["STRIPE_KEY", "PRIVATE_KEY", "DB_PASSWD", "OPENAI_API_KEY"])
def test_a_name_an_agentpool_would_refuse_as_a_literal_is_secret(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AgentPool env refuses a literal value for names with KEY, TOKEN, SECRET, PASSWORD or
    CREDENTIAL: the runtime scrubs at least those."""
    monkeypatch.setenv(name, "value-0123456789")
    assert redact("got value-0123456789") == f"got {MASK}"
