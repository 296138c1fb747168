"""What the API refuses that FastAPI lets through without a word, each in a line naming the fix (422): a
query parameter the route does not take, a form field it does not take, either given twice, and a JSON
body that gives a name twice in one object. FastAPI ignores an unknown parameter or field and keeps the
last of a repeat: a misspelt filter (``?modle=``) answered every surface unfiltered, ``"samples": 10, ...,
"samples": 5000`` asked for 5000, a second file in an upload form replaced the first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import HTTPException, Request
from fastapi.dependencies.models import Dependant

from .echo import echo


def known_query(request: Request) -> None:
    """Every API route (the app's dependency; the viewer's page keeps its own state in its query)."""
    route = request.scope.get("route")
    if request.query_params and request.url.path.startswith("/api/") and route is not None:
        _check("query parameter", request, list(_names(route.dependant, "query_params")), request.query_params)


async def known_body(request: Request) -> None:
    """Every write route that reads a body (after FastAPI read it: this reads the same bytes, or form)."""
    route = request.scope.get("route")
    takes = list(_names(route.dependant, "body_params")) if route is not None else []
    if not takes:  # a route that reads no body (a DELETE)
        return
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind == "multipart/form-data":
        _check("form field", request, takes, await request.form())
    elif kind == "application/json" or kind.endswith("+json"):
        name = repeated_name(await request.body())
        if name is not None:
            raise HTTPException(422, f"the body gives {echo(name)!r} twice in one object: give each field once")


def _check(what: str, request: Request, takes: list[str], given: Any) -> None:
    """422 for a name of ``given`` (a multi-dict) not in ``takes``, or given more than once."""
    for name in dict.fromkeys(given.keys()):
        if name not in takes:
            it_takes = ", ".join(dict.fromkeys(takes)) or "none"
            raise HTTPException(
                422,
                f"unknown {what} {echo(name)!r}: {request.method} {echo(request.url.path)} does not take it; "
                f"it takes {it_takes}",
            )
        if len(given.getlist(name)) > 1:
            raise HTTPException(422, f"{what} {echo(name)!r} is given more than once: give it once")


def _names(dependant: Dependant, kind: str) -> Iterator[str]:
    """The names of one kind of parameter (``query_params``, ``body_params``) of a route or dependency and
    of its dependencies, in their order."""
    yield from (param.alias for param in getattr(dependant, kind))
    for sub in dependant.dependencies:
        yield from _names(sub, kind)


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
    JSON (FastAPI has said so before this runs)."""
    try:
        json.loads(body, object_pairs_hook=_unique)
    except _Repeated as e:
        return str(e)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep ...
        return None
    return None
