"""Faults of the network between gateways and agents and between gateways and Postgres.

Each gateway reaches Postgres and each agent through a Toxiproxy proxy of its own (gateway 0's
link to agent 1 is the proxy ``gw0-agent1``), so a fault can cut one gateway off while the others
carry on, as a real partition does. A fault is a toxic on one link (latency, a timeout that stops
the data then closes the connection, a reset of the connection) held for a while, or a partition
of one link (its proxy disabled: connections closed, new ones refused) healed after
``partition`` seconds. Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from tests.chaos.fleet import Fleet
from tests.chaos.toxiproxy import Toxiproxy

#: The network faults (NetworkFaults' methods of these names).
NETWORK_FAULTS = ("latency", "timeout", "reset_peer", "partition_store", "partition_agent")


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))


@dataclass
class ProxiedFleet(Fleet):
    """A Fleet whose gateways reach the store and the agents through ``toxiproxy``."""

    toxiproxy: Toxiproxy | None = None
    _routes: dict[int, tuple[str, list[str]]] = field(default_factory=dict)

    def gateway_routes(self, i: int) -> tuple[str, list[str]]:
        if i not in self._routes:
            assert self.toxiproxy is not None
            store_port = urlsplit(self.store_url).port
            assert store_port is not None
            store = self.toxiproxy.proxy(f"gw{i}-postgres", store_port)
            agents = [
                self.toxiproxy.proxy(f"gw{i}-agent{j}", agent.port)
                for j, agent in enumerate(self._agents)
            ]
            self._routes[i] = (
                _with_port(self.store_url, store),
                [f"http://127.0.0.1:{port}" for port in agents],
            )
        return self._routes[i]


class NetworkFaults:
    """The faults done to a ProxiedFleet's links; each returns the link it broke."""

    def __init__(self, toxiproxy: Toxiproxy, *, partition: float) -> None:
        self.toxiproxy = toxiproxy
        self.partition = partition

    def _link(self, kind: str = "-") -> str:
        """A random link whose name holds ``kind`` (``-postgres``, ``-agent``; any)."""
        return random.choice([n for n in self.toxiproxy.names() if kind in n])

    def _hold(self, link: str, kind: str, stream: str, down: float, **attributes: int) -> str:
        self.toxiproxy.add_toxic(link, kind, kind, stream, **attributes)
        try:
            time.sleep(down)
        finally:
            self.toxiproxy.remove_toxic(link, kind)
        return link

    def latency(self, down: float) -> str:
        """Every byte late by 0.5-2 s (each way), for ``down`` seconds."""
        link = self._link()
        delay = random.randint(500, 2000)
        self.toxiproxy.add_toxic(link, "latency-up", "latency", "upstream", latency=delay)
        try:
            return self._hold(link, "latency", "downstream", down, latency=delay, jitter=200)
        finally:
            self.toxiproxy.remove_toxic(link, "latency-up")

    def timeout(self, down: float) -> str:
        """No data gets through, and each connection is closed after 1-3 s."""
        return self._hold(
            self._link(), "timeout", "upstream", down, timeout=random.randint(1000, 3000)
        )

    def reset_peer(self, down: float) -> str:
        """Connections reset (TCP RST) as soon as data flows."""
        return self._hold(self._link(), "reset_peer", "upstream", down, timeout=0)

    def _partition(self, link: str) -> str:
        self.toxiproxy.enable(link, False)
        try:
            time.sleep(self.partition)
        finally:
            self.toxiproxy.enable(link, True)
        return link

    def partition_store(self, down: float) -> str:
        """One gateway cut off from Postgres (its lease expires meanwhile), then healed."""
        return self._partition(self._link("-postgres"))

    def partition_agent(self, down: float) -> str:
        """One gateway cut off from one agent, then healed."""
        return self._partition(self._link("-agent"))
