"""Hostile and malformed surface imports: each one a 4xx that names the problem, nothing left in the data
directory, the server answering everyone throughout; a malformed file already in the catalog is skipped
and reported, never fatal to the list."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
from serverkit import TOKEN, ThreadServer, make_settings

from workers import Surface, write_surface

RECIPE = {
    "spec": {
        "model": "tinycnn",
        "dataset": "tensors",
        "split": "train",
        "samples": 100,
        "directions": {"kind": "random", "norm": "filter", "ignore": "biasbn", "dir_type": "weights", "seed": 0},
    }
}


def valid_surface(path: Path, recipe: dict | None = None) -> Path:
    x, y = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    loss = np.add.outer(y**2, x**2) + 0.5
    done = np.ones((4, 5), dtype=bool)
    write_surface(path, Surface(x, y, {"train_loss": loss, "train_acc": 100 - loss}, done, recipe or RECIPE))
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Iterator[ThreadServer]:
    root = tmp_path_factory.mktemp("hostile")
    with ThreadServer(
        make_settings(root / "data", tiny_npz, token=TOKEN, max_upload_mb=1, max_import_points=10_000)
    ) as server:
        yield server


def stored(site: ThreadServer) -> set[str]:
    """Every file under the data directory except the job queue's."""
    root = site.settings.data_dir
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "jobs.sqlite3" not in p.name}


def post(site: ThreadServer, path: Path, name: str = "upload.h5"):
    with site.client(TOKEN) as c:
        return c.post("/api/surfaces/import", files={"file": (name, path.read_bytes())})


# -- files built to attack the reader -------------------------------------------------------------


def dag_of_hard_links(path: Path, depth: int = 40) -> None:
    """Group i links twice to group i+1: 2^depth paths through depth groups (53 KB)."""
    valid_surface(path)
    with h5py.File(path, "a") as f:
        groups = [f.create_group(f"g{i}") for i in range(depth)]
        for a, b in zip(groups, groups[1:]):
            a["l"], a["r"] = b, b


def hard_link_cycle(path: Path) -> None:
    valid_surface(path)
    with h5py.File(path, "a") as f:
        g = f.create_group("loop")
        g["back"] = f["/"]


def gzip_bomb(path: Path) -> None:
    """16 MiB of zeros compressed to a few KB (the limit is 1 MiB)."""
    valid_surface(path)
    with h5py.File(path, "a") as f:
        f.create_dataset(
            "samples_train", shape=(2048, 1024), dtype="f8", compression="gzip", chunks=(256, 1024), fillvalue=0.0
        )
        f["samples_train"][:256] = 0.0


def huge_declared(path: Path) -> None:
    valid_surface(path)
    with h5py.File(path, "a") as f:
        f.create_dataset("samples_train", shape=(10**9, 10**9), dtype="f8", chunks=(1, 1))


def compound_metric(path: Path) -> None:
    valid_surface(path)
    with h5py.File(path, "a") as f:
        del f["train_acc"]
        f["train_acc"] = np.zeros((4, 5), dtype=[("a", "f8"), ("b", "i4")])


def soft_link(path: Path) -> None:
    valid_surface(path)
    with h5py.File(path, "a") as f:
        f["train_acc_copy"] = h5py.SoftLink("/train_acc")


