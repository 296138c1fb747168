"""Figures of surfaces for papers, as matplotlib ``Figure`` objects: contour and filled-contour maps, the
3-D surface, 1-D curves with accuracy on a second axis, the Hessian's eigenvalue-ratio map and the
optimizer's path over the contours; several surfaces overlaid on one scale.

What the reference code's ``plot_2D.py`` / ``plot_1D.py`` draw, with the levels, scale and colours as
options. Points not computed (the ``done`` mask) and non-finite values are left blank. Figures are made
without pyplot (no GUI backend, nothing global to close); notebooks display them as they are. Needs
matplotlib: ``pip install 'lossatlas[plot]'``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from .files import atomic_path
from .h5io import Surface, read_surface
from .progress import counted, percent

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Kind = Literal["auto", "contour", "contourf", "surface", "curve", "ratio", "trajectory"]
KINDS: tuple[str, ...] = get_args(Kind)
FORMATS = ("png", "pdf", "svg")
MAX_SIDE = 16384  # pixels of a figure drawn: 54 inches at 300 dpi; its RGBA buffer alone is a gigabyte
MAX_INCHES = 200  # a side of a PDF or SVG figure: a PDF page's largest (14,400 points, PDF readers' limit)
VECTOR_DPI = 72  # points per inch: what a PDF or SVG is drawn at, whatever its figure's dpi (and within MAX_SIDE)
Levels = int | Sequence[float]


def _matplotlib():
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError:
        raise ValueError("plots need matplotlib: pip install 'lossatlas[plot]'") from None
    return Figure


def check_size(size: Sequence[float], dpi: float, what: str, fmt: str = "png") -> None:
    """Refuse to draw ``what`` (a figure of ``size`` inches) larger than its format holds: a PNG, or a figure
    in memory, at ``dpi`` past :data:`MAX_SIDE` pixels on a side (matplotlib's renderer would ask for
    gigabytes and crash the process); a PDF or an SVG past :data:`MAX_INCHES` inches on a side."""
    if fmt != "png":
        if max(size) > MAX_INCHES:
            width, height = size
            raise ValueError(
                f"{what} would be {width:g}×{height:g} inches, more than {MAX_INCHES} on a side (a PDF page's "
                "largest): lower the figure's size"
            )
        return
    width, height = (round(v * dpi) for v in size)
    if max(width, height) > MAX_SIDE:
        raise ValueError(
            f"{what} would be {width}×{height} pixels, more than {MAX_SIDE} on a side: lower dpi or the figure's size"
        )


def _figure(figsize: tuple[float, float], dpi: float) -> Figure:
    Figure = _matplotlib()
    check_size(figsize, dpi, "the figure")
    return Figure(figsize=figsize, dpi=dpi, layout="constrained")


def load(surfaces: Surface | str | Path | Sequence[Surface | str | Path]) -> list[Surface]:
    """Surfaces or paths of surface files, as a list of surfaces."""
    items = [surfaces] if isinstance(surfaces, (Surface, str, Path)) else list(surfaces)
    if not items:
        raise ValueError("no surface to plot")
    return [s if isinstance(s, Surface) else read_surface(s) for s in items]


def default_metric(surface: Surface) -> str:
    """``train_loss`` when present, else the first loss, else the first metric."""
    names = list(surface.metrics)
    for name in ["train_loss", *names]:
        if name in surface.metrics and name.endswith("loss"):
            return name
    return names[0]


def values(surface: Surface, metric: str, zmax: float | None = None) -> np.ma.MaskedArray:
    """The metric as a masked array: masked where not done, not finite, or above ``zmax`` (clipped to it
    in the reference code; masked here so no fake plateau is drawn). ``eig_ratio`` is derived from
    ``min_eig`` and ``max_eig`` as the viewer's mesh derives it."""
    if metric == "eig_ratio" and metric not in surface.metrics:
        from .meshjson import ordered_metrics

        derived = ordered_metrics(surface)
        if metric not in derived:
            raise ValueError(
                "an eigenvalue-ratio plot needs a surface with max_eig and min_eig (lossatlas compute --hessian)"
            )
        z = np.asarray(derived[metric], dtype=np.float64)
    elif metric not in surface.metrics:
        raise ValueError(f"the surface has no metric {metric!r}; it has {', '.join(surface.metrics)}")
    else:
        z = np.asarray(surface.metrics[metric], dtype=np.float64)
    bad = ~surface.done.astype(bool) | ~np.isfinite(z)
    if zmax is not None:
        bad |= z > zmax
    return np.ma.masked_array(z, mask=bad)


