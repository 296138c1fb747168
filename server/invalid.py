"""The one-line message of a request FastAPI could not validate (422): pydantic's errors, or, where the
body is not what the route reads (JSON that does not parse, or that Python's parser cannot read: nested too
deep, a number of thousands of digits, not UTF-8; JSON that is not an object, a body sent without
``Content-Type: application/json``, an upload sent as anything but a form, a form cut off before its end),
what to send instead; and Starlette's stock messages ("Not Found", "Invalid multipart data.", "Method Not
Allowed") in words that name the fix (a path with a trailing slash: the path without it, where it is a route's)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, params
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.routing import Match
from starlette.types import Scope

from workers import errors_line

from .echo import echo

JSON_TYPES: dict[type, str] = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}
AXES = (("body", "x"), ("body", "y"))  # a job's axes, which take a string too


def invalid_line(request: Request, errors: Sequence[dict[str, Any]]) -> str:
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    sent = f"the request's Content-Type is {content_type}" if content_type else "the request has no Content-Type"
    body = getattr(request.scope.get("route"), "body_field", None)
    if body is not None and isinstance(body.field_info, params.Form):
        fields = ", ".join(getattr(body.field_info.annotation, "model_fields", {}))
        if content_type != "multipart/form-data":
            return f"send a multipart/form-data form (as curl -F) with the fields {fields}; {sent}"
        if _form_cut_short(request):
            return (
                "the upload was incomplete: the form ended before its closing boundary (the client stopped "
                "sending or the connection was cut); send the whole file again"
            )
        errors = [_not_a_file(e) for e in errors]
    for e in errors:
        if e["type"] == "json_invalid":
            return (
                f"the body is not valid JSON ({e['ctx']['error']} at character {e['loc'][-1]}); "
                "send a JSON object of the fields"
            )
        if e["loc"] == ("body",) and e["type"] in ("missing", "model_attributes_type", "dict_type"):
            if content_type != "application/json" and e["input"] is not None:
                return f"send the body as JSON with Content-Type: application/json; {sent}"
            if e["input"] is None:
                return "the request has no body: send a JSON object of the fields (Content-Type: application/json)"
            return f"the body must be a JSON object of the fields, not {JSON_TYPES.get(type(e['input']), 'that')}"
    return "; ".join(_line(e) for e in errors)


def _form_cut_short(request: Request) -> bool:
    """Whether a multipart body ended before its closing ``--BOUNDARY--`` (Starlette then drops the part it
    was reading, and the route reports that field missing)."""
    params = request.headers.get("content-type", "").split(";")[1:]
    boundary = next((p.strip()[len("boundary=") :].strip('"') for p in params if p.strip().startswith("boundary=")), "")
    tail = request.scope.get("state", {}).get("body_tail")
    return bool(boundary) and tail is not None and not tail.rstrip().endswith(f"--{boundary}--".encode())


def _line(error: dict[str, Any]) -> str:
    """One error in words: a check of the whole request (``give checkpoint_id or gallery_checkpoint, not
    both``) without a location; pydantic's "valid dictionary or object to extract fields from" as a JSON object."""
    if error["loc"] == ("body",):
        return error["msg"].removeprefix("Value error, ")
    error = {**error, "loc": tuple(echo(p) if isinstance(p, str) else p for p in error["loc"])}  # a key sent
    if error["type"] in ("model_attributes_type", "dict_type"):
        got = JSON_TYPES.get(type(error["input"]), "that")
        want = '"min:max:num" (e.g. "-1:1:51") or {"min", "max", "num"}' if error["loc"] in AXES else None
        error = {**error, "msg": f"give {want or 'a JSON object of its fields (see /docs)'}, not {got}"}
    return errors_line([error], skip=("body",))


def _not_a_file(error: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's "Expected UploadFile, received: <class 'str'>" in words: a text field came where a file goes."""
    if "Expected UploadFile" in error["msg"]:
        name = error["loc"][-1]
        return {**error, "msg": f"send a file here (a form part with a filename, as curl -F {name}=@PATH), not text"}
    return error


def worded(request: Request, exc: HTTPException) -> HTTPException:
    """``exc``, or a copy whose detail names the fix where Starlette or FastAPI sent a stock message."""
    status = exc.status_code
    path = request.url.path
    if status == 404 and exc.detail == "Not Found" and path != "/" and path.endswith("/"):
        without = path.rstrip("/") or "/"
        routed = allowed_methods(request.app, {**request.scope, "path": without})
        detail = f"nothing at {echo(path)}: drop the trailing slash ({echo(without)})" if routed else _nothing_at(path)
    elif status == 404 and exc.detail == "Not Found":  # no route: our routes name what is missing
        detail = _nothing_at(path)
    elif isinstance(exc.__context__, MultiPartException):
        detail = f"the form cannot be read ({exc.detail.rstrip('.')}): send multipart/form-data as curl -F does"
    elif status == 400 and exc.detail == "There was an error parsing the body":  # JSON that Python cannot read
        status = 422  # as JSON that does not parse
        detail = _unparsed(exc.__cause__)
    else:
        return exc
    return HTTPException(status, detail, exc.headers)


def _unparsed(cause: BaseException | None) -> str:
    """Why Python's JSON parser could not read a body that is not malformed JSON (that is a ``json_invalid``
    error), in words naming the fix: ``cause``, the parser's exception."""
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not UTF-8 text (byte {cause.start} is not UTF-8): send the JSON as UTF-8"
    if isinstance(cause, RecursionError):
        return (
            "the body's JSON is nested too deep (arrays or objects inside one another): send a JSON object of the "
            "fields (see /docs)"
        )
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return (
            f"a number in the body has more than {sys.get_int_max_str_digits()} digits, more than any field takes: "
            "send each field's value in its range (see /docs)"
        )
    return "the body cannot be parsed as JSON: send a JSON object of the fields (Content-Type: application/json)"


def _nothing_at(path: str) -> str:
    return f"nothing at {echo(path)}: the API's routes are listed at /docs (schema: /openapi.json)"


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route answers on the scope's path (Starlette names only the first route's); HEAD
    wherever GET (:class:`server.head.HeadAsGet`)."""
    methods = {
        method
        for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
        if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in app.router.routes)
    }
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))
