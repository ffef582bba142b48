"""``python -m agent_runtime.agent``: an agent server configured from ``CONFIGURABLE_AGENTS_*``."""

from agent_runtime.agent import AgentSettings, run_agent

run_agent(AgentSettings())
