"""``lossatlas plot`` and ``lossatlas export``: surface files to figures (PNG/PDF/SVG) and to other formats
(ParaView VTP, CSV, the viewer's mesh JSON)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

PNG_DPI = 150  # plot's --dpi by default


def _size(text: str) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        w = h = 0.0
    if not (0 < w < float("inf") and 0 < h < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTH,HEIGHT: two positive sizes in inches (e.g. 6,5)")
    return w, h


def _levels(text: str) -> int | list[float]:
    try:
        return int(text) if "," not in text else [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of levels (20) or a list of them (0.5,1,2,4)"
        ) from None


def _finite(text: str) -> float:
    """An argparse type: a finite number (``float`` takes nan and inf, which no level or limit can be)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _colour_maps() -> str:
    """``plot --help``'s last paragraph: every colour map of matplotlib."""
    try:
        from .figures import colour_maps

        names = colour_maps()
    except ImportError:
        return "Colour maps (--cmap) are matplotlib's: pip install 'lossatlas[plot]'."
    return f"Colour maps (--cmap), each also reversed with _r (viridis_r): {', '.join(names)}."


def add_plot(sub: argparse._SubParsersAction) -> None:
    from .figures import KINDS

    p = sub.add_parser(
        "plot",
        help="draw surface files as a figure (PNG, PDF or SVG)",
        description="Contour maps, filled contours or the 3-D surface of 2-D surfaces; loss and "
        "accuracy curves of 1-D ones; the Hessian's |min_eig/max_eig| map (ratio); the training path over "
        "the contours (trajectory). Several files are overlaid on one scale.",
        epilog_of=_colour_maps,
    )
    p.add_argument("files", nargs="+", help="surface files (.h5)")
    p.add_argument("--kind", default="auto", choices=KINDS, help="auto: curve for 1-D, contourf for 2-D")
    p.add_argument(
        "--metric", help="the metric drawn: train_loss (default), test_loss, train_acc, ... (ratio: its own)"
    )
    p.add_argument("--out", required=True, help="figure file; the format follows the suffix: .png, .pdf or .svg")
    p.add_argument("--log", action="store_true", help="log scale of the metric")
    p.add_argument(
        "--levels", type=_levels, help="contour maps: number of levels (default 20) or a comma-separated list of them"
    )
    p.add_argument("--vmin", type=_finite, help="contour maps: lowest level (default: the smallest value)")
    p.add_argument("--vmax", type=_finite, help="contour maps: highest level (default: the largest value)")
    p.add_argument("--zmax", type=_finite, help="leave out values above this (a diverged rim)")
    p.add_argument(
        "--cmap", help="contour maps and surface: a colour map of matplotlib (default viridis; listed below)"
    )
    p.add_argument("--size", type=_size, help="figure size in inches, WIDTH,HEIGHT")
    p.add_argument(
        "--dpi",
        type=_finite,
        help=f"dots per inch of a PNG (default {PNG_DPI}); a PDF or SVG is drawn in vectors, sharp at any size",
    )
    p.add_argument("--labels", help="comma-separated names of the files in legends (default: the model names)")
    p.add_argument("--title", help="title above the figure")
    p.add_argument("--no-accuracy", action="store_true", help="curves: leave out the accuracy axis")
    p.set_defaults(func=run_plot)


_PLOT_OPTIONS = {"metric", "levels", "vmin", "vmax", "zmax", "cmap", "size", "dpi", "labels", "title"}
_PLOT_NAMES = ("vmin", "vmax", "zmax", "cmap", "dpi")  # no word of a refusal's text: named wherever they stand
_CONTOURS = ("contour", "contourf", "ratio", "trajectory")
# option -> the kinds of plot it applies to (the others apply to all)
_KIND_OPTIONS = {
    "metric": ("contour", "contourf", "surface", "curve", "trajectory"),
    "levels": _CONTOURS,
    "vmin": _CONTOURS,
    "vmax": _CONTOURS,
    "cmap": (*_CONTOURS, "surface"),
    "no_accuracy": ("curve",),
}


