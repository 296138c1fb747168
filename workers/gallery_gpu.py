"""The gallery's ``gpu`` tier in one run on one GPU machine: measure, size, train, compute, retire, report.

1. measure every entry still to build: seconds per training step (:func:`~workers.fasttrain.measure_step_seconds`)
   and seconds per surface point (a 3x3 probe through :func:`~workers.surface.compute_surface`, so the
   engine's fastest path is what is measured and then used);
2. size one number of epochs for all of them (one recipe) to what the time budget leaves after the
   surfaces, dropping ``optional`` entries (the ResNet-110 pair) first when even the fewest epochs do
   not fit; the epochs (and a chosen fast surface mode) are pinned in the manifest, so that a rebuild
   trains the same;
   when exact surfaces do not fit, the engine's fast mode is measured and used instead (``surfaces``);
3. build each entry (:func:`workers.gallery.build_entry`: train, surface, model accuracy);
4. remove the entries the built ones replace (manifest entry, surface, trained checkpoint);
5. write the index and a report (JSON) of what was measured, planned, spent and reached.
"""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from . import gallery
from .fasttrain import OneCycleRecipe, ResidentData, measure_step_seconds
from .files import atomic_path
from .h5io import default_dir_file, read_surface
from .spec import SurfaceSpec

PROBE_AXIS = "-1:1:3"


@dataclass
class Measurement:
    id: str
    model: str
    step_s: float  # seconds per training step (0: already trained)
    steps_per_epoch: int
    point_s: float  # seconds per surface point (0: surface done)
    points: int  # points still to compute
    setup_s: float  # one-off cost of the entry (model, data, directions, test accuracy), from the probe
    optional: bool = False
    epochs: int | None = None  # already pinned in the manifest: not sized again

    @property
    def epoch_s(self) -> float:
        return self.step_s * self.steps_per_epoch

    @property
    def surface_s(self) -> float:
        return self.point_s * self.points


@dataclass
class Plan:
    epochs: int
    build: list[str]
    dropped: list[str]
    budget_s: float
    estimate_s: float
    over_budget: bool


