"""HTTP-level refusals that must come early and say why: a write without the token before its body is
read, a malformed Last-Event-ID, a wrong method (with ``Allow``), a trailing slash, a query parameter a
route does not take, a compressed body; HEAD as GET without the body; and what the schema promises."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch
from serverkit import TOKEN, ThreadServer, job_request, make_settings
from support import wait_for

from workers.checkpoints import load_model


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Iterator[ThreadServer]:
    root = tmp_path_factory.mktemp("guarded")
    with ThreadServer(make_settings(root / "data", tiny_npz, token=TOKEN, max_upload_mb=50)) as server:
        yield server


def _head_of_a_big_upload(port: int, token: str | None, wait_s: float = 20) -> bytes:
    """Send the headers and the first KiB of a 40 MB upload, then read what the server answers: a server
    that waits for the body answers nothing (``wait_s`` ends the wait)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as s:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        s.sendall(
            (
                f"POST /api/surfaces/import HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
                "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 40000000\r\n\r\n"
            ).encode()
            + b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.h5"\r\n\r\n'
            + b"\0" * 1024
        )
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pass
    return answer


@pytest.mark.parametrize("token", [None, "wrong-token-456"])
def test_a_write_without_the_token_is_refused_before_its_body(guarded: ThreadServer, token):
    uploads = guarded.settings.uploads_dir
    answer = _head_of_a_big_upload(guarded.port, token)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"www-authenticate: Bearer" in answer.lower().replace(b"bearer", b"Bearer")
    assert not uploads.exists() or not any(uploads.iterdir())


def test_with_the_token_the_upload_is_read(guarded: ThreadServer):
    assert _head_of_a_big_upload(guarded.port, TOKEN, wait_s=3) == b""  # the server waits for the rest


@pytest.mark.parametrize("value", ["abc", "-1", "²".encode(), "1" * 40, "1.5"])
def test_a_malformed_last_event_id_is_a_400(guarded: ThreadServer, value: str | bytes):
    with guarded.client(TOKEN) as c:
        job = c.post("/api/jobs", json=job_request()).json()
        c.delete(f"/api/jobs/{job['id']}")  # ended: a stream would end at once, not wait for points
        r = c.get(f"/api/jobs/{job['id']}/events", headers={"Last-Event-ID": value})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("Last-Event-ID must be the id of an event of this stream (a number), not ")


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("PUT", "/api/config", "GET, HEAD"),
        ("PUT", "/api/surfaces/some-id", "DELETE, GET, HEAD"),
        ("PATCH", "/api/jobs", "GET, HEAD, POST"),
        ("POST", "/api/jobs/0123/events", "GET, HEAD"),
    ],
)
def test_a_wrong_method_is_a_405_with_allow(guarded: ThreadServer, method: str, path: str, allow: str):
    with guarded.client(TOKEN) as c:
        r = c.request(method, path)
    assert (r.status_code, r.headers["allow"]) == (405, allow)
    assert r.json() == {"detail": f"{method} is not allowed on {path}; use {allow}"}


def test_head_answers_as_get_without_the_body(guarded: ThreadServer):
    """Every GET route answers HEAD with the GET's status and headers (curl -I, link checkers); on a job's
    event stream it ends at once instead of following a queued job."""
    with guarded.client(TOKEN) as c:
        job = c.post("/api/jobs", json=job_request(sample_seed=11)).json()
        paths = ["/", "/api/config", "/api/surfaces", "/api/jobs", f"/api/jobs/{job['id']}", "/api/checkpoints"]
        paths += ["/api/surfaces/nope", "/api/surfaces/nope/file", "/api/jobs/nope", "/openapi.json", "/docs"]
        for path in paths:
            got, head = c.get(path), c.head(path)
            assert (head.status_code, head.content) == (got.status_code, b""), path
            assert head.headers["content-type"] == got.headers["content-type"], path
            if path != "/":  # the page's nonce differs between two answers
                # /api/config's per-model GFLOP fill in as models are first counted: a GET just after may differ
                lengths = {got.headers["content-length"], c.get(path).headers["content-length"]}
                assert head.headers["content-length"] in lengths, path
        head = c.head(f"/api/jobs/{job['id']}/events")  # the job stays queued: a GET would stream on
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-type"].startswith("text/event-stream")
        feeds = guarded.server.config.app.state.feeds
        wait_for(lambda: not feeds.active, 10, what="the stream of the HEAD request to end")
        c.delete(f"/api/jobs/{job['id']}")


