"""A dependency-free terminal progress bar: done/total, rate, time left."""
from __future__ import annotations

import sys
import time
from typing import TextIO


def format_seconds(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    """Redraws one line in a terminal; elsewhere (logs, CI) prints a line at most every ``interval`` s."""

    def __init__(self, total: int, unit: str = "pts", stream: TextIO | None = None, width: int = 30, interval: float = 10.0):
        self.total, self.unit, self.width, self.interval = total, unit, width, interval
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0

    def update(self, done: int, rate: float, eta: float | None, extra: str = "") -> None:
        now = time.monotonic()
        final = done >= self.total
        if not self.tty and not final and now - self._last < self.interval:
            return
        self._last = now
        filled = int(self.width * done / self.total) if self.total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        line = f"[{bar}] {done}/{self.total} {self.unit}  {rate:.2f} {self.unit}/s  left {format_seconds(eta)}"
        if extra:
            line += f"  {extra}"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
