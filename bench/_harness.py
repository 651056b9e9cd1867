"""Side-by-side timing: baseline and subject alternate in one run; medians and their ratio.

Alternating (ABAB..., with the order flipped every round) spreads machine noise - other
processes, CPU frequency, a cold disk cache - over both sides instead of one, which is what
lets a ratio from a busy 2-core box mean something.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    """Timings of one baseline/subject comparison, in seconds."""

    name: str
    baseline_label: str
    subject_label: str
    baseline: list[float]
    subject: list[float]
    target: float | None = None

    @property
    def ratio(self) -> float:
        """Median subject time over median baseline time."""
        return statistics.median(self.subject) / statistics.median(self.baseline)

    @property
    def paired_ratio(self) -> float:
        """Median of per-round ratios (each round ran both sides back to back)."""
        return statistics.median(s / b for s, b in zip(self.subject, self.baseline, strict=True))

    @property
    def ok(self) -> bool | None:
        """Whether the ratio meets the target (None when there is no target)."""
        return None if self.target is None else self.ratio <= self.target

    def row(self) -> str:
        """One table row: medians, ratio, paired ratio, target verdict."""
        b = statistics.median(self.baseline) * 1000
        s = statistics.median(self.subject) * 1000
        verdict = "" if self.ok is None else (
            f"target <= {self.target:g}x: {'OK' if self.ok else 'MISSED'}")
        return (f"{self.name:<34} {b:9.1f} ms {s:9.1f} ms {self.ratio:7.2f}x "
                f"{self.paired_ratio:7.2f}x  {verdict}")

    def to_dict(self) -> dict[str, object]:
        """Plain data for --json."""
        return {"name": self.name, "baseline": self.baseline_label,
                "subject": self.subject_label, "runs": len(self.subject),
                "baseline_median_s": statistics.median(self.baseline),
                "subject_median_s": statistics.median(self.subject),
                "ratio": self.ratio, "paired_ratio": self.paired_ratio,
                "target": self.target, "ok": self.ok}


HEADER = (f"{'comparison':<34} {'baseline':>12} {'subject':>12} {'ratio':>8} "
          f"{'paired':>8}  (medians)")


def clock(fn: Callable[[], object]) -> float:
    """Wall time of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(name: str, baseline: tuple[str, Callable[[], object]],
              subject: tuple[str, Callable[[], object]], runs: int, *,
              warmup: int = 1, target: float | None = None) -> Pair:
    """Run baseline and subject ``runs`` times each, alternating, after ``warmup`` rounds."""
    (b_label, b_fn), (s_label, s_fn) = baseline, subject
    for _ in range(warmup):
        b_fn()
        s_fn()
    b_times: list[float] = []
    s_times: list[float] = []
    for i in range(runs):
        if i % 2:
            s_times.append(clock(s_fn))
            b_times.append(clock(b_fn))
        else:
            b_times.append(clock(b_fn))
            s_times.append(clock(s_fn))
    return Pair(name, b_label, s_label, b_times, s_times, target)