def test_stock_refusals_name_the_fix(guarded: ThreadServer):
    """Where Starlette words a refusal itself (no route, a form it cannot parse), the message says what to do."""
    with guarded.client(TOKEN) as c:
        r = c.get("/api/surface")
        assert (r.status_code, r.json()) == (
            404,
            {"detail": "nothing at /api/surface: the API's routes are listed at /docs (schema: /openapi.json)"},
        )
        assert c.get("/api/jobs/nope").json() == {"detail": "no job 'nope'"}  # a route's own 404 stays
        r = c.post("/api/surfaces/import", content=b"--x\r\nfoo", headers={"Content-Type": "multipart/form-data"})
        assert (r.status_code, r.json()) == (
            400,
            {
                "detail": "the form cannot be read (Missing boundary in multipart): send multipart/form-data as curl -F does"
            },
        )
    assert not guarded.settings.uploads_dir.exists() or not any(guarded.settings.uploads_dir.iterdir())


def test_a_form_cut_off_before_its_closing_boundary_is_an_incomplete_upload(guarded: ThreadServer):
    """Starlette drops a part the body ended in, so the route used to answer "file: Field required"; a
    whole form that lacks the file still says so."""
    incomplete = (
        "the upload was incomplete: the form ended before its closing boundary (the client stopped sending or "
        "the connection was cut); send the whole file again"
    )
    model = b'--XyZ\r\nContent-Disposition: form-data; name="model"\r\n\r\ntinycnn\r\n'
    part = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.h5"\r\n\r\n'
    headers = {"Content-Type": "multipart/form-data; boundary=XyZ"}
    with guarded.client(TOKEN) as c:
        for path, start in (("/api/surfaces/import", b""), ("/api/checkpoints", model)):
            for body in (start + part[:30], start + part, start + part + b"\x89HDF\r\n" * 500):
                r = c.post(path, content=body, headers=headers)
                assert (r.status_code, r.json()) == (422, {"detail": incomplete}), (path, body[-40:])
            r = c.post(path, content=start + b"--XyZ--\r\n", headers=headers)  # whole, without a file
            assert (r.status_code, r.json()) == (422, {"detail": "file: Field required"})
    assert not any(guarded.settings.uploads_dir.glob("*")) and not any(guarded.settings.checkpoints_dir.glob("*"))


def test_the_schema_says_samples_is_required(guarded: ThreadServer):
    schema = httpx.get(f"{guarded.url}/openapi.json").json()["components"]["schemas"]["JobRequest"]
    assert "samples" in schema["required"] and schema["properties"]["samples"]["type"] == "integer"


def _jobs(c: httpx.Client) -> list[tuple[str, str]]:
    return [(j["id"], j["state"]) for j in c.get("/api/jobs").json()["jobs"]]


def test_a_trailing_slash_is_a_404_naming_the_path_without(guarded: ThreadServer):
    """It used to be a 307 with an empty body, which curl (without -L) shows as nothing at all: a DELETE
    that seemed to have worked. Now every method gets a 404 naming the path to use, and nothing changes."""
    with guarded.client(TOKEN) as c:
        job = c.post("/api/jobs", json=job_request(sample_seed=21)).json()
        before = _jobs(c)
        for method, path, body in (
            ("GET", "/api/config/", None),
            ("GET", "/api/surfaces/", None),
            ("POST", "/api/jobs/", job_request(sample_seed=22)),
            ("DELETE", f"/api/jobs/{job['id']}/", None),
            ("GET", "/docs/", None),
        ):
            r = c.request(method, path, json=body)
            assert (r.status_code, r.json()) == (
                404,
                {"detail": f"nothing at {path}: drop the trailing slash ({path.rstrip('/')})"},
            ), path
        assert _jobs(c) == before  # none queued, none cancelled
        r = c.get("/api/nope/")  # no route without the slash either
        assert r.json() == {
            "detail": "nothing at /api/nope/: the API's routes are listed at /docs (schema: /openapi.json)"
        }
        c.delete(f"/api/jobs/{job['id']}")


