"""Requests of a hostile-input pass: client input kilobytes long (a path, an id, a name, a header) quoted back
in a refusal, cut to its first 200 characters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serverkit import TOKEN, ThreadServer, job_request, make_settings

LONG = "k" * 3000


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
        ("POST", "/api/jobs", {"content": f'{{"{LONG}": 1, "{LONG}": 2}}', "headers": {"Content-Type": "application/json"}},
         422, f"the body gives '{cut(LONG)}' twice in one object: give each field once"),
        ("POST", "/api/jobs", {"json": {**job_request(), LONG: 1}}, 422, f"{cut(LONG)}: Extra inputs are not permitted"),
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
