"""``python -m agent_runtime.agent``: an agent server configured from ``CONFIGURABLE_AGENTS_*``."""

import sys

from agent_runtime.agent import AgentSettings, run_agent

if __name__ == "__main__":
    sys.exit(0 if run_agent(AgentSettings()) else 1)
