"""Surfaces in other formats: ParaView's VTK PolyData (``.vtp``, as the reference's ``h52vtp.py`` writes
it), CSV (one row per grid point), and the viewer's mesh JSON.

VTP: the grid points (x, y, z) with ``zvalue`` as point data, one quad per grid cell with the mean of its
four corners as ``averaged zvalue`` cell data. As in ``h52vtp.py``, ``zmax`` clips values above it,
``interp`` resamples onto an N x N grid by a cubic (``resample.py``) and ``log`` maps z to ln(z + 0.1).
Unlike it, non-square grids keep their shape, a cell with a corner that is not computed or not finite is
left out (the hole shows in ParaView) instead of poisoning it, and ``zmax`` clips before resampling (a
diverged rim then neither rings into its neighbours nor, when infinite, leaves a hole); points of no cell
are written with height 0.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .files import atomic_path
from .h5io import Surface
from .meshjson import mesh_data, ordered_metrics
from .resample import resample_cubic


def vtp_grid(
    surface: Surface, metric: str, log: bool = False, zmax: float | None = None, interp: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The x and y coordinates and the (ny, nx) heights written to the VTP file: NaN where not computed,
    clipped, resampled, ln(z + 0.1)."""
    if surface.ycoordinates is None:
        raise ValueError("VTP export is of 2-D surfaces; this one is 1-D (export it as CSV)")
    if metric not in surface.metrics:
        raise ValueError(f"the surface has no metric {metric!r}; it has {', '.join(surface.metrics)}")
    xs, ys = surface.xcoordinates, surface.ycoordinates
    z = np.where(surface.done.astype(bool), np.asarray(surface.metrics[metric], dtype=np.float64), np.nan)
    if zmax is not None:
        z = np.minimum(z, zmax)  # NaN stays NaN
    if interp is not None:
        xs, ys, z = resample_cubic(xs, ys, z, interp)
    if log:
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.log(z + 0.1)
    z[~np.isfinite(z)] = np.nan
    return xs, ys, z


def _ascii(values: np.ndarray, per_line: int) -> str:
    rows = [
        " ".join(repr(float(v)) if isinstance(v, (float, np.floating)) else str(v) for v in values[i : i + per_line])
        for i in range(0, len(values), per_line)
    ]
    return "".join(f"          {r}\n" for r in rows)


def write_vtp(
    surface: Surface,
    path: str | Path,
    metric: str = "train_loss",
    log: bool = False,
    zmax: float | None = None,
    interp: int | None = None,
) -> Path:
    """Write the ``metric`` surface as VTK XML PolyData (ASCII) for ParaView; ``interp``: resampled onto
    ``interp`` x ``interp`` points first."""
    xs, ys, z = vtp_grid(surface, metric, log, zmax, interp)
    ny, nx = z.shape
    X, Y = np.meshgrid(xs, ys)
    flat_z = z.reshape(-1)
    finite = np.isfinite(flat_z)
    if not finite.any():
        raise ValueError("no computed finite point to export")
    quads, averages = [], []
    for iy in range(ny - 1):
        for ix in range(nx - 1):
            i = iy * nx + ix
            corners = (i, i + 1, i + nx + 1, i + nx)
            if finite[list(corners)].all():
                quads.append(corners)
                averages.append(float(flat_z[list(corners)].mean()))
    # Points not computed get height 0: no cell uses them, and VTK's ASCII reader has no NaN.
    heights = np.where(finite, flat_z, 0.0)
    points = np.column_stack([X.reshape(-1), Y.reshape(-1), heights]).reshape(-1)
    conn = np.asarray(quads, dtype=np.int64).reshape(-1)
    offsets = 4 * np.arange(1, len(quads) + 1, dtype=np.int64)
    zs = flat_z[finite]
    avg = np.asarray(averages) if averages else np.zeros(0)

    def array(kind: str, name: str, comps: int, data: np.ndarray, per_line: int, lo=None, hi=None) -> str:
        rng = f' RangeMin="{lo!r}" RangeMax="{hi!r}"' if lo is not None else ""
        return (
            f'        <DataArray type="{kind}" Name="{name}" NumberOfComponents="{comps}" format="ascii"{rng}>\n'
            f"{_ascii(data, per_line)}        </DataArray>\n"
        )

    empty_cells = "".join(
        f'      <{tag}>\n        <DataArray type="Int64" Name="connectivity" format="ascii">\n        </DataArray>\n'
        f'        <DataArray type="Int64" Name="offsets" format="ascii">\n        </DataArray>\n      </{tag}>\n'
        for tag in ("Verts", "Lines", "Strips")
    )
    text = (
        '<VTKFile type="PolyData" version="1.0" byte_order="LittleEndian" header_type="UInt64">\n'
        "  <PolyData>\n"
        f'    <Piece NumberOfPoints="{nx * ny}" NumberOfVerts="0" NumberOfLines="0" NumberOfStrips="0" '
        f'NumberOfPolys="{len(quads)}">\n'
        "      <PointData>\n"
        + array("Float32", "zvalue", 1, heights, 6, float(zs.min()), float(zs.max()))
        + "      </PointData>\n      <CellData>\n"
        + (array("Float32", "averaged zvalue", 1, avg, 6, float(avg.min()), float(avg.max())) if len(avg) else "")
        + "      </CellData>\n      <Points>\n"
        + array("Float32", "Points", 3, points, 6)
        + "      </Points>\n"
        + empty_cells
        + "      <Polys>\n"
        + array("Int64", "connectivity", 1, conn, 8)
        + array("Int64", "offsets", 1, offsets, 8)
        + "      </Polys>\n    </Piece>\n  </PolyData>\n</VTKFile>\n"
    )
    return _write_text(path, text)


def write_csv(surface: Surface, path: str | Path) -> Path:
    """One row per grid point: ``x``, ``y`` (2-D), ``done`` (0/1) and every metric (empty where not
    computed; ``nan``/``inf`` as Python writes them), in the file's ``[iy, ix]`` order."""
    metrics = ordered_metrics(surface)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        two_d = surface.ycoordinates is not None
        w.writerow((["x", "y"] if two_d else ["x"]) + ["done"] + list(metrics))
        for index in np.ndindex(surface.done.shape):
            done = bool(surface.done[index])
            coords = (
                [surface.xcoordinates[index[1]], surface.ycoordinates[index[0]]]
                if two_d
                else [surface.xcoordinates[index[0]]]
            )
            w.writerow(
                [repr(float(c)) for c in coords]
                + [int(done)]
                + [repr(float(v[index])) if done else "" for v in metrics.values()]
            )
    return path


def write_mesh_json(surface: Surface, path: str | Path, name: str | None = None) -> Path:
    """The viewer's mesh JSON (what ``GET /api/surfaces/{id}`` serves, without the catalog's summary)."""
    mesh = {"name": name or (surface.recipe.get("spec", {}).get("model") or Path(path).stem), **mesh_data(surface)}
    return _write_text(path, json.dumps(mesh, separators=(",", ":")))


def _write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return path
