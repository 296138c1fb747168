"""Progress bars for terminals, logs and notebooks alike: tqdm (``tqdm.auto``, a widget in Jupyter),
showing done/total, the rate and the time left.

A resumed surface starts with points already done: the rate and time left then come from the engine's
:class:`~workers.surface.Progress` (points computed by this run over its time), not from tqdm's count,
which would take the finished points for work done in the first second.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm.auto import tqdm


def format_seconds(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


# {postfix} (tqdm puts ", " before it) carries the rate and time left when given, and any extra text.
_GIVEN = "{l_bar}{bar}| {n_fmt}/{total_fmt} {unit}{postfix}"
_TQDM = "{l_bar}{bar}| {n_fmt}/{total_fmt} {unit}, {rate_noinv_fmt}, left {remaining}{postfix}"


class ProgressBar:
    """One bar; ``update(done, rate, eta, extra)`` moves it to ``done``. Without ``rate`` (None), tqdm
    measures it. In a terminal it redraws often; into a log it writes at most every ``interval`` seconds."""

    def __init__(
        self,
        total: int,
        unit: str = "pts",
        stream: TextIO | None = None,
        interval: float = 10.0,
        desc: str | None = None,
    ):
        self._total, self.unit = total, unit
        stream = stream or sys.stderr
        tty = getattr(stream, "isatty", lambda: False)()
        self._bar = tqdm(
            total=total,
            unit=unit,
            file=stream,
            desc=desc,
            mininterval=0.2 if tty else interval,
            dynamic_ncols=tty,
            ncols=None if tty else 100,
            leave=True,
            bar_format=_TQDM,
        )

    @property
    def total(self) -> int:
        return self._total

    def update(self, done: int, rate: float | None = None, eta: float | None = None, extra: str = "") -> None:
        bar = self._bar
        if rate is not None:
            bar.bar_format = _GIVEN
            text = f"{rate:.2f} {self.unit}/s, left {format_seconds(eta)}" + (f", {extra}" if extra else "")
        else:
            text = extra
        bar.set_postfix_str(text, refresh=False)
        bar.update(done - bar.n)
        if done >= self.total:
            bar.close()

    def close(self) -> None:
        self._bar.close()