def test_an_unknown_or_repeated_query_parameter_is_refused(guarded: ThreadServer):
    """FastAPI ignored both: ``?modle=`` (a typo) answered every surface unfiltered, ``?limit=1&limit=2`` a
    page of 2, a DELETE with a query it does not take cancelled the job all the same."""
    with guarded.client(TOKEN) as c:
        job = c.post("/api/jobs", json=job_request(sample_seed=23)).json()
        before = _jobs(c)
        for method, path, detail in (
            (
                "GET",
                "/api/surfaces?modle=tinycnn",
                "unknown query parameter 'modle': GET /api/surfaces does not take it; "
                "it takes model, dataset, limit, offset",
            ),
            ("GET", "/api/config?v=2", "unknown query parameter 'v': GET /api/config does not take it; it takes none"),
            (
                "DELETE",
                f"/api/jobs/{job['id']}?force=1",
                f"unknown query parameter 'force': DELETE /api/jobs/{job['id']} does not take it; it takes none",
            ),
            ("GET", "/api/jobs?limit=1&limit=2", "query parameter 'limit' is given more than once: give it once"),
            ("GET", "/api/surfaces?model=a&model=b", "query parameter 'model' is given more than once: give it once"),
        ):
            r = c.request(method, path)
            assert (r.status_code, r.json()) == (422, {"detail": detail}), path
            if method == "GET":
                assert c.head(path).status_code == 422, path
        assert _jobs(c) == before  # the DELETE cancelled nothing
        assert c.get("/api/surfaces?model=tinycnn&limit=1").status_code == 200  # what a route takes, once
        assert c.get("/?surfaces=ours&log=1").status_code == 200  # the viewer's page keeps its state in its query
        c.delete(f"/api/jobs/{job['id']}")


def test_a_compressed_body_is_refused_with_415(guarded: ThreadServer):
    """Nothing here decodes a Content-Encoding: a gzip body was read as it came, and refused as "not valid
    JSON" (an upload: "not a loss surface file"), which does not say what to change."""
    body = gzip.compress(json.dumps(job_request(sample_seed=24)).encode())
    with guarded.client(TOKEN) as c:
        before = _jobs(c)
        r = c.post("/api/jobs", content=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        assert (r.status_code, r.json()) == (
            415,
            {
                "detail": "the request body is sent with Content-Encoding: gzip; this server reads bodies as they "
                "are: send it uncompressed, without that header"
            },
        )
        assert r.headers["accept-encoding"] == "identity"
        assert _jobs(c) == before
        r = c.post("/api/jobs", json=job_request(sample_seed=24), headers={"Content-Encoding": "identity"})
        assert r.status_code == 202, r.text  # identity is no encoding
        c.delete(f"/api/jobs/{r.json()['id']}")


def test_a_json_body_that_gives_a_field_twice_is_refused(guarded: ThreadServer):
    """Python's json keeps the last of a repeated name: ``"samples": 10, ..., "samples": 5000`` asked for a
    job of 5000 samples without a word, whichever the client meant."""
    request = json.dumps(job_request(sample_seed=25))[:-1]  # without its closing brace
    repeats = {"samples": request + ', "samples": 5000}', "seed": request + ', "directions": {"seed": 1, "seed": 2}}'}
    with guarded.client(TOKEN) as c:
        before = _jobs(c)
        for name, body in repeats.items():
            r = c.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})
            assert (r.status_code, r.json()) == (
                422,
                {"detail": f"the body gives {name!r} twice in one object: give each field once"},
            ), body
        assert _jobs(c) == before
        r = c.post("/api/jobs", content=request + "}", headers={"Content-Type": "application/json"})
        assert r.status_code == 202, r.text  # each name once
        c.delete(f"/api/jobs/{r.json()['id']}")