def _shown(surfaces: list[Surface], metric: str, zmax: float | None) -> list[np.ma.MaskedArray]:
    """``values`` of each surface; a ``zmax`` that leaves nothing to draw is refused with the data's range."""
    zs = [values(s, metric, zmax) for s in surfaces]
    if zmax is not None and not any(z.count() for z in zs):
        every = np.concatenate([values(s, metric).compressed() for s in surfaces])
        if every.size:
            raise ValueError(
                f"zmax {zmax:g} is below every value: {metric} runs from {every.min():g} to {every.max():g}; "
                "raise it or leave it out"
            )
    return zs


def contour_levels(
    zs: Sequence[np.ma.MaskedArray],
    levels: Levels = 20,
    log: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Explicit levels: the given ones, or ``levels`` values spaced evenly (geometrically with ``log``)
    from ``vmin`` to ``vmax`` (default: the smallest and largest shown value of all surfaces)."""
    for name, value in (("vmin", vmin), ("vmax", vmax)):
        if value is not None and not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value}")
    if not isinstance(levels, int):
        out = np.asarray(sorted(levels), dtype=np.float64)
        if out.size < 2:
            raise ValueError("give at least two contour levels")
        if not np.isfinite(out).all() or np.unique(out).size < out.size:
            raise ValueError(f"levels must be distinct finite numbers, got {', '.join(f'{v:g}' for v in levels)}")
        given = next((name for name, value in (("vmin", vmin), ("vmax", vmax)) if value is not None), None)
        if given:
            raise ValueError(
                f"{given} applies to a number of levels; levels given as a list are drawn as they are: leave out {given}"
            )
        return out
    if levels < 2:
        raise ValueError(f"levels must be at least 2, got {levels}")
    shown = np.concatenate([z.compressed() for z in zs])
    if log:
        shown = shown[shown > 0]
    if shown.size == 0:
        raise ValueError("no computed point to draw" + (" (a log scale needs positive values)" if log else ""))
    lo = float(shown.min()) if vmin is None else vmin
    hi = float(shown.max()) if vmax is None else vmax
    span = f"the values run from {shown.min():g} to {shown.max():g}"
    if vmin is None and vmax is not None and vmax <= lo:
        raise ValueError(f"vmax {vmax:g} is below every value: {span}; raise it or leave it out")
    if vmax is None and vmin is not None and vmin >= hi:
        raise ValueError(f"vmin {vmin:g} is above every value: {span}; lower it or leave it out")
    if log and lo <= 0:
        raise ValueError(f"a log scale needs a positive vmin, got {lo:g}")
    if not hi > lo and (vmin is not None or vmax is not None):  # both given (one alone is checked above)
        raise ValueError(f"vmin {lo:g} is not below vmax {hi:g}: no level lies between them; lower vmin or raise vmax")
    if not hi > lo:
        hi = lo + (abs(lo) or 1.0) * 1e-6  # a flat surface: one band
    return np.geomspace(lo, hi, levels) if log else np.linspace(lo, hi, levels)


def _norm(levels: np.ndarray, log: bool):
    from matplotlib.colors import LogNorm, Normalize

    return LogNorm(levels[0], levels[-1]) if log else Normalize(levels[0], levels[-1])


def _label(surface: Surface, index: int) -> str:
    spec = surface.recipe.get("spec", {})
    return spec.get("model") or f"surface {index + 1}"


def _labels(surfaces: list[Surface], labels: Sequence[str] | None) -> list[str]:
    if labels is None:
        return [_label(s, i) for i, s in enumerate(surfaces)]
    if len(labels) != len(surfaces):
        raise ValueError(
            f"labels must name each surface once: {counted(len(labels), 'label')} for "
            f"{counted(len(surfaces), 'surface')}"
        )
    return list(labels)


# some of matplotlib's colour maps, named where all of them would be too many for a line
COLOUR_MAP_EXAMPLES = ("viridis", "magma", "cividis", "coolwarm")


def colour_maps() -> list[str]:
    """matplotlib's colour maps, their ``_r`` reverses left out, sorted as a reader looks them up."""
    import matplotlib

    return sorted((n for n in matplotlib.colormaps if not n.endswith("_r")), key=str.lower)


class UnknownColourMap(ValueError):
    """``cmap`` is none of matplotlib's colour maps; ``close``: the one nearest to it, if any (the command
    line says where it lists them all)."""

    def __init__(self, cmap: str, close: str | None):
        self.cmap, self.close = cmap, close
        super().__init__(
            f"cmap {cmap!r} is not a colour map{self.guess}; choose one of matplotlib.colormaps, such as "
            f"{', '.join(COLOUR_MAP_EXAMPLES)}, or one reversed with _r (viridis_r)"
        )

    @property
    def guess(self) -> str:
        return f" (did you mean {self.close}?)" if self.close else ""


def _colour_map(cmap: str) -> str:
    """``cmap`` when matplotlib has it; else :class:`UnknownColourMap`."""
    import matplotlib

    if cmap in matplotlib.colormaps:
        return cmap
    close = difflib.get_close_matches(cmap, list(matplotlib.colormaps), n=1, cutoff=0.75)
    raise UnknownColourMap(cmap, close[0] if close else None)


def _which(surfaces: list[Surface], dims: int) -> str:
    """``the surface is 1-D``, ``surface 2 of 3 is 1-D``, ``surfaces 1, 3 of 3 are 1-D`` ('' if none is)."""
    found = [str(i + 1) for i, s in enumerate(surfaces) if (s.ycoordinates is None) == (dims == 1)]
    if not found or len(surfaces) == 1:
        return f"the surface is {dims}-D" if found else ""
    many = len(found) > 1
    return f"surface{'s' if many else ''} {', '.join(found)} of {len(surfaces)} {'are' if many else 'is'} {dims}-D"


def _two_d(surfaces: list[Surface], kind: str, fix: str = "plot 1-D surfaces as curves") -> None:
    flat = _which(surfaces, 1)
    if flat:
        raise ValueError(f"a {kind} plot needs 2-D surfaces; {flat}: {fix}")


def _two_d_values(
    surfaces, kind: str, metric: str | None, cmap: str, zmax: float | None
) -> tuple[list[Surface], str, str, list[np.ma.MaskedArray]]:
    """What a plot of 2-D surfaces draws: the surfaces (refused where matplotlib is missing, then where one
    is 1-D), the metric (:func:`default_metric` unless given), the colour map and each surface's values as
    shown (:func:`_shown`)."""
    _matplotlib()
    surfaces = load(surfaces)
    _two_d(surfaces, kind)
    metric = metric or default_metric(surfaces[0])
    return surfaces, metric, _colour_map(cmap), _shown(surfaces, metric, zmax)


def _distinct_format(ticks: Sequence[float]) -> str:
    """``%.3g``, or as many significant digits as it takes for no two ticks to read alike (a narrow range
    such as 2.29 .. 2.31 read 2.31, 2.31, 2.3, 2.3 ...)."""
    for digits in range(3, 10):
        if len({f"{t:.{digits}g}" for t in ticks}) == len(ticks):
            return f"%.{digits}g"
    return "%.10g"


MAX_STRETCH = 5.0  # a map's x and y share one scale while their ranges differ by at most this factor


def _scale_axes(ax, xlabel: str = "x", ylabel: str | None = "y") -> None:
    """The scales of a map's axes, with their labels (``ylabel`` None: none, a panel beside the first).

    One unit is as long on x as on y (the directions are alike: filter-normalized random ones, or a PCA
    plane, whose lengths are comparable) while the ranges drawn differ by at most :data:`MAX_STRETCH`. Past
    that the map would be a thin strip (a training path whose second component explains 1% of its
    variance): the axes become a square, each over its own range, and the label of the shorter one says
    how much it is stretched. The reference code's plots stretch both axes to the figure, unsaid."""
    width, height = ax.dataLim.width, ax.dataLim.height  # what is drawn: the grid, and a path beyond it
    short, long = sorted((width, height))
    factor = long / short if short > 0 else 1.0
    # a box narrower than its place in the layout stays at the place's left, beside the margin kept for its
    # labels (centred, each layout of the figure moved it, and the y label was cut at the figure's edge)
    ax.set_anchor("W")
    if factor <= MAX_STRETCH:
        ax.set_aspect("equal", adjustable="box")
    else:
        ax.set_aspect(width / height, adjustable="box")  # a square: the shorter range stretched by the factor
        shown = f"{factor:.1f}".removesuffix(".0") if factor < 10 else f"{factor:.0f}"
        note = f" (axis stretched ×{shown})"
        if height < width:
            ylabel = (ylabel or "y") + note
        else:
            xlabel += note
    ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)


