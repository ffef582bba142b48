"""The gateway: the Runs API over HTTP and the workers that claim and execute runs.

Stateless: every run lives in the run store, so any replica can serve any request, and a replica
that dies loses only leases, which others take over.
"""

from agent_runtime.gateway.app import create_app
from agent_runtime.gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "create_app"]
