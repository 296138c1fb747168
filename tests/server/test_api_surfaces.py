"""/api/surfaces against a real server: catalog, meshes, download, import, deletion, and their 4xx."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import h5py
import httpx
import numpy as np
import pytest
from serverkit import TOKEN, ThreadServer, make_settings

from server.catalog import Catalog, Entry
from server.schemas import Mesh, SurfaceSummary
from workers import SurfaceSpec, compute_surface, read_surface


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Iterator[ThreadServer]:
    """A server with a token, a 1 MB upload limit and a gallery of: an indexed lossatlas surface (with
    its direction file), an unindexed reference-format surface with pending points, an index entry
    pointing outside the gallery."""
    root = tmp_path_factory.mktemp("site")
    gallery = root / "gallery"
    gallery.mkdir()
    spec = SurfaceSpec(
        model="tinycnn", dataset="tensors", data_root=str(tiny_npz), samples=100, x="-1:1:5", y="-0.5:0.5:3"
    )
    compute_surface(spec, gallery / "ours.h5")
    _write_reference(gallery / "ref-old.h5")
    (root / "secret.h5").write_bytes((gallery / "ours.h5").read_bytes())
    (gallery / "index.json").write_text(
        json.dumps(
            {
                "entries": [
                    {
                        "id": "tiny-plane",
                        "file": "ours.h5",
                        "title": "Tiny plane",
                        "description": "a test",
                        "tier": "cpu",
                        "pair": None,
                        "shortcuts": True,
                        "epochs": 3,
                        "test_acc": 12.5,
                        "source": "tests",
                    },
                    {"id": "escape", "file": "../secret.h5", "title": "outside", "tier": "cpu"},
                ]
            }
        )
    )
    with ThreadServer(make_settings(root / "data", tiny_npz, token=TOKEN, max_upload_mb=1)) as server:
        yield server


REF_X, REF_Y = np.linspace(-1, 1, 4), np.linspace(-1, 1, 3)
REF_VALUES = np.arange(12, dtype=float).reshape(3, 4) / 10  # [iy, ix]
REF_VALUES[2, 3] = -1  # pending in the reference format


def _write_reference(path: Path) -> None:
    """The reference code's layout: no done mask, -1 for pending, a non-square grid stored as (nx, ny)."""
    with h5py.File(path, "w") as f:
        f["xcoordinates"], f["ycoordinates"] = REF_X, REF_Y
        f["train_loss"] = REF_VALUES.reshape(4, 3)
        f["train_acc"] = np.full((4, 3), 50.0)


def test_catalog_lists_gallery_surfaces_with_their_index_metadata(site: ThreadServer):
    with site.client() as c:
        surfaces = c.get("/api/surfaces").json()["surfaces"]
        by_id = {s["id"]: SurfaceSummary.model_validate(s) for s in surfaces}
        assert set(by_id) == {"tiny-plane", "ref-old"}  # not the direction file, not the escaping entry
        tiny = by_id["tiny-plane"]
        file = read_surface(site.settings.gallery_dir / "ours.h5")
        assert tiny.source == "gallery" and tiny.name == "Tiny plane" and tiny.model == "tinycnn"
        assert tiny.gallery.model_dump() == {
            "tier": "cpu",
            "title": "Tiny plane",
            "description": "a test",
            "pair": None,
            "shortcuts": True,
            "epochs": 3,
            "test_acc": 12.5,
            "source": "tests",
        }
        assert (tiny.dataset, tiny.split, tiny.samples, tiny.ndim) == ("tensors", "train", 100, 2)
        assert tiny.grid.model_dump() == {
            "x": {"min": -1, "max": 1, "num": 5},
            "y": {"min": -0.5, "max": 0.5, "num": 3},
        }
        assert tiny.metrics == ["train_loss", "train_acc"] and tiny.status == "complete"
        assert tiny.center["train_loss"] == pytest.approx(file.metrics["train_loss"][1, 2], rel=1e-6)
        assert tiny.landscape_stats == file.attrs["landscape_stats"]
        assert tiny.directions.model_dump() == {
            "kind": "random",
            "norm": "filter",
            "ignore": "biasbn",
            "dir_type": "weights",
            "seed": 0,
        }
        ref = by_id["ref-old"]
        assert ref.gallery is None and ref.model == "unknown" and ref.status == "partial"
        assert (ref.points_done, ref.points_total, ref.split) == (11, 12, "train")
        assert [s["id"] for s in c.get("/api/surfaces", params={"model": "tinycnn"}).json()["surfaces"]] == [
            "tiny-plane"
        ]
        assert c.get("/api/surfaces", params={"dataset": "cifar10"}).json() == {
            "surfaces": [],
            "unreadable": {},
            "next_offset": None,
        }