def recipe_attr(text: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        valid_surface(path)
        with h5py.File(path, "a") as f:
            f.attrs["recipe"] = text

    return make


def recipe_without(*keys: str, **replace) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        recipe = json.loads(json.dumps(RECIPE))
        spec = recipe["spec"]
        for key in keys:
            spec["directions"].pop(key)
        spec.update(replace)
        valid_surface(path, recipe)

    return make


def nan_coordinates(path: Path) -> None:
    valid_surface(path)
    with h5py.File(path, "a") as f:
        f["xcoordinates"][2] = np.nan


def too_many_points(path: Path) -> None:
    with h5py.File(path, "w") as f:
        f["xcoordinates"], f["ycoordinates"] = np.linspace(-1, 1, 200), np.linspace(-1, 1, 200)
        f.create_dataset("train_loss", shape=(200, 200), dtype="f4", compression="gzip")


def wrong_done_shape(path: Path) -> None:
    valid_surface(path)
    with h5py.File(path, "a") as f:
        del f["done"]
        f["done"] = np.ones(7, dtype=np.uint8)


HOSTILE = {
    "gzip-bomb": (gzip_bomb, "uncompressed, more than the server's limit of 1 MiB (max_upload_mb)"),
    "huge-declared": (huge_declared, "uncompressed, more than the server's limit of 1 MiB"),
    "compound": (compound_metric, "/train_acc has the data type"),
    "soft-link": (soft_link, "the file is not self-contained: /train_acc_copy is a link (SoftLink)"),
    "recipe-list": (recipe_attr("[1, 2]"), "the recipe must be a JSON object, not list"),
    "recipe-nan": (recipe_attr('{"spec": {"samples": 1}, "lr": NaN}'), "recipe.lr is nan; values must be finite"),
    "recipe-no-norm": (recipe_without("norm"), "recipe.spec.directions.norm must be a string"),
    "recipe-model-5": (recipe_without(model=5), "recipe.spec.model must be a string, not 5"),
    "recipe-model-rlo": (  # shown in the catalog as the model: it must read as what it is
        recipe_without(model="tinycnn\u202e"),
        "recipe.spec.model holds U+202E (RIGHT-TO-LEFT OVERRIDE), a control or text-direction character; remove it",
    ),
    "recipe-dataset-escape": (
        recipe_without(dataset="tiny\x1b[2J"),
        "recipe.spec.dataset holds U+001B, a control or text-direction character; remove it",
    ),
    "recipe-norm-newline": (
        recipe_without(directions={**RECIPE["spec"]["directions"], "norm": "filter\nforged line"}),
        "recipe.spec.directions.norm holds U+000A, a control or text-direction character; remove it",
    ),
    "nan-x": (nan_coordinates, "xcoordinates holds NaN or infinite values"),
    "too-many-points": (
        too_many_points,
        "the grid has 40000 points, more than the server's limit max_import_points=10000",
    ),
    "done-shape": (wrong_done_shape, "not a loss surface file"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_import_is_refused_naming_the_problem_and_stores_nothing(site: ThreadServer, tmp_path: Path, name):
    make, message = HOSTILE[name]
    path = tmp_path / f"{name}.h5"
    make(path)
    before = stored(site)
    r = post(site, path)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert message in detail and len(detail.splitlines()) == 1
    assert stored(site) == before
    with site.client() as c:
        assert c.get("/api/surfaces").status_code == 200


@pytest.mark.parametrize("make", [dag_of_hard_links, hard_link_cycle])
def test_hard_link_graphs_are_walked_once_per_object(site: ThreadServer, tmp_path: Path, make):
    """2^40 paths through 40 groups, or a cycle back to the root: each object is visited once, so the
    check ends at once (it used to walk every path: forever), and the surface in the file is imported."""
    path = tmp_path / "links.h5"
    make(path)
    r = post(site, path)
    assert r.status_code == 201, r.text
    with site.client(TOKEN) as c:
        assert c.get(f"/api/surfaces/{r.json()['id']}").json()["points_done"] == 20
        assert c.delete(f"/api/surfaces/{r.json()['id']}").status_code == 204


def test_too_many_objects_are_refused(site: ThreadServer, tmp_path: Path):
    path = valid_surface(tmp_path / "many.h5")
    with h5py.File(path, "a") as f:
        for i in range(300):
            f.create_group(f"g{i}")
    r = post(site, path)
    assert (r.status_code, r.json()["detail"]) == (
        400,
        "the file has more than 256 objects; a surface file has about ten",
    )


def test_bad_entry_in_the_catalog_is_skipped_and_reported(site: ThreadServer, tmp_path: Path):
    """A malformed file that got into the data directory (an older server, a copy by hand)."""
    surfaces = site.settings.surfaces_dir
    surfaces.mkdir(parents=True, exist_ok=True)
    recipe_without("norm")(surfaces / "no-norm.h5")
    recipe_without(model=5)(surfaces / "model-five.h5")
    valid_surface(surfaces / "fine.h5")
    try:
        with site.client() as c:
            listing = c.get("/api/surfaces").json()
            assert "fine" in {s["id"] for s in listing["surfaces"]}
            assert set(listing["unreadable"]) >= {"no-norm", "model-five"}
            assert "no-norm.h5 is malformed (KeyError: 'norm')" in listing["unreadable"]["no-norm"]
            assert "model" in listing["unreadable"]["model-five"]
            r = c.get("/api/surfaces/no-norm")
            assert r.status_code == 409 and "cannot be read" in r.json()["detail"]
    finally:
        for name in ("no-norm", "model-five", "fine"):
            (surfaces / f"{name}.h5").unlink()


# -- fuzzing ----------------------------------------------------------------------------------------


def _mutations(seed: int, base: Path, out_dir: Path, count: int) -> Iterator[tuple[str, Path]]:
    """Seeded mutants of a valid file: byte flips and truncations anywhere (headers, B-trees, chunks),
    and structural edits."""
    rng = random.Random(seed)
    data = base.read_bytes()
    structural = [f for f, _ in HOSTILE.values()]
    for i in range(count):
        path = out_dir / f"m{i}.h5"
        kind = rng.choice(["flip", "flip", "truncate", "structural"])
        if kind == "flip":
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 16)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            path.write_bytes(bytes(mutated))
        elif kind == "truncate":
            path.write_bytes(data[: rng.randrange(1, len(data))])
        else:
            rng.choice(structural)(path)
        yield kind, path


def test_fuzzed_imports_never_fail_the_server_nor_leave_files(site: ThreadServer, tmp_path: Path):
    base = valid_surface(tmp_path / "base.h5")
    outcomes = {}
    with site.client(TOKEN) as c:
        for kind, path in _mutations(seed=9, base=base, out_dir=tmp_path, count=20):
            before = stored(site)
            r = c.post("/api/surfaces/import", files={"file": (path.name, path.read_bytes())})
            outcomes[r.status_code] = outcomes.get(r.status_code, 0) + 1
            if r.status_code == 201:  # a mutant that is still a valid surface: served like any other
                sid = r.json()["id"]
                mesh = c.get(f"/api/surfaces/{sid}")
                assert mesh.status_code == 200
                json.loads(mesh.content, parse_constant=lambda name: pytest.fail(f"{name} in the mesh"))
                assert c.delete(f"/api/surfaces/{sid}").status_code == 204
            else:
                assert r.status_code == 400, (kind, r.status_code, r.text)
                assert r.json()["detail"] and len(r.json()["detail"].splitlines()) == 1
            assert stored(site) == before, kind
            listing = c.get("/api/surfaces")
            assert listing.status_code == 200 and listing.json()["unreadable"] == {}
    assert outcomes.get(400, 0) >= 10  # the mutants are mostly malformed


@pytest.mark.parametrize(
    "name, detail",
    [
        ("loss\u202egnp.h5", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("loss\x1b[31m.h5", "U+001B"),  # a terminal escape
        ("loss\u2066.h5", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
    ],
)
def test_a_file_name_that_would_disguise_its_title_is_refused(site: ThreadServer, tmp_path: Path, name, detail):
    """An imported surface is titled by its file's name: one with control or text-direction characters is
    refused (as a job's name is), and nothing is stored."""
    before = stored(site)
    r = post(site, valid_surface(tmp_path / "s.h5"), name)
    assert (r.status_code, r.json()) == (
        422,
        {"detail": f"the file's name holds {detail}, a control or text-direction character; remove it"},
    )
    assert stored(site) == before
    r = post(site, tmp_path / "s.h5", "\u05de\u05e4\u05d4 r\u00e9sum\u00e9.h5")  # right-to-left letters are text
    assert r.status_code == 201 and r.json()["name"] == "\u05de\u05e4\u05d4 r\u00e9sum\u00e9", r.text
    with site.client(TOKEN) as c:  # the same file imported again would be this surface (200)
        assert c.delete(f"/api/surfaces/{r.json()['id']}").status_code == 204
