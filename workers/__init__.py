"""lossatlas engine: directions, grid evaluation, HDF5 surface files, zoo and data.

The public API for scripts and notebooks::

    from workers import SurfaceSpec, compute_surface, read_surface
"""
__version__ = "0.1.0"

from .directions import random_directions, target_direction  # noqa: E402
from .h5io import Surface, Trajectory, read_directions, read_surface, write_directions, write_surface  # noqa: E402
from .provenance import StaleSurfaceError  # noqa: E402
from .spec import HessianSpec, SurfaceSpec  # noqa: E402
from .surface import Progress, compute_surface  # noqa: E402
from .trajectory import compute_trajectory  # noqa: E402

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
