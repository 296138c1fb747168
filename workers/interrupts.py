"""Stop signals that Python may drop. An exception a signal handler raises while the garbage collector runs a
``__del__`` or a weakref callback (at any point of a run) is not raised: Python reports it ("Exception
ignored in ...") and goes on. The commands' handlers remember what they raised, and their progress checks
raise it again; :func:`dropped_unreported` keeps the report of such a one off the user's terminal."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator


@contextlib.contextmanager
def dropped_unreported(raised_again: Callable[[BaseException], bool]) -> Iterator[None]:
    """While the block runs, a dropped exception for which ``raised_again(exc)`` holds (a check raises it
    again) is not reported; others are, as before."""
    hook = sys.unraisablehook

    def unraisable(u) -> None:
        if u.exc_value is None or not raised_again(u.exc_value):
            hook(u)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        sys.unraisablehook = hook


def stop_signals() -> list[signal.Signals]:
    """SIGINT and SIGTERM, less those this process ignores: a signal ignored when it started stays ignored
    (a shell script's background job, ``lossatlas serve &``, ignores SIGINT: a Ctrl-C meant for the script
    must not stop it; SIGTERM still does)."""
    return [sig for sig in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is not signal.SIG_IGN]


@contextlib.contextmanager
def handled_by(handler: Callable[[int, object], object], signals: Iterable[int]) -> Iterator[None]:
    """While the block runs, ``handler`` handles ``signals``; the handlers before are restored after. Only the
    main thread can set handlers: elsewhere (a test's server thread) nothing is set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)
