"""Figures for papers (#16): the drawn data and levels against independent computations, images against
references rendered here with plain matplotlib from the file's raw arrays, and the CLI against the API."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("matplotlib")
from cli_runs import refusal  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.testing.compare import compare_images  # noqa: E402

from workers.cli import main  # noqa: E402
from workers.figures import contour, curves, plot, ratio, save, surface3d, trajectory  # noqa: E402
from workers.h5io import Surface, Trajectory, write_surface  # noqa: E402


def bowl(path: Path, scale: float = 1.0, pending: bool = True) -> Path:
    """A 2-D surface z = scale * (1 + x^2 + 2y^2) on 11 x 9 points, one point pending and one NaN."""
    xs, ys = np.linspace(-1, 1, 11), np.linspace(-0.5, 1.5, 9)
    X, Y = np.meshgrid(xs, ys)
    loss = scale * (1 + X**2 + 2 * Y**2)
    done = np.ones_like(loss, dtype=bool)
    if pending:
        done[0, 0] = False
        loss[8, 10] = np.nan
    metrics = {"train_loss": np.where(done, loss, np.nan), "train_acc": np.where(done, 100 - 10 * loss, np.nan)}
    write_surface(path, Surface(xs, ys, metrics, done, {"spec": {"model": f"bowl{scale:g}"}}))
    return path


def line(path: Path, shift: float = 0.0) -> Path:
    xs = np.linspace(-1, 1, 21)
    loss, acc = 0.5 + (xs - shift) ** 2, 90 - 20 * (xs - shift) ** 2
    write_surface(
        path,
        Surface(
            xs,
            None,
            {"train_loss": loss, "train_acc": acc, "test_loss": loss + 0.1},
            np.ones(21, dtype=bool),
            {"spec": {"model": f"line{shift:g}"}},
        ),
    )
    return path


def curved(path: Path, path_attrs: dict | None = None) -> Path:
    """A 2-D surface with Hessian extremes (max_eig > 0 > min_eig, one max_eig of 0) and a four-point path."""
    xs, ys = np.linspace(-1, 1, 7), np.linspace(-1, 1, 5)
    X, Y = np.meshgrid(xs, ys)
    max_eig, min_eig = 2 + X**2 + Y, -0.1 - 0.5 * (X - Y) ** 2
    max_eig[2, 3] = 0.0
    t = Trajectory(
        ["epoch 0", "epoch 1", "epoch 2", "final"],
        np.array([0, 1, 2, -1]),
        np.array([0.8, 0.5, 0.2, 0.0]),
        np.array([-0.7, -0.3, -0.1, 0.0]),
        {"train_loss": np.array([2.0, 1.2, 0.8, 0.6])},
        path_attrs if path_attrs is not None else {"method": "cos", "explained_variance_ratio_": [0.935, 0.041]},
    )
    metrics = {"train_loss": 1 + X**2 + Y**2, "max_eig": max_eig, "min_eig": min_eig}
    write_surface(path, Surface(xs, ys, metrics, np.ones_like(X, dtype=bool), {"spec": {"model": "c"}}, trajectory=t))
    return path


def raw(path: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, y, the metric and the done mask, read with h5py alone."""
    with h5py.File(path, "r") as f:
        return f["xcoordinates"][()], f["ycoordinates"][()], f[name][()], f["done"][()].astype(bool)


def contour_sets(fig: Figure) -> list[ContourSet]:
    return [c for ax in fig.axes for c in ax.collections if isinstance(c, ContourSet)]


@pytest.mark.parametrize("log", [False, True])
def test_contour_levels_span_the_computed_finite_values(tmp_path, log):
    path = bowl(tmp_path / "b.h5")
    _, _, z, done = raw(path, "train_loss")
    shown = z[done & np.isfinite(z)]
    want = np.geomspace(shown.min(), shown.max(), 7) if log else np.linspace(shown.min(), shown.max(), 7)
    (cs,) = contour_sets(contour(path, levels=7, log=log))
    np.testing.assert_allclose(cs.levels, want, rtol=1e-12)
    (cs,) = contour_sets(contour(path, levels=[3.0, 1.5, 2.0], filled=True))
    assert cs.levels.tolist() == [1.5, 2.0, 3.0]


