"""``lossatlas export`` (#16): VTP as the reference's h52vtp.py builds it (checked by parsing the XML),
CSV read back with the csv module, and the mesh JSON equal to what the server serves."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from cli_runs import refusal

from workers.cli import main
from workers.h5io import Surface, read_surface, write_surface


def grid(path: Path) -> Path:
    """A 4 x 5 (ny x nx) surface with one pending point and one infinite loss."""
    xs, ys = np.linspace(-1, 1, 5), np.linspace(0, 3, 4)
    X, Y = np.meshgrid(xs, ys)
    loss = 0.5 + X**2 + Y
    done = np.ones_like(loss, dtype=bool)
    done[1, 1] = False
    loss[3, 4] = np.inf
    metrics = {"train_loss": np.where(done, loss, np.nan), "train_acc": np.where(done, 50 + X, np.nan)}
    write_surface(path, Surface(xs, ys, metrics, done, {"spec": {"model": "grid", "checkpoint": "/secret/dir/w.pt"}}))
    return path


def data_array(piece: ET.Element, section: str, name: str) -> np.ndarray:
    node = piece.find(f"{section}/DataArray[@Name='{name}']")
    return np.array([float(v) for v in (node.text or "").split()])


def test_vtp_has_every_point_and_the_cells_whose_corners_are_computed(tmp_path):
    src = grid(tmp_path / "s.h5")
    assert main(["export", str(src), "--vtp", "--log", "--zmax", "3"]) == 0
    out = tmp_path / "s_train_loss_zmax=3_log.vtp"
    piece = ET.parse(out).getroot().find("PolyData/Piece")
    # independent: clip at zmax then ln(z + 0.1), the reference's order; the pending point and inf are holes
    xs, ys = np.linspace(-1, 1, 5), np.linspace(0, 3, 4)
    X, Y = np.meshgrid(xs, ys)
    z = np.log(np.minimum(0.5 + X**2 + Y, 3) + 0.1)
    valid = np.ones((4, 5), dtype=bool)
    valid[1, 1] = valid[3, 4] = False
    z[3, 4] = np.log(3 + 0.1)  # inf clipped to zmax is finite, as in h52vtp.py
    valid[3, 4] = True
    quads = [
        (iy * 5 + ix, iy * 5 + ix + 1, iy * 5 + ix + 6, iy * 5 + ix + 5)
        for iy in range(3)
        for ix in range(4)
        if valid[iy : iy + 2, ix : ix + 2].all()
    ]
    assert piece.get("NumberOfPoints") == "20" and piece.get("NumberOfPolys") == str(len(quads)) == "8"
    points = data_array(piece, "Points", "Points").reshape(-1, 3)
    np.testing.assert_allclose(points[:, 0], X.ravel())
    np.testing.assert_allclose(points[:, 1], Y.ravel())
    np.testing.assert_allclose(points[valid.ravel(), 2], z[valid], rtol=1e-12)
    np.testing.assert_allclose(data_array(piece, "PointData", "zvalue")[valid.ravel()], z[valid], rtol=1e-12)
    assert data_array(piece, "Polys", "connectivity").astype(int).reshape(-1, 4).tolist() == [list(q) for q in quads]
    assert data_array(piece, "Polys", "offsets").astype(int).tolist() == [4 * (i + 1) for i in range(len(quads))]
    averages = [np.mean([z.ravel()[i] for i in q]) for q in quads]
    np.testing.assert_allclose(data_array(piece, "CellData", "averaged zvalue"), averages, rtol=1e-12)


def test_csv_round_trips_every_point(tmp_path):
    src = grid(tmp_path / "s.h5")
    assert main(["export", str(src), "--csv", str(tmp_path / "out.csv")]) == 0
    with open(tmp_path / "out.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    s = read_surface(src)
    assert list(rows[0]) == ["x", "y", "done", "train_loss", "train_acc"] and len(rows) == 20
    for row in rows:
        ix = int(np.argmin(np.abs(s.xcoordinates - float(row["x"]))))
        iy = int(np.argmin(np.abs(s.ycoordinates - float(row["y"]))))
        assert (float(row["x"]), float(row["y"])) == (s.xcoordinates[ix], s.ycoordinates[iy])
        assert row["done"] == str(int(s.done[iy, ix]))
        for m in ("train_loss", "train_acc"):
            assert (float(row[m]) == s.metrics[m][iy, ix]) if s.done[iy, ix] else row[m] == ""


def test_mesh_json_is_what_the_server_serves(tmp_path):
    from server.catalog import Catalog

    src = grid(tmp_path / "s.h5")
    assert main(["export", str(src), "--json"]) == 0
    exported = json.loads((tmp_path / "s.mesh.json").read_text())
    user = tmp_path / "user"
    user.mkdir()
    src.rename(user / "s.h5")
    catalog = Catalog(tmp_path / "no-gallery", user)
    served = json.loads(catalog.mesh(catalog.get("s")).json)
    assert exported["recipe"]["spec"]["checkpoint"] == "w.pt"  # paths cut to names, as served
    assert {k: v for k, v in exported.items() if k != "name"} == {
        k: v for k, v in served.items() if k not in ("id", "name", "summary")
    }
    assert exported["metrics"]["train_loss"][1][1] is None and exported["metrics"]["train_loss"][3][4] is None


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "choose at least one format: --vtp, --csv or --json"),
        (["--vtp", "--metric", "test_loss"], "the surface has no metric 'test_loss'; it has train_acc, train_loss"),
        (
            ["--vtp", "--interp", "1", "--csv"],
            "--interp (points per axis of the resampled grid) must be 2 to 4096, got 1",
        ),
        (["--vtp", "--interp", "5000"], "--interp (points per axis of the resampled grid) must be 2 to 4096, got 5000"),
        (["--csv", "--json", "{dir}/s.h5"], "--json {dir}/s.h5 is the surface file itself; choose another output path"),
        (
            ["--csv", "{dir}/out.txt", "--json", "{dir}/out.txt"],
            "--csv and --json both write {dir}/out.txt; give them different paths",
        ),
        (["--csv", "--interp", "9"], "--interp is an option of the VTP export: add --vtp"),
        (["--json", "--metric", "train_acc"], "--metric is an option of the VTP export: add --vtp"),
        (
            ["--vtp", "--csv", "{dir}/nodir/s.csv"],
            "the directory of --csv {dir}/nodir/s.csv does not exist; create {dir}/nodir first or choose another --csv",
        ),
        (["--json", "{dir}"], "--json {dir} is a directory; give a file name such as {dir}/surface.json"),
    ],
)
def test_bad_exports_are_one_line_and_write_nothing(tmp_path, capsys, args, message):
    src = grid(tmp_path / "s.h5")
    before = src.read_bytes()
    with pytest.raises(SystemExit) as e:
        main(["export", str(src), *(a.format(dir=tmp_path) for a in args)])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"lossatlas export: error: {message.format(dir=tmp_path)}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]
    assert src.read_bytes() == before


@pytest.mark.parametrize("interp", [[], ["--interp", "9"]])
def test_vtp_of_a_1d_surface_is_refused(tmp_path, capsys, interp):
    path = tmp_path / "l.h5"
    write_surface(path, Surface(np.linspace(0, 1, 3), None, {"train_loss": np.ones(3)}, np.ones(3, dtype=bool), {}))
    assert refusal(capsys, ["export", str(path), "--vtp", *interp]) == (
        "lossatlas export: error: VTP export is of 2-D surfaces; this one is 1-D (export it as CSV)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.h5"]


def quadratic(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    return 0.5 + X**2 - 0.3 * X * Y + 2 * Y**2 + X - Y + 0.7 * X**2 * Y**2  # quadratic in x and in y


def test_interp_reproduces_a_quadratic_and_keeps_the_original_nodes(tmp_path):
    xs, ys = np.linspace(-1, 1, 6), np.linspace(0, 3, 4)
    X, Y = np.meshgrid(xs, ys)
    loss = quadratic(X, Y)
    write_surface(tmp_path / "q.h5", Surface(xs, ys, {"train_loss": loss}, np.ones_like(loss, dtype=bool), {}))
    assert main(["export", str(tmp_path / "q.h5"), "--vtp", "--interp", "16"]) == 0
    piece = ET.parse(tmp_path / "q_train_loss_interp=16.vtp").getroot().find("PolyData/Piece")
    assert piece.get("NumberOfPoints") == str(16 * 16) and piece.get("NumberOfPolys") == str(15 * 15)
    points = data_array(piece, "Points", "Points").reshape(16, 16, 3)  # [iy, ix], x fastest
    new_x, new_y = np.linspace(-1, 1, 16), np.linspace(0, 3, 16)
    np.testing.assert_allclose(points[0, :, 0], new_x, rtol=0, atol=1e-15)
    np.testing.assert_allclose(points[:, 0, 1], new_y, rtol=0, atol=1e-15)
    NX, NY = np.meshgrid(new_x, new_y)
    np.testing.assert_allclose(points[..., 2], quadratic(NX, NY), rtol=0, atol=1e-9)
    # every 3rd x and every 5th y is an original node (linspace(-1, 1, 16)[9] is 0.19999999999999996, not 0.2): its
    # coordinates and value, bit for bit
    on_nodes = points[::5, ::3]
    assert (on_nodes[..., 0] == X).all() and (on_nodes[..., 1] == Y).all() and (on_nodes[..., 2] == loss).all()
    connectivity = data_array(piece, "Polys", "connectivity").astype(int).reshape(-1, 4)
    assert connectivity.tolist() == [[i, i + 1, i + 17, i + 16] for i in range(16 * 15) if i % 16 != 15]


@pytest.mark.parametrize("zmax", [None, 3.0])
def test_interp_leaves_out_the_cells_of_points_not_computed(tmp_path, zmax):
    src = grid(tmp_path / "s.h5")  # 4 x 5 with a pending point at [1, 1] and an infinite loss at [3, 4]
    out = tmp_path / "s.vtp"
    assert main(["export", str(src), "--vtp", str(out), "--interp", "13", *(["--zmax", "3"] if zmax else [])]) == 0
    piece = ET.parse(out).getroot().find("PolyData/Piece")
    # independent: new cell (jy, jx) lies in original cell (jy // 4, jx // 3), which is a hole when one of its
    # corners is; the infinite loss is a hole unless zmax clips it
    holes = np.zeros((4, 5), dtype=bool)
    holes[1, 1] = True
    holes[3, 4] = zmax is None
    kept = [
        [jy * 13 + jx, jy * 13 + jx + 1, jy * 13 + jx + 14, jy * 13 + jx + 13]
        for jy in range(12)
        for jx in range(12)
        if not holes[jy // 4 : jy // 4 + 2, jx // 3 : jx // 3 + 2].any()
    ]
    assert data_array(piece, "Polys", "connectivity").astype(int).reshape(-1, 4).tolist() == kept
    assert len(kept) == 144 - 4 * 12 - (0 if zmax else 12)  # the four cells around [1, 1], the one at [3, 4]
    z = data_array(piece, "PointData", "zvalue").reshape(13, 13)
    assert np.isfinite(z).all() and z[4, 3] == 0  # the pending point: height 0, in no cell
    assert z[12, 12] == (3.0 if zmax else 0)


def test_interp_is_close_to_the_reference_cubic_spline(tmp_path):
    interpolate = pytest.importorskip("scipy.interpolate")
    xs, ys = np.linspace(-1, 1, 21), np.linspace(-1, 1, 17)
    X, Y = np.meshgrid(xs, ys)
    loss = 2 + np.sin(3 * X) * np.cos(2 * Y)
    write_surface(tmp_path / "s.h5", Surface(xs, ys, {"train_loss": loss}, np.ones_like(loss, dtype=bool), {}))
    assert main(["export", str(tmp_path / "s.h5"), "--vtp", str(tmp_path / "s.vtp"), "--interp", "61"]) == 0
    piece = ET.parse(tmp_path / "s.vtp").getroot().find("PolyData/Piece")
    z = data_array(piece, "PointData", "zvalue").reshape(61, 61)
    # h52vtp.py's interp2d(kind='cubic') on a grid is this spline (FITPACK, s=0); linear is off by 2e-2, this cubic by 1.4e-3
    new = np.linspace(-1, 1, 61)
    spline = interpolate.RectBivariateSpline(ys, xs, loss, kx=3, ky=3, s=0)(new, new)
    assert np.abs(z - spline).max() < 3e-3


def test_a_zmax_that_is_not_a_finite_number_is_refused_by_its_option(tmp_path, capsys):
    """``--zmax nan`` was taken: every height was clipped to NaN, refused as "no computed finite point"."""
    src = grid(tmp_path / "s.h5")
    assert (
        refusal(capsys, ["export", str(src), "--vtp", "--zmax", "nan"])
        == "lossatlas export: error: argument --zmax: 'nan' is not a finite number"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_a_surface_file_after_a_format_option_is_named_as_taken_by_it(tmp_path, capsys, monkeypatch):
    """``export --csv s.h5`` gives s.h5 to --csv as its output: argparse said only "the following arguments
    are required: file"."""
    monkeypatch.chdir(tmp_path)
    grid(tmp_path / "s.h5")
    before = (tmp_path / "s.h5").read_bytes()
    for argv, message in (
        (
            ["--vtp", "--csv", "s.h5"],
            "s.h5 was taken as the --csv output: give the surface file first (lossatlas export s.h5 --csv)",
        ),
        (["--json"], "give the surface file (.h5) to export"),
    ):
        with pytest.raises(SystemExit) as e:
            main(["export", *argv])
        assert e.value.code == 2
        assert capsys.readouterr().err == f"lossatlas export: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"] and (tmp_path / "s.h5").read_bytes() == before


