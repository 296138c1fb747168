"""lossatlas engine: directions, grid evaluation, HDF5 surface files, zoo and data.

The public API for scripts and notebooks::

    from workers import SurfaceSpec, compute_surface, read_surface

The server (``server/``) imports what it uses of the engine from here too, never from its modules.
"""

# ruff: noqa: E402 (__version__ comes first: the modules below import it)
__version__ = "0.1.0"

from . import jobqueue
from .checkpoints import did_you_mean, load_model
from .checks import check_data_dir, check_data_fits, resolve_device
from .data import DATASET_LABELS, DATASETS, SAMPLE_SHAPES, SPLIT_SIZES, check_samples, default_root
from .directions import random_directions, target_direction
from .files import atomic_path, sha256_file
from .gallery import Manifest, checkpoint_path, load_manifest, run_checkpoints
from .gallery_index import Index, IndexEntry, Tier
from .h5io import (
    Surface,
    Trajectory,
    default_dir_file,
    is_dir_file,
    read_directions,
    read_surface,
    write_directions,
    write_surface,
)
from .hessian import HVP_FORWARD_EQUIVALENTS
from .interrupts import handled_by, stop_signals
from .jobqueue import JobQueue, PointRow, QueueFull, title_path
from .meshjson import json_value, mesh_data, ordered_metrics
from .progress import counted
from .provenance import StaleSurfaceError
from .resources import resource_dir
from .spec import AxisSpec, HessianSpec, SurfaceSpec, errors_line, one_line
from .surface import Progress, compute_surface, negative_variance_words
from .trajectory import compute_trajectory
from .vocab import NORMS, SPLIT_CHOICES, DirType, Ignore, JobState, Norm, Split
from .zoo import create_model, list_models

__all__ = [
    "HessianSpec",
    "Progress",
    "StaleSurfaceError",
    "Surface",
    "SurfaceSpec",
    "Trajectory",
    "compute_surface",
    "compute_trajectory",
    "random_directions",
    "read_directions",
    "read_surface",
    "target_direction",
    "write_directions",
    "write_surface",
]
# what the server uses besides
__all__ += [
    "AxisSpec",
    "DATASETS",
    "DATASET_LABELS",
    "DirType",
    "HVP_FORWARD_EQUIVALENTS",
    "Ignore",
    "Index",
    "IndexEntry",
    "JobQueue",
    "JobState",
    "Manifest",
    "NORMS",
    "Norm",
    "PointRow",
    "QueueFull",
    "title_path",
    "SAMPLE_SHAPES",
    "SPLIT_CHOICES",
    "SPLIT_SIZES",
    "Split",
    "Tier",
    "add_worker_arguments",
    "atomic_path",
    "check_data_dir",
    "check_data_fits",
    "check_samples",
    "checkpoint_path",
    "counted",
    "create_model",
    "default_dir_file",
    "default_root",
    "did_you_mean",
    "errors_line",
    "handled_by",
    "is_dir_file",
    "jobqueue",
    "json_value",
    "list_models",
    "load_manifest",
    "load_model",
    "mesh_data",
    "negative_variance_words",
    "one_line",
    "ordered_metrics",
    "resolve_device",
    "resource_dir",
    "run_checkpoints",
    "run_worker",
    "sha256_file",
    "stop_signals",
]


def __getattr__(name: str):
    """The worker loop's entry points, imported at first use: ``python -m workers.jobloop`` (the server's
    embedded worker) must not find the module imported already, or runpy warns on every start."""
    if name in ("add_worker_arguments", "run_worker"):
        from . import jobloop

        return getattr(jobloop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