def run_plot(args: argparse.Namespace) -> int:
    from .checks import check_out_path
    from .cli import named_by_options
    from .figures import COLOUR_MAP_EXAMPLES, VECTOR_DPI, UnknownColourMap, check_size, output_format, plot, save
    from .progress import counted

    check_out_path(args.out, example="figure.png")
    try:  # before any file is read
        fmt = output_format(args.out, args.dpi)
        dpi = (PNG_DPI if args.dpi is None else args.dpi) if fmt == "png" else VECTOR_DPI
        if args.size:
            check_size(args.size, dpi, "the figure", fmt)
    except ValueError as e:
        raise ValueError(named_by_options(str(e), _PLOT_OPTIONS, lambda name: f"--{name}", _PLOT_NAMES)) from None
    surfaces = [_read(f) for f in args.files]
    kind = args.kind
    if kind == "auto":
        flat = [f for f, s in zip(args.files, surfaces) if s.ycoordinates is None]
        if flat and len(flat) < len(surfaces):  # auto would pick one file's kind and refuse the others
            two_d = next(f for f in args.files if f not in flat)
            raise ValueError(
                f"{flat[0]} is a 1-D surface and {two_d} a 2-D one: one figure overlays surfaces of one kind; "
                "plot them apart"
            )
        kind = "curve" if flat else "contourf"
    for name, kinds in _KIND_OPTIONS.items():  # an option the plot would not use is refused, not ignored
        if kind not in kinds and getattr(args, name) not in (None, False):
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} does not apply to a {kind} plot; it is an option of --kind {', '.join(kinds)}")
    if kind == "contour" and len(surfaces) > 1 and args.cmap is not None:  # each overlaid one is drawn in a colour
        raise ValueError(
            "--cmap colours the contours of one surface; overlaid surfaces each get a colour of their own: leave "
            "--cmap out, or draw them side by side on one colour scale with --kind contourf"
        )
    given = {
        name: getattr(args, name) for name in ("levels", "vmin", "vmax", "cmap") if getattr(args, name) is not None
    }
    options: dict = dict(
        metric=args.metric,
        log=args.log,
        zmax=args.zmax,
        dpi=dpi,
        title=args.title,
        labels=args.labels.split(",") if args.labels else None,
    )
    if args.size:
        options["figsize"] = args.size
    if kind == "ratio":
        del options["metric"]
    options.update(given)  # those of the kind, as checked above
    if kind == "curve":
        options.update(accuracy=not args.no_accuracy)
    try:
        out = save(plot(surfaces, kind, **options), args.out)
    except UnknownColourMap as e:  # the whole list is in the help: it is too long for the line
        raise ValueError(
            f"--cmap {e.cmap!r} is not a colour map{e.guess}; lossatlas plot --help lists matplotlib's (such as "
            f"{', '.join(COLOUR_MAP_EXAMPLES)}), each also reversed with _r"
        ) from None
    except ValueError as e:  # the figure's arguments named as plot's options
        raise ValueError(named_by_options(str(e), _PLOT_OPTIONS, lambda name: f"--{name}", _PLOT_NAMES)) from None
    print(f"lossatlas: {kind} plot of {counted(len(surfaces), 'surface')} -> {out}", file=sys.stderr)
    return 0