def plan_epochs(measured: list[Measurement], budget_s: float, min_epochs: int, max_epochs: int) -> Plan:
    """One number of epochs for every entry to train whose epochs are not pinned yet, the most that fits
    ``budget_s`` with all surfaces, setups and pinned trainings (at most ``max_epochs``); optional entries
    are dropped, last first, while fewer than ``min_epochs`` would fit. If even then nothing fits,
    ``min_epochs`` and ``over_budget``."""
    if not 1 <= min_epochs <= max_epochs:
        raise ValueError(f"need 1 <= min_epochs <= max_epochs, got {min_epochs} and {max_epochs}")
    keep = list(measured)
    while True:
        fixed = sum(m.surface_s + m.setup_s + (m.epochs or 0) * m.epoch_s for m in keep)
        per_epoch = sum(m.epoch_s for m in keep if m.epochs is None)
        fits = max_epochs if per_epoch == 0 else int((budget_s - fixed) // per_epoch)
        optional = [m for m in keep if m.optional]
        if fits >= min_epochs or not optional:
            break
        keep.remove(optional[-1])
    epochs = max(min_epochs, min(max_epochs, fits))
    estimate = fixed + epochs * per_epoch
    kept = {m.id for m in keep}
    return Plan(
        epochs,
        [m.id for m in keep],
        [m.id for m in measured if m.id not in kept],
        budget_s,
        estimate,
        estimate > budget_s,
    )


def _probe_seconds_per_point(
    entry: gallery.GalleryEntry, directory: Path, device: str, data_root: str | None, fast: bool
) -> tuple[float, float]:
    """(seconds per point, wall seconds) of a 3x3 surface of the untrained model with the entry's samples,
    exact or in the engine's fast mode, through the engine's public entry point: its fastest path."""
    from .surface import compute_surface

    spec = gallery.surface_spec(entry, directory, data_root)
    probe = SurfaceSpec.model_validate(
        spec.model_dump()
        | {"checkpoint": None, "x": PROBE_AXIS, "fast": fast, "y": PROBE_AXIS if spec.y is not None else None}
    )
    seen: list[tuple[int, float]] = []  # (points computed, seconds) after each point
    t0 = time.perf_counter()
    compute_surface(probe, None, device=device, progress=lambda p: seen.append((p.computed, p.elapsed)))
    wall = time.perf_counter() - t0
    (n0, t_first), (n, t_last) = seen[0], seen[-1]
    # the first point pays for warm-up (cuDNN's choices, allocations): time the others, unless they
    # came all at once (a batched engine path)
    per_point = (t_last - t_first) / (n - n0) if n > n0 and t_last > t_first else t_last / n
    return per_point, wall


def measure(
    entries: list[gallery.GalleryEntry],
    directory: Path,
    device: str,
    data_root: str | None,
    log: Callable[[str], None],
    fast: bool = False,
    trained: list[Measurement] | None = None,
) -> list[Measurement]:
    """Time what each entry still needs: training steps (unless its checkpoint exists, or ``trained`` has
    them from an earlier measurement) and surface points (exact, or ``fast``)."""
    data: dict[str, ResidentData] = {}
    earlier = {m.id: m for m in trained or []}
    out = []
    for e in entries:
        step_s, steps = 0.0, 0
        if e.id in earlier:
            step_s, steps = earlier[e.id].step_s, earlier[e.id].steps_per_epoch
        elif not gallery.checkpoint_path(e, directory).exists():
            if e.dataset not in data:
                data[e.dataset] = ResidentData.load(e.dataset, data_root, device)
            step_s, steps = measure_step_seconds(e.model, e.training, data[e.dataset], device)
        path = directory / f"{e.id}.h5"
        spec = gallery.surface_spec(e, directory, data_root)
        points = spec.num_points - (int(read_surface(path).done.sum()) if path.exists() else 0)
        point_s, wall = _probe_seconds_per_point(e, directory, device, data_root, fast) if points else (0.0, 0.0)
        probe_points = 9 if spec.y is not None else 3
        m = Measurement(
            e.id,
            e.model,
            step_s,
            steps,
            point_s,
            points,
            max(0.0, wall - probe_points * point_s),
            e.optional,
            e.training.epochs,
        )
        log(
            f"[{e.id}] measured: {m.epoch_s:.2f}s per epoch ({steps} steps), {point_s * 1e3:.1f} ms per "
            f"{'fast' if fast else 'exact'} point "
            f"x {points} points, setup {m.setup_s:.1f}s"
        )
        out.append(m)
    return out


def _edit_manifest(directory: Path, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> gallery.Manifest:
    """Apply ``edit`` to the manifest's raw entries, validate, and write it back keeping its layout."""
    path = directory / "manifest.json"
    raw = json.loads(path.read_text())
    raw["entries"] = edit(raw["entries"])
    manifest = gallery.Manifest.model_validate(raw)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(raw, indent=1))
    return manifest


def pin(directory: Path, ids: list[str], epochs: int, fast_surfaces: bool) -> gallery.Manifest:
    """Write the sized epochs (where unset) and a fast surface mode into the manifest entries ``ids``."""

    def edit(entries):
        for e in entries:
            if e["id"] in ids:
                if e["training"].get("epochs") is None:
                    e["training"]["epochs"] = epochs
                if fast_surfaces:
                    e["surface"]["fast"] = True
        return entries

    return _edit_manifest(directory, edit)


def retire(directory: Path, built: list[str], log: Callable[[str], None]) -> tuple[gallery.Manifest, list[str]]:
    """Remove the entries that the complete entries ``built`` replace: their manifest entry, surface and
    direction files and trained checkpoint (external checkpoints are never touched). Pairs left pointing
    at a removed entry are cleared."""
    manifest = gallery.load_manifest(directory)
    by_id = {e.id: e for e in manifest.entries}
    gone = sorted({old for i in built for old in by_id[i].replaces if old in by_id})
    for old in gone:
        entry = by_id[old]
        files = [directory / f"{old}.h5", default_dir_file(directory / f"{old}.h5")]
        if entry.training is not None:
            files.append(gallery.checkpoint_path(entry, directory))
        for f in files:
            f.unlink(missing_ok=True)
        log(f"[{old}] removed: replaced by {', '.join(i for i in built if old in by_id[i].replaces)}")

    def edit(entries):
        kept = [e for e in entries if e["id"] not in gone]
        for e in kept:
            if e.get("pair") in gone:
                e["pair"] = None
            if "replaces" in e:
                e["replaces"] = [r for r in e["replaces"] if r not in gone]
        return kept

    return (_edit_manifest(directory, edit) if gone else manifest), gone


def build_gpu(
    directory: Path = gallery.GALLERY_DIR,
    budget_s: float = 540.0,
    device: str = "cuda",
    data_root: str | None = None,
    only: list[str] | None = None,
    min_epochs: int = 5,
    max_epochs: int = 60,
    surfaces: str = "auto",
    report: Path | None = None,
    log: Callable[[str], None] = print,
    stop_after_s: float | None = None,
) -> dict[str, Any]:
    """Build the ``gpu`` tier within ``budget_s`` seconds of wall time (see the module docstring).

    ``surfaces``: ``exact`` (fp32), ``fast`` (the engine's fast mode) or ``auto``: exact unless its plan
    is over budget or drops entries (then fast), and fast wherever an entry is already pinned fast.
    ``stop_after_s``: a hard stop (seconds from the start), checked between surface points and before each
    entry; what is left (a partial surface, an entry not started) is resumed by the next run. Returns
    the report (also written to ``report`` as JSON)."""
    t_start = time.perf_counter()

    def should_stop() -> bool:
        return stop_after_s is not None and time.perf_counter() - t_start > stop_after_s

    manifest = gallery.load_manifest(directory)
    entries = [e for e in manifest.entries if e.tier == "gpu" and (only is None or e.id in only)]
    unknown = sorted(set(only or []) - {e.id for e in entries})
    if unknown:
        raise ValueError(f"not gpu-tier entries of the manifest: {', '.join(unknown)}")
    if not entries:
        raise ValueError("the manifest has no gpu-tier entries to build")
    for e in entries:
        if not isinstance(e.training, OneCycleRecipe):
            raise ValueError(
                f"[{e.id}] gpu-tier entries are trained with the one-cycle recipe (training.kind 'onecycle')"
            )
    if surfaces not in ("exact", "fast", "auto"):
        raise ValueError(f"surfaces must be exact, fast or auto; got {surfaces!r}")
    pinned_fast = any(e.surface.fast for e in entries)
    if surfaces == "exact" and pinned_fast:
        raise ValueError("some entries are pinned to fast surfaces in the manifest; use --surfaces fast or auto")
    fast = surfaces == "fast" or pinned_fast
    measured = measure(entries, directory, device, data_root, log, fast)
    plan = plan_epochs(measured, budget_s - (time.perf_counter() - t_start), min_epochs, max_epochs)
    plans = {"fast" if fast else "exact": asdict(plan)}
    if surfaces == "auto" and not fast and (plan.over_budget or plan.dropped):
        log(
            f"exact surfaces do not fit ({plan.estimate_s:.0f}s, dropping {', '.join(plan.dropped) or 'none'}): "
            "measuring the fast mode"
        )
        measured = measure(entries, directory, device, data_root, log, fast=True, trained=measured)
        fast_plan = plan_epochs(measured, budget_s - (time.perf_counter() - t_start), min_epochs, max_epochs)
        plans["fast"] = asdict(fast_plan)
        fast, plan = True, fast_plan
    spent = time.perf_counter() - t_start
    log(
        f"plan: {plan.epochs} epochs for {', '.join(plan.build)}; dropped {', '.join(plan.dropped) or 'none'}; "
        f"estimate {plan.estimate_s:.0f}s of {plan.budget_s:.0f}s left"
    )
    if plan.over_budget:
        surfaces = sum(m.surface_s for m in measured if m.id in plan.build)
        need = sum(m.surface_s for m in measured if m.id in plan.build)
        log(
            f"OVER BUDGET: the {'fast' if fast else 'exact'} surfaces alone need {need:.0f}s; give a larger --budget, "
            "or let --stop-after end this run and run again (it resumes)"
        )
    manifest = pin(directory, plan.build, plan.epochs, fast)
    by_id = {e.id: e for e in manifest.entries}

    results, stopped = [], []
    for i in plan.build:
        entry = by_id[i]
        if should_stop():
            stopped.append(i)
            continue
        t0 = time.perf_counter()
        gallery.build_entry(entry, directory, device=device, data_root=data_root, log=log, should_stop=should_stop)
        surface = read_surface(directory / f"{i}.h5")
        training = surface.attrs.get("training", {})
        ckpt = gallery.checkpoint_path(entry, directory)
        results.append(
            {
                "id": i,
                "model": entry.model,
                "epochs": entry.training.epochs,
                "line": entry.training.line(),
                "train_s": training.get("seconds"),
                "train_precision": training.get("precision"),
                "surface_s": surface.attrs.get("elapsed_s"),
                "wall_s": time.perf_counter() - t0,
                "test_acc": surface.attrs.get("model_test_acc"),
                "complete": surface.is_complete,
                "landscape_stats": surface.attrs.get("landscape_stats"),
                "compute": surface.recipe.get("compute"),
                "checkpoint_bytes": ckpt.stat().st_size if ckpt.exists() else None,
                "checkpoint_committed": gallery.checkpoint_kept(entry),
            }
        )
        log(
            f"[{i}] {results[-1]['test_acc']:.2f}% test accuracy; wall {results[-1]['wall_s']:.0f}s"
            + (
                ""
                if surface.is_complete
                else f"; surface partial ({int(surface.done.sum())}/{surface.done.size} points)"
            )
        )
    if stopped:
        log(f"stopped after {stop_after_s:.0f}s before {', '.join(stopped)}: run again to continue")
    manifest, retired = retire(directory, [r["id"] for r in results if r["complete"]], log)
    index = gallery.build_index(manifest, directory)
    gallery.write_index(index, directory)
    out = {
        "budget_s": budget_s,
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else device,
        "torch": str(torch.__version__),
        "min_epochs": min_epochs,
        "max_epochs": max_epochs,
        "surfaces": "fast" if fast else "exact",
        "plans": plans,
        "measure_s": spent,
        "measured": [asdict(m) | {"epoch_s": m.epoch_s, "surface_s": m.surface_s} for m in measured],
        "plan": asdict(plan),
        "entries": results,
        "not_started": stopped,
        "retired": retired,
        "index_entries": len(index.entries),
        "total_s": time.perf_counter() - t_start,
    }
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(report) as tmp:
            tmp.write_text(json.dumps(out, indent=1) + "\n")
    log(
        f"gpu tier: {len(results)} entries in {out['total_s']:.0f}s (budget {budget_s:.0f}s); "
        f"retired {', '.join(retired) or 'none'}"
    )
    return out


def _tar_bytes(sizes: list[int]) -> int:
    """The size of an uncompressed tar of files of these sizes, as Python's tarfile writes it: a 512-byte
    header and the data padded to 512 bytes each, two zero blocks at the end, all padded to 10,240 bytes."""
    blocks = sum(1 + -(-n // 512) for n in sizes) + 2
    return -(-blocks * 512 // tarfile.RECORDSIZE) * tarfile.RECORDSIZE


def _whole_second(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """A member without a pax header: tarfile writes one for a fractional mtime (two blocks a file)."""
    info.mtime = int(info.mtime)
    return info


def export(directory: Path, report: dict[str, Any], dest: Path, part_bytes: int = 15 * 2**20) -> list[Path]:
    """Pack what the build made and the repository keeps (manifest, index, the built surfaces, checkpoints
    small enough to commit) into ``dest/gallery-gpu-<k>.tar`` archives of at most ``part_bytes`` each
    (members named as in the gallery: ``tar -xf ... -C precomputed``), and write the report beside them
    as ``build_gpu.json``. Returns the files written."""
    dest.mkdir(parents=True, exist_ok=True)
    names = ["manifest.json", "index.json"] + [f"{r['id']}.h5" for r in report["entries"]]
    names += [
        f"checkpoints/{r['id']}.pt" for r in report["entries"] if r["checkpoint_committed"] and r["checkpoint_bytes"]
    ]
    parts: list[list[str]] = [[]]
    sizes: list[int] = []
    for name in names:
        n = (directory / name).stat().st_size
        if parts[-1] and _tar_bytes([*sizes, n]) > part_bytes:
            parts.append([])
            sizes = []
        parts[-1].append(name)
        sizes.append(n)
    written = []
    for k, members in enumerate(parts, 1):
        path = dest / f"gallery-gpu-{k}.tar"
        with tarfile.open(path, "w") as tar:
            for name in members:
                tar.add(directory / name, arcname=name, filter=_whole_second)
        written.append(path)
    (dest / "build_gpu.json").write_text(json.dumps(report, indent=1) + "\n")
    return [*written, dest / "build_gpu.json"]


__all__ = ["Measurement", "Plan", "build_gpu", "export", "measure", "pin", "plan_epochs", "retire"]
