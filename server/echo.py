"""Client input quoted back in a message (a path, an id, a name, a header): cut to its first
:data:`ECHO_MAX` characters, "…" marking the cut, so that a 16 KB path or a megabyte-long JSON key makes a
one-line refusal, not a copy of the request."""

from __future__ import annotations

ECHO_MAX = 200


def echo(text: str) -> str:
    """``text`` as a message may quote it: whole up to :data:`ECHO_MAX` characters, else its start and "…"."""
    return text if len(text) <= ECHO_MAX else f"{text[:ECHO_MAX]}…"