def test_a_form_field_not_taken_or_given_twice_is_refused(guarded: ThreadServer, tmp_path: Path):
    """A field a route does not take was ignored (``model`` beside an imported surface), and the last of a
    repeated one kept (a second ``file`` replaced the first)."""
    torch.save(load_model("tinycnn", None).state_dict(), tmp_path / "w.pt")
    weights = (tmp_path / "w.pt").read_bytes()
    with guarded.client(TOKEN) as c:
        for path, fields, detail in (
            (
                "/api/surfaces/import",
                [("model", (None, "tinycnn")), ("file", ("a.h5", b"\x89HDF"))],
                "unknown form field 'model': POST /api/surfaces/import does not take it; it takes file",
            ),
            (
                "/api/checkpoints",
                [("model", (None, "tinycnn")), ("file", ("w.pt", weights)), ("bogus", (None, "1"))],
                "unknown form field 'bogus': POST /api/checkpoints does not take it; it takes file, model",
            ),
            (
                "/api/checkpoints",
                [("model", (None, "tinycnn")), ("file", ("w.pt", weights)), ("file", ("b.pt", weights))],
                "form field 'file' is given more than once: give it once",
            ),
            (
                "/api/checkpoints",
                [("model", (None, "tinycnn")), ("model", (None, "resnet20")), ("file", ("w.pt", weights))],
                "form field 'model' is given more than once: give it once",
            ),
        ):
            r = c.post(path, files=fields)
            assert (r.status_code, r.json()) == (422, {"detail": detail}), path
        assert c.get("/api/checkpoints").json()["uploaded"] == []
        assert [s for s in c.get("/api/surfaces").json()["surfaces"] if s["source"] == "user"] == []
    assert not any(guarded.settings.uploads_dir.glob("*")) and not any(guarded.settings.checkpoints_dir.glob("*"))


def test_without_the_token_a_request_no_route_takes_is_told_what_to_fix(guarded: ThreadServer):
    """A method no route takes on a path, or a path no route has, is no write: it was answered "this
    server needs a bearer token", and with the token, then, the 405 or 404 that names the fix."""
    with guarded.client() as c:
        before = _jobs(c)
        for method, path, allow in (("TRACE", "/api/config", "GET, HEAD"), ("PUT", "/api/jobs", "GET, HEAD, POST")):
            r = c.request(method, path)
            assert (r.status_code, r.json()) == (405, {"detail": f"{method} is not allowed on {path}; use {allow}"})
        r = c.post("/api/jobs/", json=job_request())
        assert (r.status_code, r.json()) == (
            404,
            {"detail": "nothing at /api/jobs/: drop the trailing slash (/api/jobs)"},
        )
        assert c.post("/api/jobs", json=job_request()).status_code == 401  # a write there is
        assert _jobs(c) == before


@pytest.mark.parametrize("token", [None, "", TOKEN], ids=["unset", "empty", "set"])
def test_the_config_says_whether_changes_need_the_token_as_they_do(
    tmp_path: Path, tiny_npz: Path, monkeypatch: pytest.MonkeyPatch, token: str | None
):
    """``auth_required`` (the viewer asks for a token by it) agrees with what a write without one gets: the
    token from the environment (LOSSATLAS_TOKEN), unset or empty (an open server), or set."""
    monkeypatch.delenv("LOSSATLAS_TOKEN", raising=False)
    if token is not None:
        monkeypatch.setenv("LOSSATLAS_TOKEN", token)
    with ThreadServer(make_settings(tmp_path / "data", tiny_npz)) as server, server.client() as c:
        required = c.get("/api/config").json()["auth_required"]
        r = c.delete("/api/surfaces/nope")
    assert (required, r.status_code) == ((True, 401) if token else (False, 404))