def contour(
    surfaces,
    metric: str | None = None,
    *,
    filled: bool = False,
    levels: Levels = 20,
    log: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    zmax: float | None = None,
    cmap: str = "viridis",
    figsize: tuple[float, float] = (6.0, 5.0),
    dpi: float = 100,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    clabel: bool = False,
    lines: bool = False,
) -> Figure:
    """Contour lines (or filled contours) of 2-D surfaces on one set of levels.

    Several surfaces: line contours share one axes, each in its own colour, with a legend; filled
    contours go side by side with one colour bar; ``lines`` draws the level lines over them. x and y
    share one scale unless their ranges differ too much (:func:`_scale_axes`).
    """
    surfaces, metric, cmap, zs = _two_d_values(surfaces, "contour", metric, cmap, zmax)
    lv = contour_levels(zs, levels, log, vmin, vmax)
    norm = _norm(lv, log)
    names = _labels(surfaces, labels)
    fig = _figure(figsize, dpi)
    panels = len(surfaces) if filled else 1
    axes = fig.subplots(1, panels, squeeze=False, sharey=True)[0]
    mappable = None
    for i, (s, z) in enumerate(zip(surfaces, zs)):
        ax = axes[i if filled else 0]
        if filled:
            mappable = ax.contourf(s.xcoordinates, s.ycoordinates, z, levels=lv, norm=norm, cmap=cmap, extend="both")
            if lines:
                ax.contour(s.xcoordinates, s.ycoordinates, z, levels=lv, colors="k", linewidths=0.5)
            ax.set_title(names[i] if len(surfaces) > 1 else (title or f"{names[i]}: {metric}"))
        else:
            colours = None if len(surfaces) == 1 else [f"C{i}"]
            cs = ax.contour(
                s.xcoordinates,
                s.ycoordinates,
                z,
                levels=lv,
                norm=norm,
                cmap=cmap if colours is None else None,
                colors=colours,
            )
            mappable = mappable or cs
            if clabel:
                ax.clabel(cs, inline=True, fontsize=8)
            if len(surfaces) > 1:
                ax.plot([], [], color=f"C{i}", label=names[i])
    for i, ax in enumerate(axes):
        _scale_axes(ax, "x", "y" if i == 0 else None)
    if not filled:
        overlaid = metric + (" (log-spaced levels)" if log else "")  # no colour bar says so
        axes[0].set_title(title or (f"{names[0]}: {metric}" if len(surfaces) == 1 else overlaid))
        if len(surfaces) > 1:
            axes[0].legend(loc="upper right", fontsize="small")
    if filled or len(surfaces) == 1:
        fig.colorbar(
            mappable,
            ax=list(axes),
            label=metric + (" (log scale)" if log else ""),
            ticks=lv[:: max(1, len(lv) // 6)],
            format=_distinct_format(lv[:: max(1, len(lv) // 6)]),
        )
    elif title:
        fig.suptitle(title)
    return fig


def surface3d(
    surfaces,
    metric: str | None = None,
    *,
    log: bool = False,
    zmax: float | None = None,
    cmap: str = "viridis",
    alpha: float | None = None,
    figsize: tuple[float, float] = (7.0, 5.5),
    dpi: float = 100,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    elev: float = 30,
    azim: float = -60,
) -> Figure:
    """The 3-D surface plot (the reference's ``plot_2D.py`` surface); several surfaces share the axes,
    drawn half transparent. ``log`` plots log10 of the metric."""
    surfaces, metric, cmap, zs = _two_d_values(surfaces, "surface", metric, cmap, zmax)
    names = _labels(surfaces, labels)
    fig = _figure(figsize, dpi)
    ax = fig.add_subplot(projection="3d")
    alpha = alpha if alpha is not None else (1.0 if len(surfaces) == 1 else 0.6)
    for i, (s, z) in enumerate(zip(surfaces, zs)):
        if log:
            z = np.ma.log10(np.ma.masked_less_equal(z, 0))
        X, Y = np.meshgrid(s.xcoordinates, s.ycoordinates)
        data = z.filled(np.nan)
        if len(surfaces) == 1:
            ax.plot_surface(X, Y, data, cmap=cmap, linewidth=0, antialiased=True, alpha=alpha)
        else:
            ax.plot_surface(X, Y, data, color=f"C{i}", linewidth=0, antialiased=True, alpha=alpha, label=names[i])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel(("log10 " if log else "") + metric)
    ax.view_init(elev=elev, azim=azim)
    ax.set_title(title or (f"{names[0]}: {metric}" if len(surfaces) == 1 else metric))
    if len(surfaces) > 1:
        ax.legend(loc="upper right", fontsize="small")
    return fig


def accuracy_of(metric: str) -> str:
    """``train_loss`` -> ``train_acc``."""
    return metric.removesuffix("_loss") + "_acc"


def curves(
    surfaces,
    metric: str | None = None,
    *,
    accuracy: bool = True,
    log: bool = False,
    zmax: float | None = None,
    figsize: tuple[float, float] = (6.0, 4.0),
    dpi: float = 100,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """1-D curves of the loss (left axis, solid) and, where the surface has it, the matching accuracy
    (right axis, dashed) against x: the reference's ``plot_1D.py``. Several surfaces overlaid in colours."""
    _matplotlib()  # refused first where matplotlib is missing
    surfaces = load(surfaces)
    two = _which(surfaces, 2)
    if two:
        raise ValueError(f"curves are of 1-D surfaces; {two}: plot 2-D surfaces as contour, contourf or surface")
    metric = metric or default_metric(surfaces[0])
    zs = _shown(surfaces, metric, zmax)
    names = _labels(surfaces, labels)
    fig = _figure(figsize, dpi)
    ax = fig.add_subplot()
    acc_name = accuracy_of(metric)
    twin = ax.twinx() if accuracy and any(acc_name in s.metrics for s in surfaces) and acc_name != metric else None
    for i, (s, z) in enumerate(zip(surfaces, zs)):
        ax.plot(s.xcoordinates, z.filled(np.nan), color=f"C{i}", label=f"{names[i]} {metric}")
        lost = s.done.astype(bool) & ~np.isfinite(values(s, metric).data)  # computed, NaN or infinite
        if lost.any():  # on the x axis: a line has no point there, and at an end the axis stopped short of it
            ax.plot(
                s.xcoordinates[lost],
                np.zeros(lost.sum()),
                "x",
                color=f"C{i}",
                transform=ax.get_xaxis_transform(),
                clip_on=False,
                label=f"{names[i]} {metric} not finite",
            )
        if twin is not None and acc_name in s.metrics:
            acc = values(s, acc_name)
            twin.plot(s.xcoordinates, acc.filled(np.nan), color=f"C{i}", linestyle="--", label=f"{names[i]} {acc_name}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("x")
    ax.set_ylabel(metric)
    if twin is not None:
        twin.set_ylabel(acc_name + " (%)")
    handles = ax.get_legend_handles_labels()
    if twin is not None:
        extra = twin.get_legend_handles_labels()
        handles = (handles[0] + extra[0], handles[1] + extra[1])
    ax.legend(*handles, loc="upper center", fontsize="small")
    ax.set_title(title or (f"{names[0]}: {metric}" if len(surfaces) == 1 else metric))
    return fig


def ratio(surfaces, **options) -> Figure:
    """The map of |min_eig / max_eig| (the paper's non-convexity map): filled contours with their lines."""
    surfaces = load(surfaces)
    _two_d(
        surfaces,
        "ratio",
        "the ratio of a 1-D surface is a curve (--kind curve --metric eig_ratio; curves(..., 'eig_ratio'))",
    )
    return contour(surfaces, "eig_ratio", filled=True, lines=True, **options)


def path_label(surface: Surface, axis: int) -> str:
    """``PC1, 93.5%``: the direction and the share of the path's variance it explains (PCA directions);
    ``x`` / ``y`` when the trajectory does not record it."""
    t = surface.trajectory
    shares = (t.attrs.get("explained_variance_ratio_") if t is not None else None) or []
    return f"PC{axis + 1}, {percent(shares[axis])}" if len(shares) > axis else "xy"[axis]


def trajectory(surfaces, metric: str | None = None, *, filled: bool = False, **options) -> Figure:
    """The optimizer's path (the file's ``trajectory`` group) over the contour map of one 2-D surface: the
    reference's ``plot_2D.plot_trajectory``, with each checkpoint marked and labelled."""
    surfaces = load(surfaces)
    if len(surfaces) != 1 or surfaces[0].trajectory is None:
        raise ValueError(
            "a trajectory plot needs one surface file with a trajectory (lossatlas compute --directions pca)"
        )
    fig = contour(surfaces, metric, filled=filled, **options)
    s, ax = surfaces[0], fig.axes[0]
    t = s.trajectory
    ax.plot(t.x, t.y, color="red", marker="o", markersize=4, linewidth=1.5, label="path")
    _scale_axes(ax, path_label(s, 0), path_label(s, 1))  # of the path too, where it leaves the grid
    _label_points(fig, ax, t.labels, t.x, t.y)
    return fig


# where a point's label goes, tried in turn: above right, below right, above left, below left of it (points)
_LABEL_PLACES = (
    ((4, 4), "left", "bottom"),
    ((4, -4), "left", "top"),
    ((-4, 4), "right", "bottom"),
    ((-4, -4), "right", "top"),
)


def _label_points(fig: Figure, ax, labels: Sequence[str], xs: np.ndarray, ys: np.ndarray) -> None:
    """Each point's label beside it, in order; one that would overlap a label already drawn (checkpoints that
    nearly coincide) goes to another side of its point, or is left out when every side is taken."""
    fig.draw_without_rendering()  # the final layout, so the labels' extents are those of the saved figure
    drawn = []
    for label, x, y in zip(labels, xs, ys):
        for offset, ha, va in _LABEL_PLACES:
            text = ax.annotate(
                label, (x, y), textcoords="offset points", xytext=offset, ha=ha, va=va, fontsize=7, color="red"
            )
            box = text.get_window_extent()
            if not any(box.overlaps(other) for other in drawn):
                drawn.append(box)
                break
            text.remove()


def plot(surfaces, kind: Kind = "auto", **options) -> Figure:
    """One entry point: ``auto`` draws curves of 1-D surfaces and filled contours of 2-D ones."""
    surfaces = load(surfaces)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "auto":
        kind = "curve" if surfaces[0].ycoordinates is None else "contourf"
    if kind == "curve":
        return curves(surfaces, **options)
    if kind == "surface":
        return surface3d(surfaces, **options)
    if kind == "ratio":
        return ratio(surfaces, **options)
    if kind == "trajectory":
        return trajectory(surfaces, **options)
    return contour(surfaces, filled=kind == "contourf", **options)


def output_format(path: str | Path, dpi: float | None = None) -> str:
    """The format of a figure file, by its suffix: png, pdf or svg. ``dpi`` (dots per inch) is a PNG's
    resolution; a PDF or an SVG is drawn in vectors (no part of these figures is a raster image), which it
    would not change: refused there, not ignored."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"the output must end in .png, .pdf or .svg; got {path.name!r}")
    if dpi is not None and fmt != "png":
        raise ValueError(
            f"dpi sets the resolution of a PNG; {path.name} is drawn in vectors, sharp at any size: leave dpi out"
        )
    return fmt


def save(fig: Figure, path: str | Path, dpi: float | None = None) -> Path:
    """Write ``fig`` as PNG, PDF or SVG (chosen by the file's suffix; ``dpi``: a PNG's, default the
    figure's), whole or not at all: a write cut short (Ctrl-C, a full disk) leaves no part of a figure,
    nor of one that was there before."""
    path = Path(path)
    fmt = output_format(path, dpi)
    check_size(fig.get_size_inches(), dpi or fig.dpi, path.name, fmt)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi or fig.dpi)
    return path
