"""Progress of long work (training, sweeps) that reads well in a terminal and in a log.

On a terminal it is a tqdm bar. When the stream is not a terminal (a log file, a CI job, a pipe)
a bar would become one long line of carriage-return updates, so :class:`Progress` writes plain
lines instead: one each time another ``step`` of the work is done (10% by default) and one at
the end, each with the count, the elapsed time and an estimate of the time left::

    LSTM fit: 12/40 epochs (30%), 16 s elapsed, about 38 s left; train 1.0033, val 1.0891
    LSTM fit: done, 40/40 epochs in 55 s
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

__all__ = ["Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``38 s``, ``4 min 05 s``, ``1 h 02 min``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _is_tty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Counts of work done, with an ETA.

    Args:
        total: units of work expected.
        desc: what is being done ("LSTM fit", "PPO training").
        unit: the unit, plural ("epochs", "steps", "runs").
        stream: where to write (default: ``sys.stderr`` at construction).
        enabled: False for no output at all.
        step: plain-line mode writes a line each time this fraction of ``total`` is passed.
        tty: force terminal (True) or plain-line (False) mode; None = ``stream.isatty()``.
        clock: the time source (tests pass a fake one).
    """

    def __init__(self, total: int, desc: str, unit: str = "", *, stream: IO[str] | None = None,
                 enabled: bool = True, step: float = 0.1, tty: bool | None = None,
                 clock=time.perf_counter):
        self.total = max(0, int(total))
        self.desc, self.unit = desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.step = float(step)
        self.clock = clock
        self.done = 0
        self.info: dict[str, Any] = {}
        self._t0 = clock()
        self._next_mark = 1
        self._closed = False
        self._bar = None
        self.tty = _is_tty(self.stream) if tty is None else bool(tty)
        if self.enabled and self.tty:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=self.total, desc=desc, unit=unit.rstrip("s") or "it",
                             file=self.stream, dynamic_ncols=True)

    # ------------------------------------------------------------------ use
    def update(self, n: int = 1, **info) -> None:
        """``n`` more units done; ``info`` (e.g. ``loss=0.12``) is shown beside the count."""
        self.done += int(n)
        if info:
            self.info = info
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(int(n))
            if info:
                self._bar.set_postfix({k: _short(v) for k, v in info.items()}, refresh=False)
            return
        marks = self._mark_of(self.done)
        if marks >= self._next_mark and self.done < self.total:
            self._next_mark = marks + 1
            self._write(self.line())

    def close(self) -> None:
        """Finish: the bar is closed, or a last plain line says what was done in what time."""
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            return
        self._write(self.final_line())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ text
    def _mark_of(self, done: int) -> int:
        if self.total <= 0 or self.step <= 0:
            return 0
        return int(math.floor(done / (self.total * self.step) + 1e-9))

    def elapsed(self) -> float:
        return self.clock() - self._t0

    def eta(self) -> float | None:
        """Seconds left at the average rate so far (None before any unit is done)."""
        if self.done <= 0:
            return None
        return self.elapsed() / self.done * max(0, self.total - self.done)

    def _count(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.done:,}/{self.total:,}{unit}"

    def _info(self) -> str:
        return ("; " + ", ".join(f"{k} {_short(v)}" for k, v in self.info.items())
                if self.info else "")

    def line(self) -> str:
        """``desc: 12/40 epochs (30%), 16 s elapsed, about 38 s left; train 1.0033``."""
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        eta = self.eta()
        left = f", about {format_duration(eta)} left" if eta is not None else ""
        return (f"{self.desc}: {self._count()}{pct}, {format_duration(self.elapsed())} elapsed"
                f"{left}{self._info()}")

    def final_line(self) -> str:
        """``desc: done, 40/40 epochs in 55 s`` (``stopped at 27/40`` when ended early)."""
        status = "done," if self.done >= self.total else "stopped at"
        return (f"{self.desc}: {status} {self._count()} in {format_duration(self.elapsed())}"
                f"{self._info()}")

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)