def test_filled_contour_image_matches_a_reference_drawn_from_the_raw_arrays(tmp_path):
    path = bowl(tmp_path / "b.h5")
    ours = save(
        contour(path, filled=True, levels=9, cmap="magma", figsize=(4, 3), dpi=80, title="t"), tmp_path / "o.png"
    )
    x, y, z, done = raw(path, "train_loss")
    masked = np.ma.masked_array(z, ~done | ~np.isfinite(z))
    levels = np.linspace(masked.min(), masked.max(), 9)
    ref = Figure(figsize=(4, 3), dpi=80, layout="constrained")
    ax = ref.subplots(1, 1, squeeze=False)[0, 0]
    cs = ax.contourf(x, y, masked, levels=levels, cmap="magma", extend="both")
    ax.set(title="t", xlabel="x", ylabel="y")
    ax.set_aspect("equal", adjustable="box")
    ref.colorbar(cs, ax=[ax], label="train_loss", ticks=levels[::1], format="%.3g")
    ref.savefig(tmp_path / "r.png")
    assert compare_images(str(tmp_path / "r.png"), str(ours), tol=2) is None
    # and a different surface is not within that tolerance: the comparison can fail
    other = save(
        contour(
            bowl(tmp_path / "c.h5", scale=3), filled=True, levels=9, cmap="magma", figsize=(4, 3), dpi=80, title="t"
        ),
        tmp_path / "c.png",
    )
    assert compare_images(str(tmp_path / "r.png"), str(other), tol=2) is not None


def test_overlaid_contours_share_levels_and_are_labelled(tmp_path):
    a, b = bowl(tmp_path / "a.h5"), bowl(tmp_path / "b.h5", scale=2)
    fig = contour([a, b], levels=5)
    sets = contour_sets(fig)
    assert len(sets) == 2 and len(fig.axes) == 1
    _, _, za, da = raw(a, "train_loss")
    _, _, zb, db = raw(b, "train_loss")
    everything = np.concatenate([za[da & np.isfinite(za)], zb[db & np.isfinite(zb)]])
    for cs in sets:
        np.testing.assert_allclose(cs.levels, np.linspace(everything.min(), everything.max(), 5))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["bowl1", "bowl2"]
    side = contour([a, b], filled=True, labels=["plain", "steep"])
    assert [ax.get_title() for ax in side.axes[:2]] == ["plain", "steep"]


def test_curves_draw_the_loss_and_the_accuracy_on_a_second_axis(tmp_path):
    a, b = line(tmp_path / "a.h5"), line(tmp_path / "b.h5", shift=0.3)
    fig = curves([a, b], log=True)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_yscale() == "log" and acc_ax.get_ylabel() == "train_acc (%)"
    with h5py.File(b, "r") as f:
        x, loss, acc = f["xcoordinates"][()], f["train_loss"][()], f["train_acc"][()]
    np.testing.assert_array_equal(loss_ax.lines[1].get_xdata(), x)
    np.testing.assert_array_equal(loss_ax.lines[1].get_ydata(), loss)
    np.testing.assert_array_equal(acc_ax.lines[1].get_ydata(), acc)
    assert acc_ax.lines[1].get_linestyle() == "--"
    with h5py.File(a, "r") as f:
        test_loss = f["test_loss"][()]
    fig = curves(a, metric="test_loss")  # no test_acc in the file: no second axis
    assert len(fig.axes) == 1
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), test_loss)


def test_curves_mark_the_points_whose_loss_is_not_finite_on_the_x_axis(tmp_path):
    """An interpolation's ends where a BatchNorm variance turns negative are NaN: the curve began at the first
    finite point, its axis too, as if the grid began there."""
    xs = np.linspace(-0.5, 1.5, 9)
    loss = 1 + xs**2
    loss[:2], loss[-1] = np.nan, np.inf
    done = np.ones(9, dtype=bool)
    done[4] = False  # pending: not a lost point
    write_surface(tmp_path / "i.h5", Surface(xs, None, {"train_loss": loss}, done, {"spec": {"model": "i"}}))
    fig = curves(tmp_path / "i.h5")
    (ax,) = fig.axes
    curve, marks = ax.lines
    np.testing.assert_array_equal(marks.get_xdata(), xs[[0, 1, 8]])
    assert marks.get_marker() == "x" and marks.get_label() == "i train_loss not finite"
    assert marks.get_transform() == ax.get_xaxis_transform()  # on the x axis, whatever the loss's scale
    lo, hi = ax.get_xlim()
    assert lo < -0.5 and hi > 1.5
    assert np.isnan(curve.get_ydata()[[0, 1, 4, 8]]).all()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["i train_loss", "i train_loss not finite"]


def test_surface_plot_draws_each_surface_in_3d(tmp_path):
    a, b = bowl(tmp_path / "a.h5"), bowl(tmp_path / "b.h5", scale=2)
    fig = surface3d([a, b], log=True)
    (ax,) = fig.axes
    assert ax.name == "3d" and len(ax.collections) == 2 and ax.get_zlabel() == "log10 train_loss"


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_formats_follow_the_suffix(tmp_path, suffix, magic):
    out = save(plot(bowl(tmp_path / "b.h5")), tmp_path / f"f{suffix}")
    assert out.read_bytes().startswith(magic)


