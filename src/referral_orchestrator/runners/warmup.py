"""Warm a fan-out's prompt cache: the first sibling goes alone, the rest wait for its answer.

The siblings of a fan-out (one draft per channel x segment) share a long prefix - tools,
persona and skills, stage prompt, shared launch context - and LangGraph sends them all in
the same instant. A provider's prompt cache holds an entry only once the request that wrote
it has started answering, so siblings sent together all pay to write the same prefix and
none reads it. :class:`FanoutWarmup` holds every sibling of a wave back until the first one
has had a response (or gave up), so the rest read the prefix from the cache - at the price
of one more model latency on the launch's critical path. ``bench/bench_models.py`` measures
both ways; the runners leave it off by default (``docs/models.md`` has the figures).

A wave is the calls of one agent at one stage with byte-identical shared context
(:func:`~referral_orchestrator.runners.prompting.shared_context`); calls without a shared
context (every non-fan-out call) never wait. Once a wave's first response is in, later calls
of that wave (a retry round with the same context) pass straight through: the entry is warm.
"""

from __future__ import annotations

import hashlib
import threading

from . import prompting
from .base import AgentCall


def wave_of(call: AgentCall) -> str | None:
    """The fan-out wave ``call`` belongs to (a digest of its cacheable prefix), or ``None``."""
    context = prompting.shared_context(call)
    if context is None:
        return None
    seed = "\n".join((call.agent, call.stage, context))
    return hashlib.sha256(seed.encode()).hexdigest()


class FanoutWarmup:
    """Lets the first call of each fan-out wave reach the provider before its siblings.

    Thread-safe; one per runner. A call takes its turn (:meth:`wait_turn`) before its first
    request and releases its wave (:meth:`release`) once that request has come back, with
    any outcome; releasing twice is harmless.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waves: dict[str, threading.Event] = {}

    def wait_turn(self, call: AgentCall) -> str | None:
        """Return at once for a wave's first call; block its siblings until it is released.

        Returns the wave to release (``None`` for a call outside any fan-out).
        """
        wave = wave_of(call)
        if wave is None:
            return None
        with self._lock:
            opened = self._waves.get(wave)
            if opened is None:
                self._waves[wave] = threading.Event()
                return wave
        opened.wait()
        return wave

    def release(self, wave: str | None) -> None:
        """Let the siblings of ``wave`` go: its first response has come back."""
        if wave is None:
            return
        with self._lock:
            opened = self._waves.get(wave)
        if opened is not None:
            opened.set()
