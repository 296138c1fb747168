"""Requests of a hostile-input pass: client input kilobytes long (a path, an id, a name, a header) quoted back
in a refusal, cut to its first 200 characters; a request line naming its target in absolute form, served as
the path it names (RFC 9112, section 3.2.2), and a target that is no path, refused in words."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverkit import TOKEN, ThreadServer, job_request, make_settings

LONG = "k" * 3000
JSON_BODY = {"Content-Type": "application/json"}


def cut(text: str) -> str:
    """What a message quotes of ``text``, longer than 200 characters."""
    return text[:200] + "…"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Iterator[ThreadServer]:
    """With the protocol of ``lossatlas serve`` (h11, its guards) and a token."""
    root = tmp_path_factory.mktemp("hostile")
    with ThreadServer(make_settings(root / "data", tiny_npz, token=TOKEN), guarded=True) as server:
        yield server


@pytest.mark.parametrize(
    "method, path, request_args, status, detail",
    [
        ("GET", f"/api/{LONG}", {}, 404, f"nothing at {cut('/api/' + LONG)}: the API's routes are listed at /docs "
         "(schema: /openapi.json)"),
        ("GET", f"/api/surfaces/{LONG}/", {}, 404, f"nothing at {cut(f'/api/surfaces/{LONG}/')}: drop the trailing "
         f"slash ({cut(f'/api/surfaces/{LONG}')})"),
        ("PUT", f"/api/surfaces/{LONG}", {}, 405, f"PUT is not allowed on {cut('/api/surfaces/' + LONG)}; use DELETE, "
         "GET, HEAD"),
        ("GET", f"/api/surfaces/{LONG}", {}, 404, f"no surface '{cut(LONG)}'"),
        ("GET", f"/api/jobs/{LONG}", {}, 404, f"no job '{cut(LONG)}'"),
        ("GET", f"/api/surfaces?{LONG}=1", {}, 422, f"unknown query parameter '{cut(LONG)}': GET /api/surfaces does "
         "not take it; it takes model, dataset, limit, offset"),
        ("POST", "/api/jobs", {"content": f'{{"{LONG}": 1, "{LONG}": 2}}', "headers": JSON_BODY}, 422,
         f"the body gives '{cut(LONG)}' twice in one object: give each field once"),
        ("POST", "/api/jobs", {"json": {**job_request(), LONG: 1}}, 422,
         f"{cut(LONG)}: Extra inputs are not permitted"),
        ("POST", "/api/jobs", {"json": job_request(), "headers": {"Content-Encoding": LONG}}, 415,
         f"the request body is sent with Content-Encoding: {cut(LONG)}; this server reads bodies as they are: send "
         "it uncompressed, without that header"),
        ("POST", "/api/jobs", {"json": job_request(), "headers": {"Authorization": f"{LONG} credentials"}}, 401,
         f"this server takes a bearer token, not {cut(LONG)} credentials: send 'Authorization: Bearer <token>'"),
    ],
)  # fmt: skip
def test_long_client_input_is_quoted_cut_to_200_characters(
    served: ThreadServer, method: str, path: str, request_args: dict, status: int, detail: str
):
    token = None if "Authorization" in request_args.get("headers", {}) else TOKEN
    with served.client(token) as c:
        r = c.request(method, path, **request_args)
        assert (r.status_code, r.json()) == (status, {"detail": detail})
        assert c.get("/api/jobs").json()["jobs"] == []


def _exchange(port: int, request_line: str, *headers: str) -> tuple[int, dict]:
    """A request sent as it is written, on a socket of its own: its status and its JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall("\r\n".join([request_line, "Host: 127.0.0.1", *headers, "Connection: close", "", ""]).encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_request_target_in_absolute_form_is_served_as_the_path_it_names(served: ThreadServer):
    """As RFC 9112 requires of a server; it was a 404 "nothing at /http://127.0.0.1:.../api/config"."""
    with served.client(TOKEN) as c:
        config = c.get("/api/config").json() | {"storage": None}  # its free space changes meanwhile
        surfaces = c.get("/api/surfaces", params={"limit": 1}).json()
    status, body = _exchange(served.port, f"GET {served.url}/api/config HTTP/1.1")
    assert (status, body | {"storage": None}) == (200, config)
    assert _exchange(served.port, "GET HTTP://example.org/api/surfaces?limit=1 HTTP/1.1") == (200, surfaces)
    assert _exchange(served.port, "GET http://example.org/api/nope HTTP/1.1") == (
        404,
        {"detail": "nothing at /api/nope: the API's routes are listed at /docs (schema: /openapi.json)"},
    )
    # a write is a write, whatever form its target takes: the token is asked for
    assert _exchange(served.port, "POST http://example.org/api/jobs HTTP/1.1", "Content-Length: 2") == (
        401,
        {"detail": "this server needs a bearer token for changes: send 'Authorization: Bearer <token>'"},
    )


@pytest.mark.parametrize(
    "request_line", ["GET api/config HTTP/1.1", "OPTIONS * HTTP/1.1", "GET ftp://h/api/config HTTP/1.1"]
)
def test_a_request_target_that_is_no_path_is_refused_in_words(served: ThreadServer, request_line: str):
    """It was a 404 naming a path with a slash put before the target (``nothing at /api/config``, a path that
    is there)."""
    target = request_line.split()[1]
    assert _exchange(served.port, request_line) == (
        400,
        {"detail": f"the request target {target!r} is not a path: ask for a path, as in GET /api/config HTTP/1.1"},
    )