def test_size_and_dpi_set_the_pixels(tmp_path):
    from PIL import Image

    out = save(plot(line(tmp_path / "a.h5"), figsize=(3, 2), dpi=50), tmp_path / "f.png")
    assert Image.open(out).size == (150, 100)
    assert Image.open(save(plot(line(tmp_path / "a.h5"), figsize=(3, 2)), tmp_path / "g.png", dpi=40)).size == (120, 80)
    with pytest.raises(ValueError, match="^dpi sets the resolution of a PNG; g.pdf is drawn in vectors"):
        save(plot(line(tmp_path / "a.h5")), tmp_path / "g.pdf", dpi=300)
    with pytest.raises(ValueError, match="^h.png would be 30000×20000 pixels, more than 16384 on a side: lower dpi"):
        save(plot(line(tmp_path / "a.h5"), figsize=(3, 2)), tmp_path / "h.png", dpi=10000)
    with pytest.raises(ValueError, match="^h.pdf would be 300×2 inches, more than 200 on a side"):
        save(plot(line(tmp_path / "a.h5"), figsize=(300, 2), dpi=1), tmp_path / "h.pdf")
    assert not (tmp_path / "g.pdf").exists() and not (tmp_path / "h.png").exists()
    assert not (tmp_path / "h.pdf").exists()


def test_the_cli_draws_a_png_at_150_dpi_unless_told(tmp_path):
    from PIL import Image

    args = ["plot", str(line(tmp_path / "a.h5")), "--size", "3,2", "--out"]
    assert main([*args, str(tmp_path / "f.png")]) == 0 and Image.open(tmp_path / "f.png").size == (450, 300)
    assert main([*args, str(tmp_path / "g.png"), "--dpi", "20"]) == 0
    assert Image.open(tmp_path / "g.png").size == (60, 40)
    assert main([*args, str(tmp_path / "f.pdf")]) == 0 and (tmp_path / "f.pdf").read_bytes().startswith(b"%PDF")
    # a PDF is drawn in points, 72 an inch: one of 150 inches was refused as 22500 pixels at the PNG's 150 dpi
    assert main([*args, str(tmp_path / "wide.pdf"), "--size", "150,2"]) == 0
    assert b"/MediaBox [ 0 0 10800 144 ]" in (tmp_path / "wide.pdf").read_bytes()


