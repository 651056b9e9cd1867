"""The one retry policy for transient model failures (tenacity), shared by every runner.

Transient failures - rate limits, overload, 5xx, timeouts, dropped connections - are
retried *inside* the runner, so they never spend the launch's business retry budget.
Attempts are bounded twice: by count and by total time (waits included), and the
provider SDK's own retries are switched off so the two layers never multiply. A server's
``retry-after`` is honoured as the minimum wait. When the policy gives up, the failure
becomes an :class:`AgentTimeout` or :class:`AgentError` and the graph's guardrails
(business retry, then the escalation ladder) take over.

Sleep, clock and randomness are injectable so tests never sleep.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from referral_orchestrator.errors import AgentError, AgentTimeout, TransientModelError

T = TypeVar("T")


class RetryableFailure(TransientModelError):
    """A provider failure worth another attempt, with the server's wait hint."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None, timeout: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.timeout = timeout


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by total seconds."""

    max_attempts: int = 4
    max_total_s: float = 90.0
    initial_wait_s: float = 1.0
    max_wait_s: float = 20.0
    jitter_s: float = 1.0
    max_retry_after_s: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    rng: Callable[[], float] = field(default=random.random, repr=False)

    def wait_for(self, attempt: int, failure: BaseException | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        jitter = self.jitter_s * self.rng()
        hint = getattr(failure, "retry_after", None)
        if isinstance(hint, int | float) and hint >= 0:
            # The server knows when capacity returns: wait at least that long.
            return min(float(hint), self.max_retry_after_s) + jitter
        backoff: float = self.initial_wait_s * 2.0 ** (attempt - 1)
        return min(backoff, self.max_wait_s) + jitter

    def call(self, fn: Callable[[], T], *, what: str = "model call") -> T:
        """Run ``fn``, retrying :class:`TransientModelError`; give up into the guardrails."""
        start = self.clock()

        def wait(state: RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            return self.wait_for(state.attempt_number, failure)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.max_attempts:
                return True
            spent = self.clock() - start
            return spent + (state.upcoming_sleep or 0.0) > self.max_total_s

        def give_up(state: RetryCallState) -> T:
            failure = state.outcome.exception() if state.outcome else None
            message = (f"{what} failed after {state.attempt_number} attempt(s) "
                       f"(transient errors, retries exhausted): {failure}")
            if getattr(failure, "timeout", False):
                raise AgentTimeout(message) from failure
            raise AgentError(message, code="model_retries_exhausted") from failure

        retrying = Retrying(
            retry=retry_if_exception_type(TransientModelError),
            wait=wait, stop=stop, sleep=self.sleep, retry_error_callback=give_up,
            reraise=False,
        )
        result: T = retrying(fn)
        return result


def no_wait_policy(max_attempts: int = 4) -> RetryPolicy:
    """A policy that never sleeps (tests, benchmarks)."""
    return RetryPolicy(max_attempts=max_attempts, sleep=lambda _s: None)
