"""Progress for terminals, logs and notebooks alike, showing done/total, the rate and the time left.

- a terminal: a tqdm bar, redrawn in place;
- a notebook: tqdm's widget (``tqdm.auto``);
- anything else (``lossatlas compute ... > log 2>&1``, a pipe, a job's log file): plain lines, one at most
  every ``interval`` seconds and one at the end, with no carriage returns or escape codes.

A resumed surface starts with points already done: the rate and time left then come from the engine's
:class:`~workers.surface.Progress` (points computed by this run over its time), not from the bar's count,
which would take the finished points for work done in the first second. Without them, the bar measures
its count over the time since it was made, in every form the same way (tqdm's own rate has another
format: ``6.58steps/s``, padded below 10).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm.auto import tqdm as auto_tqdm
from tqdm.std import tqdm


def percent(share: float) -> str:
    """``93.5%``: a share as a percentage, with the digits it takes for a share above 0 (below 1) never to
    read 0.0% (100.0%): ``0.04%``, ``99.996%``."""
    value = 100 * share
    for digits in range(1, 7):
        text = f"{value:.{digits}f}"
        if (float(text) != 0 or value == 0) and (float(text) != 100 or value == 100):
            break
    return f"{text}%"


def counted(n: int, noun: str) -> str:
    """``1 point``, ``2 points``: a count and its (regular) noun in the right number."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def duration(seconds: float) -> str:
    """``0.42s``, ``3.1s``, ``754s``: a duration with the digits it takes for a short one not to read ``0s``."""
    if seconds < 0.01:
        return "<0.01s"
    return f"{seconds:.2g}s" if seconds < 10 else f"{seconds:.0f}s"


def format_seconds(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _rate_and_eta(
    done: int, total: int, rate: float | None, eta: float | None, since: float
) -> tuple[float | None, float | None]:
    """The rate and time left as given, or else measured: ``done`` over the time since ``since``
    (``time.perf_counter()``), None before the first step."""
    if rate is not None:
        return rate, eta
    elapsed = time.perf_counter() - since
    rate = done / elapsed if done and elapsed > 0 else None
    return rate, ((total - done) / rate if rate else None)


def _speed(rate: float | None, eta: float | None, unit: str) -> str:
    """``2.50 pts/s, left 00:04`` (``-- pts/s, left --:--`` before the first step)."""
    return f"{f'{rate:.2f}' if rate else '--'} {unit}/s, left {format_seconds(eta)}"


# {postfix} (tqdm puts ", " before it) carries the rate, the time left and any extra text.
_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} {unit}{postfix}"


class _TqdmBar:
    """A tqdm bar (a terminal's, or the notebook widget with ``bar_class=tqdm.auto.tqdm``)."""

    def __init__(self, total: int, unit: str, stream: TextIO, desc: str | None, bar_class: type = tqdm):
        self.total, self.unit = total, unit
        self._start = time.perf_counter()
        self._bar = bar_class(
            total=total,
            unit=unit,
            file=stream,
            desc=desc,
            mininterval=0.2,
            dynamic_ncols=True,
            leave=True,
            bar_format=_FORMAT,
        )

    def show(self, done: int, rate: float | None, eta: float | None, extra: str) -> None:
        text = _speed(*_rate_and_eta(done, self.total, rate, eta, self._start), self.unit)
        self._bar.set_postfix_str(text + (f", {extra}" if extra else ""), refresh=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


class _LogLines:
    """Plain lines for a log: ``desc: done/total unit (pct%), rate unit/s, left eta, extra``, written when
    ``interval`` seconds have passed since the last one, when ``total`` is reached, and on close if the
    last state is unshown."""

    def __init__(self, total: int, unit: str, stream: TextIO, desc: str | None, interval: float):
        self.total, self.unit, self._stream, self._interval = total, unit, stream, interval
        self._prefix = f"{desc}: " if desc else ""
        self._start = self._last = time.perf_counter()
        self._pending = ""  # the latest state, not yet written
        self._reached = False  # total reached (and written)

    def show(self, done: int, rate: float | None, eta: float | None, extra: str) -> None:
        now = time.perf_counter()
        pct = 100 * done // self.total if self.total else 100
        self._pending = (
            f"{self._prefix}{done}/{self.total} {self.unit} ({pct}%), "
            f"{_speed(*_rate_and_eta(done, self.total, rate, eta, self._start), self.unit)}"
            + (f", {extra}" if extra else "")
        )
        if (done >= self.total and not self._reached) or now - self._last >= self._interval:
            self._write(now)
        self._reached = self._reached or done >= self.total

    def _write(self, now: float) -> None:
        print(self._pending, file=self._stream, flush=True)
        self._pending, self._last = "", now

    def close(self) -> None:
        if self._pending:
            self._write(time.perf_counter())


def _in_notebook() -> bool:
    """Whether ``tqdm.auto`` chose the notebook widget (it does in a Jupyter kernel with ipywidgets)."""
    return any(c.__module__ == "tqdm.notebook" for c in auto_tqdm.__mro__)


class ProgressBar:
    """One bar; ``update(done, rate, eta, extra)`` moves it to ``done``. Without ``rate`` (None), the bar
    measures it. A terminal gets a tqdm bar, a notebook tqdm's widget, anything else plain lines at most
    every ``interval`` seconds (and at the end). The bar closes when ``done`` reaches ``total`` unless
    ``close_at_total`` is False: then ``extra`` still shows work after the last step until :meth:`close`."""

    def __init__(
        self,
        total: int,
        unit: str = "pts",
        stream: TextIO | None = None,
        interval: float = 10.0,
        desc: str | None = None,
        close_at_total: bool = True,
    ):
        self._total, self.unit, self._close_at_total = total, unit, close_at_total
        out = stream or sys.stderr
        if getattr(out, "isatty", lambda: False)():
            self._shown: _TqdmBar | _LogLines = _TqdmBar(total, unit, out, desc)
        elif stream is None and _in_notebook():
            self._shown = _TqdmBar(total, unit, out, desc, auto_tqdm)
        else:
            self._shown = _LogLines(total, unit, out, desc, interval)
        self._closed = False

    @property
    def total(self) -> int:
        return self._total

    def update(self, done: int, rate: float | None = None, eta: float | None = None, extra: str = "") -> None:
        if self._closed:
            return
        self._shown.show(done, rate, eta, extra)
        if done >= self.total and self._close_at_total:
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._shown.close()
