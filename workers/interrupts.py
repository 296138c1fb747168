"""Stop signals that Python may drop. An exception a signal handler raises while the garbage collector runs a
``__del__`` or a weakref callback (at any point of a run) is not raised: Python reports it ("Exception
ignored in ...") and goes on. The commands' handlers remember what they raised, and their progress checks
raise it again; :func:`dropped_unreported` keeps the report of such a one off the user's terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


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