def test_cli_plot_equals_the_python_function(tmp_path, capsys):
    a, b = bowl(tmp_path / "a.h5"), bowl(tmp_path / "b.h5", scale=2)
    code = main(
        [
            "plot",
            str(a),
            str(b),
            "--kind",
            "contourf",
            "--levels",
            "6",
            "--log",
            "--cmap",
            "plasma",
            "--size",
            "4,3",
            "--dpi",
            "70",
            "--labels",
            "one,two",
            "--out",
            str(tmp_path / "cli.png"),
        ]
    )
    assert code == 0
    api = save(
        contour([a, b], filled=True, levels=6, log=True, cmap="plasma", figsize=(4, 3), dpi=70, labels=["one", "two"]),
        tmp_path / "api.png",
    )
    assert compare_images(str(api), str(tmp_path / "cli.png"), tol=0) is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "f.jpg"], "the output must end in .png, .pdf or .svg; got 'f.jpg'"),
        (
            ["--kind", "curve", "--out", "f.png"],
            "curves are of 1-D surfaces; the surface is 2-D: plot 2-D surfaces as contour, contourf or surface",
        ),
        (
            ["--metric", "test_loss", "--out", "f.png"],
            "the surface has no metric 'test_loss'; it has train_acc, train_loss",
        ),
        (
            ["--out", "nodir/f.png"],
            "the directory of --out nodir/f.png does not exist; create nodir first or choose another --out",
        ),
        (  # was "the levels' range is empty: vmin 5 is not below vmax 1; change --vmin or --vmax"
            ["--vmin", "5", "--vmax", "1", "--out", "f.png"],
            "--vmin 5 is not below --vmax 1: no level lies between them; lower --vmin or raise --vmax",
        ),
        (["--log", "--vmin", "0", "--out", "f.png"], "a log scale needs a positive --vmin, got 0"),  # was vmin=0.0
        (["--vmax", "inf", "--out", "f.png"], "argument --vmax: 'inf' is not a finite number"),  # matplotlib's error
        (["--vmin", "nan", "--out", "f.png"], "argument --vmin: 'nan' is not a finite number"),
        (["--zmax", "nan", "--out", "f.png"], "argument --zmax: 'nan' is not a finite number"),  # was: no limit
        (["--dpi", "inf", "--out", "f.png"], "argument --dpi: 'inf' is not a finite number"),  # a NaN's ValueError
        (["--levels", "2,2,3", "--out", "f.png"], "--levels must be distinct finite numbers, got 2, 2, 3"),
        (
            ["--levels", "2,3", "--vmin", "1", "--out", "f.png"],  # was drawn without a word of --vmin
            "--vmin applies to a number of levels; levels given as a list are drawn as they are: leave out --vmin",
        ),
        (  # was "'x' is a number of levels ..."
            ["--levels", "x", "--out", "f.png"],
            "argument --levels: 'x' is not a number of levels (20) or a list of them (0.5,1,2,4)",
        ),
        # the bowl's computed values run from 1 (x = y = 0) to 6.5 (x = -1, y = 1.5)
        (
            ["--zmax", "0.5", "--out", "f.png"],
            "--zmax 0.5 is below every value: train_loss runs from 1 to 6.5; raise it or leave it out",
        ),
        (
            ["--kind", "surface", "--zmax", "0.5", "--out", "f.png"],
            "--zmax 0.5 is below every value: train_loss runs from 1 to 6.5; raise it or leave it out",
        ),
        (
            ["--vmax", "0.5", "--out", "f.png"],
            "--vmax 0.5 is below every value: the values run from 1 to 6.5; raise it or leave it out",
        ),
        (
            ["--vmin", "7", "--out", "f.png"],
            "--vmin 7 is above every value: the values run from 1 to 6.5; lower it or leave it out",
        ),
        (
            ["--labels", "one,two", "--out", "f.png"],
            "--labels must name each surface once: 2 labels for 1 surface",
        ),
        (["--levels", "1", "--out", "f.png"], "--levels must be at least 2, got 1"),
        (
            ["--kind", "surface", "--levels", "5", "--out", "f.png"],
            "--levels does not apply to a surface plot; it is an option of --kind contour, contourf, ratio, trajectory",
        ),
        (
            ["--no-accuracy", "--out", "f.png"],  # auto: contourf
            "--no-accuracy does not apply to a contourf plot; it is an option of --kind curve",
        ),
        (
            ["--kind", "ratio", "--metric", "train_loss", "--out", "f.png"],
            "--metric does not apply to a ratio plot; it is an option of --kind contour, contourf, surface, curve, "
            "trajectory",
        ),
        (["--dpi", "0", "--out", "f.png"], "--dpi must be positive"),
        (  # the renderer's "std::bad_alloc" ended the process
            ["--dpi", "100000", "--out", "f.png"],
            "the figure would be 600000×500000 pixels, more than 16384 on a side: lower --dpi or the figure's size",
        ),
        (  # a TypeError of matplotlib's C++ renderer, with a traceback
            ["--size", "1e9,1e9", "--out", "f.png"],
            "the figure would be 150000000000×150000000000 pixels, more than 16384 on a side: lower --dpi or the "
            "figure's size",
        ),
        (  # was refused in pixels at the PNG's dpi, naming --dpi, which a PDF refuses: a 150-inch one too
            ["--size", "1e9,1e9", "--out", "f.pdf"],
            "the figure would be 1e+09×1e+09 inches, more than 200 on a side (a PDF page's largest): lower the "
            "figure's size",
        ),
        (
            ["--size", "6,201", "--out", "f.svg"],
            "the figure would be 6×201 inches, more than 200 on a side (a PDF page's largest): lower the figure's size",
        ),
        (  # was written as without it: a vector drawing has no resolution
            ["--dpi", "300", "--out", "f.pdf"],
            "--dpi sets the resolution of a PNG; f.pdf is drawn in vectors, sharp at any size: leave --dpi out",
        ),
        (
            ["--dpi", "300", "--out", "f.SVG"],
            "--dpi sets the resolution of a PNG; f.SVG is drawn in vectors, sharp at any size: leave --dpi out",
        ),
        (
            ["--size", "0,0", "--out", "f.png"],
            "argument --size: '0,0' is not WIDTH,HEIGHT: two positive sizes in inches (e.g. 6,5)",
        ),
        (
            ["--kind", "trajectory", "--out", "f.png"],
            "a trajectory plot needs one surface file with a trajectory (lossatlas compute --directions pca)",
        ),
    ],
)
def test_cli_plot_refuses_bad_requests_in_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert refusal(capsys, ["plot", str(bowl(tmp_path / "b.h5")), *args]) == f"lossatlas plot: error: {message}"
    assert not list(tmp_path.glob("f.*"))