def _read(path: str):
    """The surface file ``path`` of plot or export, read; refused in one line naming the fix when it cannot be."""
    from .files import existing_file
    from .h5io import DamagedFile, read_surface

    try:
        return read_surface(existing_file(path, f"surface file {path}"))
    except DamagedFile as e:
        raise ValueError(f"{e}; copy the whole file again, or compute it anew") from None


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write a surface file as VTP (ParaView), CSV or the viewer's mesh JSON",
        description="Each format takes an optional output path; without one the file goes beside "
        "the surface (surf_train_loss[_zmax=Z][_log][_interp=N].vtp, surf.csv, surf.mesh.json).",
    )
    # not required of argparse: `export --csv surf.h5` gives the file to --csv (see run_export)
    p.add_argument("file", nargs="?", help="surface file (.h5)")
    p.add_argument("--vtp", nargs="?", const="", metavar="OUT", help="VTK PolyData for ParaView (2-D surfaces)")
    p.add_argument("--csv", nargs="?", const="", metavar="OUT", help="one row per grid point: x, y, done, metrics")
    p.add_argument("--json", nargs="?", const="", metavar="OUT", help="the viewer's mesh JSON")
    p.add_argument("--metric", help="VTP: the metric drawn as height (default train_loss)")
    p.add_argument("--log", action="store_true", help="VTP: heights ln(z + 0.1), as h52vtp.py's --log")
    p.add_argument("--zmax", type=_finite, help="VTP: clip heights above this value, as h52vtp.py's --zmax")
    p.add_argument(
        "--interp",
        type=int,
        metavar="N",
        help="VTP: resample onto N x N points by a cubic, as h52vtp.py's --interp (holes stay holes)",
    )
    p.set_defaults(func=run_export)


_VTP_OPTIONS = ("metric", "log", "zmax", "interp")


def run_export(args: argparse.Namespace) -> int:
    from .checks import check_out_path
    from .cli import named_by_options
    from .export import write_csv, write_mesh_json, write_vtp
    from .files import existing_file

    if args.file is None:  # argparse said only "the following arguments are required: file"
        given = ((f"--{name}", getattr(args, name)) for name in ("vtp", "csv", "json"))
        taken = next(((flag, value) for flag, value in given if value and Path(value).is_file()), None)
        if taken:
            flag, value = taken
            raise ValueError(
                f"{value} was taken as the {flag} output: give the surface file first (lossatlas export {value} {flag})"
            )
        raise ValueError("give the surface file (.h5) to export")
    if args.vtp is None and args.csv is None and args.json is None:
        raise ValueError("choose at least one format: --vtp, --csv or --json")
    if args.vtp is None:
        given = [name for name in _VTP_OPTIONS if getattr(args, name) not in (None, False)]
        if given:
            raise ValueError(f"--{given[0]} is an option of the VTP export: add --vtp")
    source = existing_file(args.file, f"surface file {args.file}")
    base = source.with_suffix("")
    metric = args.metric or "train_loss"
    vtp_name = (
        f"{base}_{metric}"
        + (f"_zmax={args.zmax:g}" if args.zmax is not None else "")
        + ("_log" if args.log else "")
        + (f"_interp={args.interp}" if args.interp is not None else "")
        + ".vtp"
    )
    outputs = {  # option -> path; every path checked before any file is written
        option: Path(given or default)
        for option, given, default in (
            ("--vtp", args.vtp, vtp_name),
            ("--csv", args.csv, f"{base}.csv"),
            ("--json", args.json, f"{base}.mesh.json"),
        )
        if given is not None
    }
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        check_out_path(path, option, f"surface.{option[2:]}")
        if path.resolve() == source.resolve():
            raise ValueError(f"{option} {path} is the surface file itself; choose another output path")
        if path.resolve() in seen:
            raise ValueError(f"{seen[path.resolve()]} and {option} both write {path}; give them different paths")
        seen[path.resolve()] = option
    surface = _read(args.file)
    written = []
    if "--vtp" in outputs:  # first: a 1-D surface, an absent metric or a bad N is refused before any file
        try:
            written.append(write_vtp(surface, outputs["--vtp"], metric, args.log, args.zmax, args.interp))
        except ValueError as e:  # write_vtp's arguments named as export's options
            raise ValueError(named_by_options(str(e), set(_VTP_OPTIONS), lambda name: f"--{name}")) from None
    if "--csv" in outputs:
        written.append(write_csv(surface, outputs["--csv"]))
    if "--json" in outputs:
        written.append(write_mesh_json(surface, outputs["--json"]))
    for path in written:
        print(f"lossatlas: wrote {path}", file=sys.stderr)
    return 0
