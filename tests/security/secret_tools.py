"""Tools of the secrets test: each sends a credential to a loopback service, as real tools do.

``crm_lookup`` takes its token from its environment (``CRM_LOGIN``, Secret-backed in a pod);
``search`` takes its key as an argument the model gives it. Both put the service's whole error
text in their exceptions, as careless tools do, so only the runtime's scrubbing keeps it out.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

#: Base URL of the loopback service (``tests.security.fake_services``); not a secret.
SERVICES_ENV = "CANARY_SERVICES_URL"


def _get(path: str, headers: dict[str, str]) -> Any:
    response = httpx.get(f"{os.environ[SERVICES_ENV]}{path}", headers=headers, timeout=5)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.text}")
    return response.json()


def crm_lookup(account: str) -> dict[str, Any]:
    """Look an account up in the CRM."""
    token = os.environ.get("CRM_LOGIN", "")
    record: dict[str, Any] = _get(f"/crm/{account}", {"Authorization": f"Bearer {token}"})
    return record


def search(query: str, api_key: str) -> dict[str, Any]:
    """Search the web with the given API key."""
    # In the query too, as many APIs take it (Google's ?key=): URLs end up in logs and spans.
    found: dict[str, Any] = _get(f"/search?q={query}&key={api_key}", {"X-Api-Key": api_key})
    return found