def test_overlaid_contour_lines_refuse_a_colour_map_they_would_not_use_and_say_their_levels_are_log_spaced(
    tmp_path, capsys, monkeypatch
):
    """The README's own example overlaid two surfaces with --cmap magma: each was drawn in a colour of its own,
    and without a colour bar nothing said that --log had spaced the levels."""
    monkeypatch.chdir(tmp_path)
    a, b = bowl(tmp_path / "a.h5"), bowl(tmp_path / "b.h5", scale=2)
    assert refusal(capsys, ["plot", str(a), str(b), "--kind", "contour", "--cmap", "magma", "--out", "f.png"]) == (
        "lossatlas plot: error: --cmap colours the contours of one surface; overlaid surfaces each get a colour of "
        "their own: leave --cmap out, or draw them side by side on one colour scale with --kind contourf"
    )
    assert not list(tmp_path.glob("f.*"))
    for files, kind in (([a], "contour"), ([a, b], "contourf")):  # where it colours the levels
        assert main(["plot", *map(str, files), "--kind", kind, "--cmap", "magma", "--out", "f.png"]) == 0
    assert [c.get_cmap().name for c in contour_sets(contour(a, cmap="magma"))] == ["magma"]
    assert contour([a, b], log=True).axes[0].get_title() == "train_loss (log-spaced levels)"
    assert contour([a, b]).axes[0].get_title() == "train_loss"


@pytest.mark.parametrize("kind, guess", [("contourf", " (did you mean viridis?)"), ("surface", "")])
def test_cli_plot_refuses_an_unknown_colour_map_naming_where_its_help_lists_them(
    tmp_path, capsys, monkeypatch, kind, guess
):
    """The line listed all of matplotlib's colour maps (about 730 characters); the help lists them now."""
    import matplotlib

    monkeypatch.chdir(tmp_path)
    cmap = "virdis" if guess else "nope"
    assert refusal(
        capsys, ["plot", str(bowl(tmp_path / "b.h5")), "--kind", kind, "--cmap", cmap, "--out", "f.png"]
    ) == (
        f"lossatlas plot: error: --cmap {cmap!r} is not a colour map{guess}; lossatlas plot --help lists "
        "matplotlib's (such as viridis, magma, cividis, coolwarm), each also reversed with _r"
    )
    assert not list(tmp_path.glob("f.*"))
    assert main(["plot", "b.h5", "--kind", kind, "--cmap", "magma_r", "--out", "f.png"]) == 0
    with pytest.raises(SystemExit):
        main(["plot", "--help"])
    names = sorted((n for n in matplotlib.colormaps if not n.endswith("_r")), key=str.lower)
    assert "viridis" in names and "magma" in names
    listed = " ".join(capsys.readouterr().out.split()).split("Colour maps (--cmap), each also reversed with _r")[1]
    assert listed == f" (viridis_r): {', '.join(names)}."


def test_the_python_api_names_matplotlibs_colour_maps(tmp_path):
    from workers.figures import UnknownColourMap, contour

    with pytest.raises(UnknownColourMap) as e:
        contour(bowl(tmp_path / "b.h5"), cmap="virdis")
    assert str(e.value) == (
        "cmap 'virdis' is not a colour map (did you mean viridis?); choose one of matplotlib.colormaps, such as "
        "viridis, magma, cividis, coolwarm, or one reversed with _r (viridis_r)"
    )


