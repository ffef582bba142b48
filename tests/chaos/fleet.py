"""The processes of a chaos run, and the faults done to them on a schedule.

Gateways and agents are real processes on loopback ports, over one real PostgreSQL server. A fault
is a SIGKILL (then a restart), a SIGSTOP (then SIGCONT), or a Postgres crash (then a start), held
for a random while (tests/chaos/network.py adds faults of the network between them); the schedule
logs each with its times, so the report can tell how long the survivors took to take over.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.agent.harness import AgentProcess
from tests.gateway.conftest import GatewayProcess

#: Seconds between faults, and how long each is held (the issue: every 5-20 s for 0-5 s; CI's
#: small size uses shorter gaps so that a short workload still meets every kind of fault).
GAP = (
    float(os.environ.get("CONFIGURABLE_AGENTS_CHAOS_GAP_MIN", "2")),
    float(os.environ.get("CONFIGURABLE_AGENTS_CHAOS_GAP_MAX", "6")),
)
DOWN = (0.0, 5.0)
#: Lease TTL and wait backoff of the gateways: takeovers within seconds, so short runs see them.
GATEWAY_ENV = {"CONFIGURABLE_AGENTS_LEASE_TTL": "6", "CONFIGURABLE_AGENTS_WAIT_BACKOFF": "0.5"}


@dataclass
class Fault:
    kind: str
    target: str
    at: float
    healed: float | None = None
    error: str | None = None


@dataclass
class Fleet:
    """``gateways`` gateways and ``agents`` agents (capability ``llm``) serving ``workflows``."""

    workdir: Path
    store_url: str
    workflows: Path
    postgres: Any
    gateways: int = 2
    agents: int = 3
    env: dict[str, str] = field(default_factory=dict)
    _gateways: list[GatewayProcess] = field(default_factory=list)
    _agents: list[AgentProcess] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for i in range(self.agents):
            self._agents.append(self._agent(i))
        for agent in self._agents:
            agent.wait_ready(timeout=60)
        self._gateways = [self._gateway(i) for i in range(self.gateways)]

    def _agent(self, i: int, port: int | None = None) -> AgentProcess:
        return AgentProcess(
            self.workdir, name=f"agent-{i}", port=port, max_concurrent_tasks=16, drain_timeout="1s"
        )

    def gateway_routes(self, i: int) -> tuple[str, list[str]]:
        """The store URL and agent URLs gateway ``i`` is given (direct here; proxied in
        tests/chaos/network.py)."""
        return self.store_url, [a.url for a in self._agents]

    def _gateway(self, i: int) -> GatewayProcess:
        store_url, agent_urls = self.gateway_routes(i)
        return GatewayProcess(
            store_url,
            self.workdir,
            "--agents",
            f"llm={','.join(agent_urls)}",
            workflows=self.workflows,
            env=self.env,
            ready_timeout=120,  # a loaded machine, a store recovering from a crash
        )

    def urls(self) -> list[str]:
        with self._lock:
            return [g.url for g in self._gateways if g.proc.poll() is None]

    def stop(self) -> None:
        for gateway in self._gateways:
            gateway.kill(signal.SIGTERM)
        for agent in self._agents:
            agent.stop()

    # ------------------------------------------------------------------ faults

    def kill_gateway(self, down: float) -> str:
        with self._lock:
            i = random.randrange(len(self._gateways))
            victim = self._gateways[i]
        victim.kill(signal.SIGKILL)
        time.sleep(down)
        replacement = self._gateway(i)  # waits until ready (the store may be down: retried)
        with self._lock:
            self._gateways[i] = replacement
        return f"gateway:{victim.port}"

    def kill_agent(self, down: float) -> str:
        i = random.randrange(len(self._agents))
        victim = self._agents[i]
        victim.signal(signal.SIGKILL)
        victim.wait_stopped()
        time.sleep(down)
        replacement = self._agent(i, port=victim.port)  # same port: the gateways' lists hold
        replacement.wait_ready(timeout=60)
        self._agents[i] = replacement
        return f"agent:{victim.port}"

    def pause(self, down: float) -> str:
        with self._lock:
            procs = [(f"gateway:{g.port}", g.proc) for g in self._gateways]
        procs += [(f"agent:{a.port}", a.proc) for a in self._agents]
        name, proc = random.choice(procs)
        proc.send_signal(signal.SIGSTOP)
        time.sleep(down)
        proc.send_signal(signal.SIGCONT)
        return name

    def restart_postgres(self, down: float) -> str:
        self.postgres.stop("immediate")  # like a crash: recovery on start
        time.sleep(down)
        self.postgres.start()
        return "postgres"


#: The faults a Fleet does to its processes (its methods of these names).
PROCESS_FAULTS = ("kill_gateway", "kill_agent", "pause", "restart_postgres")


class FaultSchedule(threading.Thread):
    """One fault every ``gap`` seconds (a random pick in the range), each held ``down``: a call
    of ``faults``' method named for the kind, given the time to hold it, returning its target."""

    def __init__(
        self,
        faults: object,
        kinds: tuple[str, ...] = PROCESS_FAULTS,
        *,
        gap: tuple[float, float],
        down: tuple[float, float],
    ) -> None:
        super().__init__(name="fault-schedule", daemon=True)
        self.target = faults
        self.kinds = kinds
        self.gap = gap
        self.down = down
        self.faults: list[Fault] = []
        self.began = time.time()  #: when the schedule started (set again by run)
        self._halt = threading.Event()
        self._cycled = threading.Event()

    def run(self) -> None:
        self.began = time.time()
        cycle: list[str] = []
        while not self._halt.wait(random.uniform(*self.gap)):
            if not cycle:  # every kind once per cycle, in a random order
                cycle = random.sample(self.kinds, len(self.kinds))
            kind = cycle.pop()
            if not cycle:
                self._cycled.set()
            fault = Fault(kind=kind, target="", at=time.time())
            self.faults.append(fault)
            try:
                fault.target = getattr(self.target, kind)(random.uniform(*self.down))
            except Exception as exc:  # a restart that failed is a finding, not a crash here
                fault.error = f"{exc.__class__.__name__}: {str(exc)[-500:]}"
            fault.healed = time.time()

    def finish(self, timeout: float = 600) -> None:
        """Stop once every kind of fault has been done at least once (whatever the workload's
        pace), then wait for the last to heal."""
        self._cycled.wait(timeout)
        self.stop()

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=180)  # a partition being held heals first
