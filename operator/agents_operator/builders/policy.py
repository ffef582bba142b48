"""The platform tool policy as agent pods' environment, so they enforce what the operator admits.

Every setting is spelled out (lists as JSON), so nothing the image or the pool sets changes it;
the pool's own ``CONFIGURABLE_AGENTS_POLICY_*`` entries (a policy file included) are dropped.
"""

from __future__ import annotations

import json
from typing import Any

from agent_runtime.policy import POLICY_ENV_PREFIX, ToolPolicy

Obj = dict[str, Any]


def tool_policy_env(policy: ToolPolicy) -> list[Obj]:
    """``CONFIGURABLE_AGENTS_POLICY_*`` entries giving an agent exactly ``policy``."""
    preset = "local" if policy == ToolPolicy.local() else "cluster"
    values = {
        "PRESET": preset,
        "ALLOWED_FUNCTIONS": json.dumps(policy.allowed_functions),
        "EGRESS_ALLOW": json.dumps(policy.egress_allow),
        "ALLOW_LOOPBACK": json.dumps(policy.allow_loopback),
        "ALLOW_PRIVATE": json.dumps(policy.allow_private),
    }
    return [{"name": f"{POLICY_ENV_PREFIX}{k}", "value": v} for k, v in values.items()]


def is_policy_setting(name: str) -> bool:
    """Whether an env name is the platform's to set: a pool may not loosen its own policy."""
    return name.startswith(POLICY_ENV_PREFIX)