def test_cli_plot_of_a_1d_and_a_2d_file_names_them_and_a_plot_counts_its_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bowl(tmp_path / "b.h5"), line(tmp_path / "a.h5")
    with pytest.raises(SystemExit) as e:  # auto: neither a curve nor a contour plot for both
        main(["plot", "b.h5", "a.h5", "--out", "f.png"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "lossatlas plot: error: a.h5 is a 1-D surface and b.h5 a 2-D one: one figure overlays surfaces of one "
        "kind; plot them apart\n"
    )
    assert not list(tmp_path.glob("f.*"))
    assert main(["plot", "b.h5", "--out", "f.png"]) == 0
    assert capsys.readouterr().err == "lossatlas: contourf plot of 1 surface -> f.png\n"


def test_ctrl_c_while_a_figure_is_written_keeps_the_one_there_and_says_interrupted(
    tmp_path, capsys, monkeypatch, python_sigint
):
    """The figure was written in place: a Ctrl-C halfway left a broken file where a good one had been. The
    line said "run the same command again to resume", which a plot does not do."""
    import io
    import signal

    out = tmp_path / "f.png"
    assert main(["plot", str(bowl(tmp_path / "b.h5")), "--out", str(out)]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    write = Figure.savefig

    def cut_short_by_ctrl_c(fig, fname, **kwargs) -> None:
        whole = io.BytesIO()
        write(fig, whole, **kwargs)
        Path(fname).write_bytes(whole.getvalue()[:1000])
        signal.raise_signal(signal.SIGINT)  # Ctrl-C, handled by the command's handler, here

    monkeypatch.setattr(Figure, "savefig", cut_short_by_ctrl_c)
    with pytest.raises(SystemExit) as e:
        main(["plot", str(bowl(tmp_path / "b.h5")), "--kind", "contour", "--out", str(out)])
    assert e.value.code == 130
    assert capsys.readouterr().err == "lossatlas plot: interrupted\n"
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["b.h5", "f.png"]


def test_a_plot_of_the_wrong_dimension_names_the_surfaces_in_words(tmp_path):
    """It read "surface(s) [1] are 1-D"."""
    b, one = bowl(tmp_path / "b.h5"), line(tmp_path / "l.h5")
    with pytest.raises(ValueError, match=r"^a contour plot needs 2-D surfaces; surface 2 of 2 is 1-D: plot 1-D "):
        contour([b, one])
    with pytest.raises(ValueError, match=r"^curves are of 1-D surfaces; surfaces 2, 3 of 3 are 2-D: plot 2-D "):
        curves([one, b, b])
    with pytest.raises(ValueError, match=r"^a surface plot needs 2-D surfaces; the surface is 1-D: plot 1-D "):
        surface3d(one)


def test_colour_bar_ticks_of_a_narrow_range_read_apart(tmp_path):
    xs = np.linspace(-1, 1, 9)
    X, Y = np.meshgrid(xs, xs)
    loss = 2.29 + 0.01 * (X**2 + Y**2)  # a loss that barely moves: 2.29 .. 2.31
    write_surface(tmp_path / "n.h5", Surface(xs, xs, {"train_loss": loss}, np.ones((9, 9), bool), {}))
    fig = contour(tmp_path / "n.h5", filled=True)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[-1].get_yticklabels()]
    ticks = fig.axes[-1].get_yticks()
    assert len(labels) >= 4 and len(set(labels)) == len(labels), labels
    assert [float(t.replace("\u2212", "-")) for t in labels] == pytest.approx(ticks, abs=5e-4)


def test_ratio_map_draws_abs_min_over_max_eig_on_levels_of_its_range(tmp_path):
    path = curved(tmp_path / "c.h5")
    _, _, lo, _ = raw(path, "min_eig")
    _, _, hi, _ = raw(path, "max_eig")
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.abs(lo / hi)
    want[hi == 0] = np.nan
    shown = want[np.isfinite(want)]
    levels = np.linspace(shown.min(), shown.max(), 6)
    fig = ratio(path, levels=6, figsize=(4, 3), dpi=80)
    filled, lines = contour_sets(fig)
    assert filled.filled and not lines.filled
    np.testing.assert_allclose(filled.levels, levels, rtol=1e-12)
    assert lines.levels.tolist() == filled.levels.tolist()
    # the image against one drawn with plain matplotlib from the ratio of the raw arrays
    x, y, _, _ = raw(path, "max_eig")
    ref = Figure(figsize=(4, 3), dpi=80, layout="constrained")
    ax = ref.subplots(1, 1, squeeze=False)[0, 0]
    masked = np.ma.masked_invalid(want)
    cs = ax.contourf(x, y, masked, levels=levels, extend="both")
    ax.contour(x, y, masked, levels=levels, colors="k", linewidths=0.5)
    ax.set(title="c: eig_ratio", xlabel="x", ylabel="y")
    ax.set_aspect("equal", adjustable="box")
    ref.colorbar(cs, ax=[ax], label="eig_ratio", ticks=levels[::1], format="%.3g")
    ref.savefig(tmp_path / "r.png")
    assert compare_images(str(tmp_path / "r.png"), str(save(fig, tmp_path / "o.png")), tol=2) is None
    api = save(ratio(path, levels=6, dpi=60), tmp_path / "api.png")
    assert (
        main(["plot", str(path), "--kind", "ratio", "--levels", "6", "--dpi", "60", "--out", str(tmp_path / "cli.png")])
        == 0
    )
    assert compare_images(str(api), str(tmp_path / "cli.png"), tol=0) is None


def test_ratio_map_needs_the_eigenvalues(tmp_path):
    with pytest.raises(ValueError, match="needs a surface with max_eig and min_eig"):
        ratio(bowl(tmp_path / "b.h5"))


def test_ratio_of_a_1d_surface_names_the_curve_that_draws_it(tmp_path, capsys):
    xs = np.linspace(-1, 1, 5)
    max_eig, min_eig = 2 + xs**2, -0.1 - xs**2
    metrics = {"train_loss": 1 + xs**2, "max_eig": max_eig, "min_eig": min_eig}
    write_surface(tmp_path / "l.h5", Surface(xs, None, metrics, np.ones(5, dtype=bool), {"spec": {"model": "l"}}))
    with pytest.raises(SystemExit) as e:
        main(["plot", str(tmp_path / "l.h5"), "--kind", "ratio", "--out", str(tmp_path / "r.png")])
    assert e.value.code == 2 and not (tmp_path / "r.png").exists()
    assert capsys.readouterr().err == (
        "lossatlas plot: error: a ratio plot needs 2-D surfaces; the surface is 1-D: the ratio of a 1-D surface is "
        "a curve (--kind curve --metric eig_ratio; curves(..., 'eig_ratio'))\n"
    )
    argv = [
        "plot",
        str(tmp_path / "l.h5"),
        "--kind",
        "curve",
        "--metric",
        "eig_ratio",
        "--out",
        str(tmp_path / "c.png"),
    ]
    assert main(argv) == 0  # the fix named works, and draws |min_eig / max_eig|
    (drawn,) = curves(tmp_path / "l.h5", "eig_ratio").axes[0].get_lines()
    np.testing.assert_allclose(drawn.get_ydata(), np.abs(min_eig / max_eig), rtol=1e-12)


def test_trajectory_draws_the_files_path_with_labels_and_explained_variance(tmp_path):
    path = curved(tmp_path / "c.h5")
    with h5py.File(path, "r") as f:
        x, y = f["trajectory/x"][()], f["trajectory/y"][()]
        labels = [v.decode() for v in f["trajectory/label"][()]]
    fig = trajectory(path, levels=5)
    ax = fig.axes[0]
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "path"]
    assert line.get_xdata().tolist() == x.tolist() and line.get_ydata().tolist() == y.tolist()
    assert line.get_marker() == "o"
    assert [(t.get_text(), t.xy) for t in ax.texts] == [(lb, (a, b)) for lb, a, b in zip(labels, x, y)]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("PC1, 93.5%", "PC2, 4.1%")
    (cs,) = contour_sets(fig)
    _, _, z, _ = raw(path, "train_loss")
    np.testing.assert_allclose(cs.levels, np.linspace(z.min(), z.max(), 5), rtol=1e-12)
    plain = trajectory(curved(tmp_path / "d.h5", path_attrs={}), levels=5).axes[0]
    assert (plain.get_xlabel(), plain.get_ylabel()) == ("x", "y")
    api = save(trajectory(path, dpi=60), tmp_path / "api.png")
    assert main(["plot", str(path), "--kind", "trajectory", "--dpi", "60", "--out", str(tmp_path / "cli.png")]) == 0
    assert compare_images(str(api), str(tmp_path / "cli.png"), tol=0) is None


