"""JSON request bodies read strictly: a name given twice in one object (``{"samples": 10, ...,
"samples": 5000}``) is refused (422) naming it; Python's json (so FastAPI) keeps the last without a word."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect


class _Repeated(ValueError):
    pass


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names: set[str] = set()
    for name, _ in pairs:
        if name in names:
            raise _Repeated(name)
        names.add(name)
    return dict(pairs)


def repeated_name(body: bytes) -> str | None:
    """A name given twice in one object of the JSON ``body``; None when there is none, or the body is not
    JSON (the route says what is wrong with it then)."""
    try:
        json.loads(body, object_pairs_hook=_unique)
    except _Repeated as e:
        return str(e)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep ...
        return None
    return None


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is refused when it gives a name twice in one object, before the route runs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
            if kind == "application/json" or kind.endswith("+json"):
                try:
                    body = await request.body()  # read once: the route reads the same bytes
                except ClientDisconnect:  # as FastAPI answers it when the route reads the body (to nobody)
                    raise HTTPException(400, "the client went away before its request's body was complete") from None
                name = repeated_name(body)
                if name is not None:
                    raise HTTPException(422, f"the body gives {name!r} twice in one object: give each field once")
            return await handler(request)

        return strict
