"""Retry policy for model calls: jittered exponential backoff that honours `retry-after`."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # total tries of one step, first included
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """KIMI_CODE_MAX_RETRIES / KIMI_CODE_RETRY_BASE_DELAY tune it (CI and tests use them)."""
        policy = cls()
        try:
            attempts = int(os.environ.get("KIMI_CODE_MAX_RETRIES", policy.max_attempts - 1)) + 1
            base = float(os.environ.get("KIMI_CODE_RETRY_BASE_DELAY", policy.base_delay_s))
        except ValueError:
            return policy
        return cls(max_attempts=max(1, attempts), base_delay_s=max(0.0, base),
                   max_delay_s=policy.max_delay_s)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try number `attempt + 1` (attempt counts from 1)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.max_delay_s)
        backoff = self.base_delay_s * (2 ** (attempt - 1))
        # Full jitter keeps a swarm of agents from retrying in lockstep.
        return min(self.max_delay_s, random.uniform(backoff / 2, backoff))