def test_mesh_holds_the_file_values_gzipped_with_an_etag(site: ThreadServer):
    file = read_surface(site.settings.gallery_dir / "ours.h5")
    with site.client() as c:
        r = c.get("/api/surfaces/tiny-plane")
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
        mesh = Mesh.model_validate(r.json())
        assert mesh.x == file.xcoordinates.tolist() and mesh.y == file.ycoordinates.tolist()
        for name, values in file.metrics.items():
            np.testing.assert_allclose(np.array(mesh.metrics[name], dtype=float), values, rtol=1e-6)
            assert mesh.z_range[name] == pytest.approx([values.min(), values.max()], rel=1e-6)
        assert mesh.done == [[1] * 5] * 3 and mesh.complete and mesh.points_done == 15
        assert mesh.recipe["spec"]["data_root"] == "tiny.npz"  # no server path in answers
        assert mesh.recipe["compute"] == file.recipe["compute"] and mesh.recipe["compute"]["precision"] == "fp32"  # #8
        assert mesh.summary.id == "tiny-plane"
        etag = r.headers["etag"]
        again = c.get("/api/surfaces/tiny-plane", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        with httpx.stream("GET", f"{site.url}/api/surfaces/tiny-plane", headers={"Accept-Encoding": "gzip"}) as s:
            wire = b"".join(s.iter_raw())
        assert json.loads(gzip.decompress(wire)) == r.json() and len(wire) < len(json.dumps(r.json())) / 2
        plain = c.get("/api/surfaces/tiny-plane", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.json() == r.json()


def test_reference_file_mesh_has_nulls_for_pending_points(site: ThreadServer):
    with site.client() as c:
        mesh = c.get("/api/surfaces/ref-old").json()
    expected = REF_VALUES.tolist()
    expected[2][3] = None
    assert mesh["metrics"]["train_loss"] == expected
    assert mesh["done"][2] == [1, 1, 1, 0] and mesh["complete"] is False
    assert mesh["z_range"]["train_loss"] == [0.0, 1.0]


def test_file_download_is_the_hdf5_file(site: ThreadServer):
    with site.client() as c:
        r = c.get("/api/surfaces/tiny-plane/file")
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-hdf5"
    assert r.headers["content-disposition"] == 'attachment; filename="tiny-plane.h5"'
    assert r.content == (site.settings.gallery_dir / "ours.h5").read_bytes()


def _user_files(site: ThreadServer) -> list[str]:
    dirs = (site.settings.surfaces_dir, site.settings.uploads_dir)
    return sorted(str(p) for d in dirs if d.exists() for p in d.iterdir())


def test_import_of_our_and_reference_files_then_delete(site: ThreadServer, tmp_path: Path):
    with site.client(TOKEN) as c:
        ours = c.get("/api/surfaces/tiny-plane/file").content
        r = c.post("/api/surfaces/import", files={"file": ("My Surface.h5", ours)})
        assert r.status_code == 201, r.text
        summary = SurfaceSummary.model_validate(r.json())
        assert summary.source == "user" and summary.name == "My Surface" and summary.id.startswith("my-surface-")
        assert summary.status == "complete" and summary.model == "tinycnn"
        assert c.get(f"/api/surfaces/{summary.id}/file").content == ours
        assert c.post("/api/surfaces/import", files={"file": ("My Surface.h5", ours)}).json()["id"] == summary.id
        ref_path = tmp_path / "ref.h5"
        _write_reference(ref_path)
        ref = c.post("/api/surfaces/import", files={"file": ("ref.h5", ref_path.read_bytes())}).json()
        assert (ref["points_done"], ref["points_total"]) == (11, 12)
        listed = {s["id"] for s in c.get("/api/surfaces").json()["surfaces"]}
        assert {summary.id, ref["id"]} <= listed

        assert c.delete(f"/api/surfaces/{summary.id}").status_code == 204
        assert c.get(f"/api/surfaces/{summary.id}").status_code == 404
        assert not any(summary.id in f for f in _user_files(site))
        assert c.delete(f"/api/surfaces/{ref['id']}").status_code == 204


def test_the_same_file_imported_again_is_the_surface_imported_first(site: ThreadServer):
    """As a checkpoint uploaded again: the same bytes, under the same or another name, answer 200 with the
    surface imported first, its file and title untouched. The same name used to answer 201 and replace
    the file (and another name to add a second copy)."""
    with site.client(TOKEN) as c:
        data = c.get("/api/surfaces/tiny-plane/file").content
        first = c.post("/api/surfaces/import", files={"file": ("Again.h5", data)})
        assert first.status_code == 201, first.text
        stored = site.settings.surfaces_dir / f"{first.json()['id']}.h5"
        before = stored.stat().st_ino, stored.stat().st_mtime_ns, stored.with_suffix(".meta.json").read_bytes()
        try:
            for name in ("Again.h5", "Another name.h5"):
                r = c.post("/api/surfaces/import", files={"file": (name, data)})
                assert (r.status_code, r.json()) == (200, first.json()), name
            after = stored.stat().st_ino, stored.stat().st_mtime_ns, stored.with_suffix(".meta.json").read_bytes()
            assert after == before
            assert not any("another-name" in f for f in _user_files(site))  # no second copy
            changed = c.post("/api/surfaces/import", files={"file": ("Again.h5", data + b"\0")})  # other bytes
            assert changed.status_code == 201 and changed.json()["id"] != first.json()["id"]
            c.delete(f"/api/surfaces/{changed.json()['id']}")
        finally:
            c.delete(f"/api/surfaces/{first.json()['id']}")
        r = c.post("/api/surfaces/import", files={"file": ("Another name.h5", data)})  # once deleted: added anew
        assert r.status_code == 201 and r.json()["name"] == "Another name"
        c.delete(f"/api/surfaces/{r.json()['id']}")


def test_an_imported_files_long_name_is_cut_to_a_titles_length(site: ThreadServer):
    """A job's name is at most 200 characters, an uploaded checkpoint's name is cut there: an imported
    surface's title was kept whole (thousands of characters in every listing)."""
    with site.client(TOKEN) as c:
        ours = c.get("/api/surfaces/tiny-plane/file").content
        r = c.post("/api/surfaces/import", files={"file": ("b" * 3000 + ".h5", ours)})
        assert r.status_code == 201, r.text
        assert r.json()["name"] == "b" * 200
        assert c.delete(f"/api/surfaces/{r.json()['id']}").status_code == 204


def _external_link_file(path: Path, target: Path) -> None:
    with h5py.File(path, "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 3)
        f["train_loss"] = h5py.ExternalLink(str(target), "/train_loss")


def _external_storage_file(path: Path) -> None:
    """A dataset whose raw bytes are read from another file of the server's disk."""
    with h5py.File(path, "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 3)
        f.create_dataset("train_loss", shape=(3,), dtype="f8", external=[("/etc/hostname", 0, 24)])


def _no_metric_file(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["xcoordinates"] = np.linspace(-1, 1, 3)
        f["weights"] = np.zeros(3)


@pytest.mark.parametrize(
    "make, status, message",
    [
        (lambda p, g: p.write_text("not hdf5 at all"), 400, "not a loss surface file: the file is not an HDF5 file"),
        (
            lambda p, g: _no_metric_file(p),
            400,
            "not a loss surface file: the file holds no metric (train_loss, test_acc, ...)",
        ),
        (
            lambda p, g: _external_link_file(p, g / "ours.h5"),
            400,
            "the file is not self-contained: /train_loss is a link (ExternalLink)",
        ),
        (
            lambda p, g: _external_storage_file(p),
            400,
            "the file is not self-contained: /train_loss keeps its data outside the file",
        ),
        (lambda p, g: p.write_bytes(b""), 400, "the uploaded file is empty"),
        (
            lambda p, g: p.write_bytes(b"\0" * (1024 * 1024 + 1)),
            413,
            "the request body is larger than the server's limit max_upload_mb=1",
        ),
    ],
)
def test_import_refuses_other_files_and_stores_nothing(site: ThreadServer, tmp_path: Path, make, status, message):
    path = tmp_path / "upload.h5"
    make(path, site.settings.gallery_dir)
    before = _user_files(site)
    with site.client(TOKEN) as c:
        r = c.post("/api/surfaces/import", files={"file": ("upload.h5", path.read_bytes())})
    assert (r.status_code, r.json()) == (status, {"detail": message})
    assert _user_files(site) == before


def test_upload_limit_also_holds_without_content_length(site: ThreadServer):
    def body():  # chunked: the size is only known while it arrives
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.h5"\r\n\r\n'
        for _ in range(3):
            yield b"\0" * (512 * 1024)

    r = httpx.post(
        f"{site.url}/api/surfaces/import",
        content=body(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert (r.status_code, r.json()) == (
        413,
        {"detail": "the request body is larger than the server's limit max_upload_mb=1"},
    )


def test_write_endpoints_need_the_token(site: ThreadServer):
    """Each refusal says what was wrong: no token, a wrong one (it used to say to send one), another scheme."""
    messages = {
        None: "this server needs a bearer token for changes: send 'Authorization: Bearer <token>'",
        "Bearer wrong-token-xyz": "the bearer token is not this server's: send the token its operator set "
        "(--token or LOSSATLAS_TOKEN)",
        "Basic dXNlcjpwYXNz": "this server takes a bearer token, not Basic credentials: send "
        "'Authorization: Bearer <token>'",
    }
    ours = (site.settings.gallery_dir / "ours.h5").read_bytes()
    for authorization, message in messages.items():
        with site.client() as c:
            c.headers.update({"Authorization": authorization} if authorization else {})
            for r in (
                c.post("/api/surfaces/import", files={"file": ("a.h5", ours)}),
                c.delete("/api/surfaces/ref-old"),
                c.post("/api/jobs", json={"model": "tinycnn"}),
                c.delete("/api/jobs/0123456789abcdef"),
                c.post("/api/checkpoints", files={"file": ("a.pt", b"x")}, data={"model": "tinycnn"}),
            ):
                assert (r.status_code, r.json()) == (401, {"detail": message}), r.request.url
                assert r.headers["www-authenticate"] == "Bearer"
    with site.client() as c:  # reading needs none
        assert c.get("/api/surfaces").status_code == 200 and c.get("/api/config").json()["auth_required"] is True


def test_gallery_cannot_be_deleted_and_ids_cannot_escape(site: ThreadServer):
    with site.client(TOKEN) as c:
        r = c.delete("/api/surfaces/tiny-plane")
        assert (r.status_code, r.json()) == (
            403,
            {"detail": "surface 'tiny-plane' belongs to the read-only gallery and cannot be deleted"},
        )
        assert (site.settings.gallery_dir / "ours.h5").exists()
        assert c.delete("/api/surfaces/nope").json() == {"detail": "no surface 'nope'"}
        for sid in ("..%2F..%2Fsecret", "..%2Fsecret", "escape", "%2E%2E", "secret", "ours.dirs", "ours"):
            assert c.get(f"/api/surfaces/{sid}").status_code == 404, sid
            assert c.get(f"/api/surfaces/{sid}/file").status_code == 404, sid
        assert c.get("/static/../server/settings.py").status_code == 404


def test_surfaces_are_listed_a_page_at_a_time_as_jobs_are(tmp_path: Path, tiny_npz: Path):
    """The same limit and offset as GET /api/jobs; by default one page of up to 1000 (the viewer reads one)."""
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    spec = SurfaceSpec(model="tinycnn", dataset="tensors", data_root=str(tiny_npz), samples=20, x="-1:1:2")
    compute_surface(spec, gallery / "s0.h5")
    for i in range(1, 5):
        (gallery / f"s{i}.h5").write_bytes((gallery / "s0.h5").read_bytes())
    (gallery / "broken.h5").write_bytes(b"not hdf5")
    settings = make_settings(tmp_path / "data", tiny_npz, gallery_dir=gallery)
    with ThreadServer(settings) as server, server.client() as c:
        everything = c.get("/api/surfaces").json()
        assert [s["id"] for s in everything["surfaces"]] == ["s0", "s1", "s2", "s3", "s4"]
        assert everything["next_offset"] is None and list(everything["unreadable"]) == ["broken"]
        pages, offset = [], 0
        while offset is not None:
            page = c.get("/api/surfaces", params={"limit": 2, "offset": offset}).json()
            assert page["unreadable"] == everything["unreadable"]
            pages.append([s["id"] for s in page["surfaces"]])
            offset = page["next_offset"]
        assert pages == [["s0", "s1"], ["s2", "s3"], ["s4"]]
        filtered = c.get("/api/surfaces", params={"model": "tinycnn", "limit": 4, "offset": 3}).json()
        assert ([s["id"] for s in filtered["surfaces"]], filtered["next_offset"]) == (["s3", "s4"], None)
        for offset in (5, 2**63 - 1):
            page = c.get("/api/surfaces", params={"offset": offset}).json()
            assert page == {"surfaces": [], "unreadable": everything["unreadable"], "next_offset": None}
        assert c.get("/api/surfaces", params={"limit": 1000}).json() == everything
        for path in ("/api/surfaces", "/api/jobs"):
            for params, detail in (
                ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
                ({"limit": 1001}, "query.limit: Input should be less than or equal to 1000"),
                ({"offset": -1}, "query.offset: Input should be greater than or equal to 0"),
                ({"offset": 2**63}, "query.offset: Input should be less than or equal to 9223372036854775807"),
            ):
                r = c.get(path, params=params)
                assert (r.status_code, r.json()) == (422, {"detail": detail})
        listing = c.get("/openapi.json").json()["paths"]["/api/surfaces"]["get"]["parameters"]
        assert {p["name"]: (p["schema"].get("maximum"), p["schema"].get("default")) for p in listing} == {
            "limit": (1000, 1000),
            "offset": (2**63 - 1, 0),
            "model": (None, None),
            "dataset": (None, None),
        }


def test_a_directory_named_like_a_surface_is_not_one(site: ThreadServer):
    """It was listed as unreadable with the server's path, its mesh a 409 quoting that path, its file a 500."""
    folders = [site.settings.surfaces_dir / "folder.h5", site.settings.gallery_dir / "shelf.h5"]
    for folder in folders:
        folder.mkdir(parents=True)
    try:
        with site.client() as c:
            listing = c.get("/api/surfaces").json()
            assert not {"folder", "shelf"} & ({s["id"] for s in listing["surfaces"]} | set(listing["unreadable"]))
            for sid in ("folder", "shelf"):
                for path in ("", "/file"):
                    r = c.get(f"/api/surfaces/{sid}{path}")
                    assert (r.status_code, r.json()) == (404, {"detail": f"no surface {sid!r}"})
    finally:
        for folder in folders:
            folder.rmdir()


class _DeletesFile(Catalog):
    """The real catalog, with a user surface's file deleted at one step of a request (``when``): a DELETE
    of another client landing exactly there."""

    def __init__(self, catalog: Catalog, when: str):
        super().__init__(catalog.gallery_dir, catalog.user_dir)
        self.when = when

    def _delete(self, step: str, entry: Entry) -> None:
        if step == self.when and entry.source == "user":
            entry.path.unlink(missing_ok=True)

    def entries(self) -> dict[str, Entry]:
        found = super().entries()
        for entry in found.values():
            self._delete("found", entry)
        return found

    def etag(self, entry: Entry) -> str:
        tag = super().etag(entry)
        self._delete("stamped", entry)  # the mesh is read next
        return tag


@pytest.mark.parametrize(
    "when, url",
    [
        ("found", "/api/surfaces/fleeting"),
        ("found", "/api/surfaces/fleeting/file"),
        ("found", "/api/surfaces"),
        ("stamped", "/api/surfaces/fleeting"),
    ],
)
def test_a_surface_deleted_while_its_request_runs_is_a_404_as_a_missing_one(site: ThreadServer, when: str, url: str):
    """It was a 409 'cannot be read' (its mesh), a 500 (its file), listed as unreadable (the catalog)."""
    app = site.server.config.app
    real = app.state.catalog
    path = site.settings.surfaces_dir / "fleeting.h5"
    site.settings.surfaces_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes((site.settings.gallery_dir / "ours.h5").read_bytes())
    try:
        app.state.catalog = _DeletesFile(real, when)
        with site.client() as c:
            r = c.get(url)
        assert not path.exists()
        if url == "/api/surfaces":
            assert r.status_code == 200 and "fleeting" not in {s["id"] for s in r.json()["surfaces"]}
            assert r.json()["unreadable"] == {}
        else:
            assert (r.status_code, r.json()) == (404, {"detail": "no surface 'fleeting'"})
    finally:
        app.state.catalog = real
        path.unlink(missing_ok=True)


def test_summaries_give_the_fingerprints_of_directions_and_weights(site: ThreadServer, tiny_npz: Path, tmp_path: Path):
    """Whether two surfaces share their directions exactly: the direction fingerprint the engine writes
    into each file is in the summary (and the mesh's), with the weights' and checkpoint's; null where the
    file lacks it. The same seed on another grid gives the same directions, another seed others."""
    files = {}
    for name, seed, x in (("same", 0, "-1:1:3"), ("other", 1, "-1:1:5")):
        axes = {"x": x, "y": "-0.5:0.5:3", "directions": {"seed": seed}}
        spec = SurfaceSpec(model="tinycnn", dataset="tensors", data_root=str(tiny_npz), samples=100, **axes)
        compute_surface(spec, tmp_path / f"{name}.h5")
        files[name] = (tmp_path / f"{name}.h5").read_bytes()
    with site.client(TOKEN) as c:
        gallery = {s["id"]: s for s in c.get("/api/surfaces").json()["surfaces"]}
        plane = gallery["tiny-plane"]
        written = read_surface(site.settings.gallery_dir / "ours.h5")
        assert plane["directions_sha256"] == written.attrs["directions_sha256"]
        assert plane["weights_sha256"] == written.recipe["weights_sha256"] and plane["checkpoint_sha256"] is None
        assert c.get("/api/surfaces/tiny-plane").json()["summary"]["directions_sha256"] == plane["directions_sha256"]
        assert {gallery["ref-old"][k] for k in ("directions_sha256", "weights_sha256", "checkpoint_sha256")} == {None}
        same, other = (c.post("/api/surfaces/import", files={"file": (f"{n}.h5", files[n])}).json() for n in files)
        try:
            assert same["directions_sha256"] == plane["directions_sha256"] and len(plane["directions_sha256"]) == 64
            assert other["directions_sha256"] not in (None, plane["directions_sha256"])
            assert same["weights_sha256"] == other["weights_sha256"] == plane["weights_sha256"]
        finally:
            for s in (same, other):
                c.delete(f"/api/surfaces/{s['id']}")