def test_trajectory_labels_of_checkpoints_that_nearly_coincide_do_not_overlap(tmp_path):
    xs, ys = np.linspace(-1, 1, 7), np.linspace(-1, 1, 5)
    X, Y = np.meshgrid(xs, ys)
    path = Trajectory(  # epoch 2 and final a hair apart; epochs 3 to 8 all on one point
        [f"epoch {i}" for i in range(9)] + ["final"],
        np.array([*range(9), -1]),
        np.array([0.8, 0.5, 0.0, -0.5, -0.5, -0.5, -0.5, -0.5, -0.5, 0.001]),
        np.array([-0.7, -0.3, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.001]),
        {},
        {},
    )
    out = tmp_path / "t.h5"
    write_surface(
        out, Surface(xs, ys, {"train_loss": 1 + X**2 + Y**2}, np.ones_like(X, dtype=bool), {}, trajectory=path)
    )
    fig = trajectory(out, levels=5)
    save(fig, tmp_path / "t.png")  # drawn as saved: the extents below are the file's
    texts = fig.axes[0].texts
    # every label of a lone point, and of the two near ones; four of the six on one point, one per side
    assert [t.get_text() for t in texts] == [
        "epoch 0",
        "epoch 1",
        "epoch 2",
        *(f"epoch {i}" for i in range(3, 7)),
        "final",
    ]
    boxes = [t.get_window_extent() for t in texts]
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]


def test_trajectory_needs_one_file_with_a_path(tmp_path):
    with pytest.raises(ValueError, match="needs one surface file with a trajectory"):
        trajectory(bowl(tmp_path / "b.h5"))


