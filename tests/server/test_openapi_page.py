"""/openapi.json documents every endpoint with its models; GET / serves the viewer under a nonce CSP."""

from __future__ import annotations

import re
from pathlib import Path

from serverkit import ThreadServer, make_settings

ENDPOINTS = {
    ("get", "/api/config"): ("200", "Config"),
    ("get", "/api/surfaces"): ("200", "SurfaceList"),
    ("get", "/api/surfaces/{surface_id}"): ("200", "Mesh"),
    ("get", "/api/surfaces/{surface_id}/file"): ("200", None),
    ("post", "/api/surfaces/import"): ("201", "SurfaceSummary"),
    ("delete", "/api/surfaces/{surface_id}"): ("204", None),
    ("post", "/api/checkpoints"): ("201", "Checkpoint"),
    ("get", "/api/checkpoints"): ("200", "CheckpointList"),
    ("post", "/api/jobs"): ("202", "Job"),
    ("get", "/api/jobs"): ("200", "JobList"),
    ("get", "/api/jobs/{job_id}"): ("200", "Job"),
    ("delete", "/api/jobs/{job_id}"): ("200", "Job"),
    ("get", "/api/jobs/{job_id}/events"): ("200", None),
    ("get", "/"): ("200", None),
}


def test_openapi_describes_every_endpoint(tmp_path: Path, tiny_npz: Path):
    with ThreadServer(make_settings(tmp_path / "data", tiny_npz)) as server, server.client() as c:
        schema = c.get("/openapi.json").json()
    found = {(m, p) for p, ops in schema["paths"].items() for m in ops}
    assert found == set(ENDPOINTS)
    components = schema["components"]["schemas"]
    for (method, path), (status, model) in ENDPOINTS.items():
        responses = schema["paths"][path][method]["responses"]
        assert status in responses, (method, path)
        if model is not None:
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": f"#/components/schemas/{model}"
            }
        for code, response in responses.items():  # every error is {"detail": str}
            if code.startswith("4"):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
                    path,
                    code,
                )
    jobs = schema["paths"]["/api/jobs"]["post"]
    assert jobs["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/JobRequest"}
    assert {
        "model",
        "dataset",
        "x",
        "y",
        "directions",
        "samples",
        "split",
        "checkpoint_id",
        "gallery_checkpoint",
        "name",
    } <= set(components["JobRequest"]["properties"])
    for path, fields in (("/api/surfaces/import", {"file"}), ("/api/checkpoints", {"file", "model"})):
        ref = schema["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
        assert set(components[ref.rsplit("/", 1)[1]]["properties"]) == fields
    events = schema["paths"]["/api/jobs/{job_id}/events"]["get"]["responses"]["200"]
    assert "text/event-stream" in events["content"]
    assert events["x-event-data"] == {
        "progress": {"$ref": "#/components/schemas/ProgressEvent"},
        "state": {"$ref": "#/components/schemas/Job"},
    }
    assert components["ProgressEvent"]["properties"]["points"]["items"] == {
        "$ref": "#/components/schemas/ProgressPoint"
    }
    assert (
        "application/x-hdf5" in schema["paths"]["/api/surfaces/{surface_id}/file"]["get"]["responses"]["200"]["content"]
    )
    assert "HTTPValidationError" not in components
    for name in ("JobRequest", "JobDirections", "Job", "Limits"):  # what a client writes, and reads back
        undocumented = [k for k, v in components[name]["properties"].items() if "description" not in v]
        assert undocumented == {"Job": ["id", "points_done", "points_total"]}.get(name, []), name
    reasons = {"Bad Request", "Forbidden", "Not Found", "Conflict", "Request Entity Too Large", "Unprocessable Entity"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert all(p.get("description") for p in operation.get("parameters", [])), (method, path)
            for code, response in operation["responses"].items():  # a refusal says when it happens
                assert response["description"] not in reasons, (method, path, code)
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_page_renders_the_template_with_a_fresh_nonce(tmp_path: Path, tiny_npz: Path):
    frontend = tmp_path / "frontend"
    frontend.mkdir()
    (frontend / "index.html").write_text(
        '<script type="importmap" nonce="{{ csp_nonce }}">{}</script><p>v{{ version }}</p>'
    )
    (frontend / "main.js").write_text("export const x = 1;\n")
    with (
        ThreadServer(make_settings(tmp_path / "data", tiny_npz, frontend_dir=frontend)) as server,
        server.client() as c,
    ):
        pages = [c.get("/") for _ in range(2)]
        nonces = []
        for r in pages:
            nonce = re.search(r'nonce="([^"]+)"', r.text).group(1)
            assert r.headers["content-security-policy"] == (
                f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data: blob:; connect-src 'self'"
            )
            nonces.append(nonce)
        assert nonces[0] != nonces[1] and "<p>v0.1.0</p>" in pages[0].text
        js = c.get("/static/main.js")
        assert js.status_code == 200 and js.text == "export const x = 1;\n"
        assert c.get("/static/missing.js").status_code == 404
        (frontend / "index.html").unlink()
        placeholder = c.get("/")
        assert placeholder.status_code == 200 and "frontend/index.html is missing" in placeholder.text
        assert "nonce-" in placeholder.headers["content-security-policy"]
