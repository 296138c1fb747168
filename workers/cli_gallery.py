"""``lossatlas gallery build`` and ``lossatlas gallery list``: the precomputed gallery of
``precomputed/manifest.json``, built (trained, computed, indexed) and listed with each entry's state."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .progress import counted


def add_gallery(sub: argparse._SubParsersAction) -> None:
    from .cli import add_threads_argument
    from .gallery_index import TIERS

    p = sub.add_parser("gallery", help="build the precomputed gallery from precomputed/manifest.json")
    gsub = p.add_subparsers(dest="gallery_command", required=True, metavar="ACTION")
    b = gsub.add_parser("build", help="train what is missing, compute what is missing, write precomputed/index.json")
    b.add_argument(
        "--tier",
        choices=(*TIERS, "all"),
        help="the entries to build: cpu (default; sized for a 2-core machine), full (GPU scale), gpu (epochs "
        "sized by precomputed/build_gpu.py) or all",
    )
    b.add_argument(
        "--only",
        action="append",
        metavar="ID",
        help="build only this entry (repeatable; the ids are in lossatlas gallery list), in its own tier; "
        "with --tier, an id of another tier is refused",
    )
    b.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    b.add_argument("--data-root", help="where the dataset is (default: the dataset's default location)")
    b.add_argument("--work-dir", help="where training runs keep their resumable state (default precomputed/.runs)")
    add_threads_argument(b)
    b.set_defaults(func=run_gallery_build)
    ls = gsub.add_parser("list", help="list the manifest's entries and their state")
    ls.set_defaults(func=run_gallery_list)


def run_gallery_build(args: argparse.Namespace) -> int:
    from .checks import resolve_device
    from .cli import STOP, set_threads
    from .gallery import GALLERY_DIR, build

    resolve_device(args.device)
    set_threads(args)

    def log(message: str) -> None:
        STOP.check()
        print(message, file=sys.stderr, flush=True)

    def stop_requested() -> bool:  # between a surface's points: a Ctrl-C Python dropped is raised there
        STOP.check()
        return False

    index = build(
        args.tier,
        args.only,
        work_dir=Path(args.work_dir) if args.work_dir else None,
        device=args.device,
        data_root=args.data_root,
        log=log,
        should_stop=stop_requested,
    )
    print(
        f"lossatlas: index of {counted(len(index.entries), 'surface')} written to {GALLERY_DIR / 'index.json'}",
        file=sys.stderr,
    )
    return 0


def run_gallery_list(args: argparse.Namespace) -> int:
    from .gallery import entry_surface, load_manifest

    for e in load_manifest().entries:
        try:
            s = entry_surface(e)
        except ValueError as error:  # one unreadable file does not hide the others' state
            state = f"unreadable: {error}"
        else:
            state = (
                "missing"
                if s is None
                else "complete"
                if s.is_complete
                else f"partial {int(s.done.sum())}/{s.done.size}"
            )
        print(f"{e.id:28s} {e.tier:5s} {state}")
    return 0
