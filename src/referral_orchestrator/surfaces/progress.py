"""Live progress for the CLI, fed by ``Orchestrator(on_transition=...)``.

Three modes, picked by :func:`progress_for`:

- ``rich``  - on a terminal: a live table, one row per stage, with the event, the agent,
  the attempt and the elapsed time, under a header naming the current agent;
- ``plain`` - when stderr is not a terminal (a slash command, CI, a pipe): one line per
  transition, so logs stay greppable;
- ``quiet`` - nothing; the CLI prints only its summary.

Progress always goes to stderr, so ``--format json`` keeps stdout one JSON document.
Records can quote what a person typed (a rejection note, a roster reason), so every value
is shown terminal-safe: no escape sequences, bidi controls or line breaks, and rich cells
are plain ``Text``, never console markup.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any, Literal

from referral_orchestrator.launch.text import one_line

Mode = Literal["rich", "plain", "quiet"]



@functools.cache
def stages() -> dict[str, str]:
    """Graph node ids in flow order, as the stage registry names them; the ladder's last.

    Read on the first record: a command that shows none (``status``) never imports the
    stage registry and its pydantic models.
    """
    from referral_orchestrator.launch.stages import NODES

    return {node: label for node, label in NODES.items()}

_DONE = {"completed", "qa_passed", "drafted", "merged", "approved", "remediated", "live",
         "proceed", "decided", "reassigned"}
_BAD = {"qa_failed", "failed", "rejected", "approval_slipped", "escalated", "halted", "halt"}


def pick_mode(stream: IO[str], *, quiet: bool = False) -> Mode:
    """``quiet`` if asked, ``rich`` on a real terminal, otherwise ``plain``."""
    if quiet:
        return "quiet"
    forced = os.environ.get("REFERRAL_ORCHESTRATOR_PROGRESS", "").strip().lower()
    if forced in ("rich", "plain", "quiet"):
        return forced  # type: ignore[return-value]
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty() and os.environ.get("TERM") != "dumb":
        return "rich"
    return "plain"


class Progress:
    """An ``on_transition`` hook that shows each transition record as it is persisted.

    Use it as a context manager around the orchestrator call: the rich display starts with
    the first record and is stopped (leaving the final table on screen) on exit, error or not.
    """

    def __init__(self, mode: Mode, stream: IO[str], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.mode: Mode = mode
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.records: list[dict[str, Any]] = []
        self.rows: dict[str, dict[str, Any]] = {}
        self._live: Any = None

    # -- the hook ----------------------------------------------------------------------

    def __call__(self, record: dict[str, Any]) -> None:
        """Record one transition and show it."""
        elapsed = self.clock() - self.started
        self.records.append(record)
        node = str(record.get("node", "?"))
        row = self.rows.setdefault(node, {"count": 0})
        row.update(event=record.get("event", ""), agent=record.get("agent", ""),
                   attempt=record.get("attempt", 0), reason=record.get("reason", ""),
                   elapsed=elapsed)
        row["count"] += 1
        if self.mode == "plain":
            self.stream.write(self.line(record, elapsed) + "\n")
            self.stream.flush()
        elif self.mode == "rich":
            if self._live is None:
                self._start_live()
            self._live.update(self.render(), refresh=True)

    @staticmethod
    def line(record: dict[str, Any], elapsed: float) -> str:
        """One plain progress line: elapsed, stage, event, agent, attempt, reason."""
        return f"[{elapsed:6.1f}s] " + Progress.describe(record)

    @staticmethod
    def describe(record: dict[str, Any]) -> str:
        """A transition record in words: stage, event, agent, attempt, reason."""
        node = one_line(record.get("node", "?"))
        parts = [f"{stages().get(node, node):<28}", f"{one_line(record.get('event', '')):<16}"]
        if record.get("agent"):
            parts.append(f"by {one_line(record['agent'])}")
        if record.get("attempt", 0) and record["attempt"] > 1:
            parts.append(f"(attempt {one_line(record['attempt'])})")
        if record.get("reason"):
            parts.append(f"- {one_line(record['reason'])}")
        return " ".join(parts).rstrip()

    # -- rich display ------------------------------------------------------------------

    def current(self) -> str:
        """Who acted last: the agent (or the stage when a gate acted)."""
        if not self.records:
            return "starting"
        last = self.records[-1]
        node = str(last.get("node", ""))
        return one_line(last.get("agent") or stages().get(node, node))

    def render(self) -> Any:
        """The rich renderable: a header and one row per stage seen so far."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        elapsed = self.clock() - self.started
        header = Text.assemble(("referral launch ", "bold"), f"{elapsed:5.1f}s  ",
                               ("current: ", "dim"), (self.current(), "bold cyan"))
        table = Table(box=None, pad_edge=False, show_edge=False)
        for col in ("", "stage", "event", "agent", "try", "at"):
            table.add_column(col, no_wrap=col != "event")
        order = [n for n in stages() if n in self.rows] + [n for n in self.rows
                                                         if n not in stages()]
        for node in order:
            row = self.rows[node]
            event = str(row["event"])
            mark, style = (("✓", "green") if event in _DONE else
                           ("✗", "red") if event in _BAD else ("…", "yellow"))
            count = f" x{row['count']}" if row["count"] > 1 else ""
            table.add_row(Text(mark, style=style), Text(one_line(stages().get(node, node)) + count),
                          Text(one_line(event)), Text(one_line(row["agent"] or "-")),
                          Text(one_line(row["attempt"] or "")), f"{row['elapsed']:.1f}s")
        return Group(header, table)

    # -- lifecycle ---------------------------------------------------------------------

    def _start_live(self) -> None:
        # Started on the first record, so commands that run nothing leave no empty table.
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.stream, force_terminal=True)
        self._live = Live(self.render(), console=console, refresh_per_second=4,
                          transient=False, get_renderable=self.render)
        self._live.start()

    def __enter__(self) -> Progress:
        self.started = self.clock()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def progress_for(stream: IO[str], *, quiet: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> Progress:
    """The progress display for ``stream`` (normally stderr) in the mode that fits it."""
    return Progress(pick_mode(stream, quiet=quiet), stream, clock=clock)
