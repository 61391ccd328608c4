"""The lab's runtime configuration and its seeded fault decisions."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class LabConfig:
    """Runtime configuration; every field can be changed through POST /__lab/config."""

    time_scale: float = 1.0
    latency: float = 0.0               # seconds added to every /v1 answer
    rate_limit: int = 3600             # bucket size per token
    rate_refill: float = 1.0           # tokens per second
    fault_rate: float = 0.0            # fraction of /v1 answers replaced by a fault
    fault_kinds: list = field(default_factory=lambda: [500, 502, 503, 504, "timeout"])
    fault_timeout: float = 5.0         # seconds a "timeout" fault holds the connection
    fault_actions: dict = field(default_factory=dict)  # command -> probability of error
    seed: int = 0
    durations: dict = field(default_factory=dict)      # command -> nominal seconds
    allow_retired_types: bool = False  # create servers of deprecated, unavailable types

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Faults:
    """Seeded fault decisions.  Two streams (requests, actions) so that both are
    reproducible for a seed independently of each other."""

    def __init__(self, cfg: LabConfig):
        self.reseed(cfg)

    def reseed(self, cfg: LabConfig) -> None:
        self.cfg = cfg
        self.req_rng = random.Random(f"{cfg.seed}:requests")
        self.act_rng = random.Random(f"{cfg.seed}:actions")
        self.lock = threading.Lock()

    def request_fault(self):
        if self.cfg.fault_rate <= 0:
            return None
        with self.lock:
            roll = self.req_rng.random()
            kind = self.req_rng.choice(self.cfg.fault_kinds) if self.cfg.fault_kinds else 500
        return kind if roll < self.cfg.fault_rate else None

    def action_fails(self, command: str) -> bool:
        p = self.cfg.fault_actions.get(command, self.cfg.fault_actions.get("*", 0))
        if not p:
            return False
        with self.lock:
            return self.act_rng.random() < float(p)