def test_trajectory_of_a_pca_surface_computed_by_the_engine(tmp_path, learnable_npz):
    """A real run (train tinycnn, then compute --directions pca): the path drawn is the file's, the axes
    carry the explained variance the file records."""
    import json

    data = ["--model", "tinycnn", "--data", "tensors", "--data-root", str(learnable_npz), "--batch-size", "64"]
    run, out = tmp_path / "run", tmp_path / "pca.h5"
    assert main(["train", *data, "--epochs", "3", "--save-every", "1", "--train-samples", "64", "--out", str(run)]) == 0
    pca = ["compute", *data, "--directions", "pca", "--checkpoints", str(run), "--grid-num", "3", "--samples", "16"]
    assert main([*pca, "--out", str(out)]) == 0
    with h5py.File(out, "r") as f:
        x, y = f["trajectory/x"][()], f["trajectory/y"][()]
        shares = json.loads(f["trajectory"].attrs["attrs"])["explained_variance_ratio_"]
    ax = trajectory(out, levels=4).axes[0]
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "path"]
    assert line.get_xdata().tolist() == x.tolist() and line.get_ydata().tolist() == y.tolist()
    for label, share in ((ax.get_xlabel(), shares[0]), (ax.get_ylabel(), shares[1])):
        shown = float(re.match(r"PC\d, (\S+)%", label)[1])  # the share, never rounded to 0% or 100%
        assert 0 < shown < 100 and shown == pytest.approx(100 * share, abs=0.05)
    xs, ys, _, _ = raw(out, "train_loss")  # the path's plane: its second component is a sliver of the first
    assert ax.get_ylabel().endswith(f" (axis stretched ×{np.ptp(xs) / np.ptp(ys):.0f})")


def thin_path(path: Path) -> Path:
    """A training path whose second component explains 0.7% of its variance, on a grid covering it as the
    engine's does (14 wide, 0.78 high)."""
    px = np.array([-10, -7.5, -5, -3, -1.5, -0.5, 0.0])
    py = np.array([0.3, 0.1, -0.2, -0.25, -0.1, 0.05, 0.0])
    xs, ys = np.linspace(-12, 2, 15), np.linspace(-0.36, 0.42, 7)
    X, Y = np.meshgrid(xs, ys)
    shares = {"method": "cos", "explained_variance_ratio_": [0.991, 0.007]}
    t = Trajectory([f"epoch {i}" for i in range(6)] + ["final"], np.array([*range(6), -1]), px, py, {}, shares)
    loss = 1 + (X / 6) ** 2 + 8 * Y**2
    write_surface(path, Surface(xs, ys, {"train_loss": loss}, np.ones_like(X, dtype=bool), {}, trajectory=t))
    return path


def test_a_map_whose_ranges_differ_more_than_five_times_is_a_square_that_says_its_stretch(tmp_path):
    """x and y drawn on one scale made a training path whose PC2 explains 0.7% a thin strip, its contours
    unreadable; stretched, the axis says so (the reference code stretches both axes, unsaid)."""
    fig = trajectory(thin_path(tmp_path / "t.h5"), levels=5)
    save(fig, tmp_path / "t.png")  # laid out as saved
    ax = fig.axes[0]
    xs, ys, _, _ = raw(tmp_path / "t.h5", "train_loss")
    assert np.ptp(xs) / np.ptp(ys) == pytest.approx(17.95, abs=0.01)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("PC1, 99.1%", "PC2, 0.7% (axis stretched ×18)")
    assert (ax.get_xlim(), ax.get_ylim()) == ((xs[0], xs[-1]), (ys[0], ys[-1]))
    box = ax.get_window_extent()
    assert box.width == pytest.approx(box.height, rel=1e-3)  # a square: the short range stretched to the long
    labels = [ax.yaxis.label.get_window_extent(), ax.xaxis.label.get_window_extent()]
    assert all(b.x0 >= 0 and b.x1 <= fig.bbox.width and b.y0 >= 0 and b.y1 <= fig.bbox.height for b in labels)
    tall = contour(bowl(tmp_path / "b.h5"), levels=5).axes[0]  # 2 wide, 2 high: one scale, labels as they were
    assert (tall.get_aspect(), tall.get_xlabel(), tall.get_ylabel()) == (1.0, "x", "y")


@pytest.mark.parametrize(
    ("height", "labels"),
    [
        (0.5, ("x", "y")),  # 4 times shorter: one scale
        (0.4, ("x", "y")),  # 5 times
        (0.25, ("x", "y (axis stretched ×8)")),  # the shorter range is stretched
        (11.0, ("x (axis stretched ×5.5)", "y")),
        (20.0, ("x (axis stretched ×10)", "y")),
    ],
)
def test_x_and_y_share_one_scale_up_to_a_ratio_of_five(tmp_path, height, labels):
    xs, ys = np.linspace(-1, 1, 5), np.linspace(0, height, 5)  # x spans 2
    X, Y = np.meshgrid(xs, ys)
    write_surface(tmp_path / "s.h5", Surface(xs, ys, {"train_loss": 1 + X**2 + Y}, np.ones_like(X, dtype=bool), {}))
    fig = contour(tmp_path / "s.h5", levels=5)
    fig.draw_without_rendering()
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == labels
    box = ax.get_window_extent()
    if "stretched" in "".join(labels):
        assert box.width == pytest.approx(box.height, rel=1e-3)
    else:
        assert ax.get_aspect() == 1.0 and box.height / box.width == pytest.approx(height / 2, rel=1e-3)