@pytest.mark.parametrize("command", [["export", "{src}", "--csv"], ["plot", "{src}", "--out", "{dir}/f.png"]])
def test_a_directory_or_a_cut_short_surface_file_is_refused_in_one_line_naming_the_fix(tmp_path, capsys, command):
    """A directory was "surface file DIR does not exist"; a copy cut short "is not an HDF5 file"."""
    whole = grid(tmp_path / "whole.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "run").mkdir()
    for src, message in (
        (tmp_path / "run", f"surface file {tmp_path / 'run'} is a directory; give a file in it, not the directory"),
        (tmp_path / "cut.h5", "cut.h5 is truncated or damaged: it starts as an HDF5 file but cannot be opened ("),
    ):
        with pytest.raises(SystemExit) as e:
            main([w.format(src=src, dir=tmp_path) for w in command])
        assert e.value.code == 2
        (line,) = capsys.readouterr().err.splitlines()
        assert line.startswith(f"lossatlas {command[0]}: error: {message}")
        assert line.endswith(message if src.is_dir() else "); copy the whole file again, or compute it anew")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.h5", "run", "whole.h5"]


def test_a_direction_file_given_as_the_surface_is_named_as_such(tmp_path, tensors_npz, capsys):
    """It was "s.dirs.h5 has no 'xcoordinates' dataset: not a loss surface file"."""
    args = ["compute", "--model", "tinycnn", "--data", "tensors", "--data-root", str(tensors_npz), "--x", "-1:1:3"]
    assert main([*args, "--threads", "1", "--out", str(tmp_path / "s.h5")]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["export", str(tmp_path / "s.dirs.h5"), "--csv"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "lossatlas export: error: s.dirs.h5 is a direction file, not a surface file; give the surface computed "
        "with it\n"
    )
    assert not list(tmp_path.glob("*.csv"))
