"""Axes and the coarse-to-fine order of grid points."""

from __future__ import annotations

import numpy as np
import pytest

from workers.grid import Axis, coarse_to_fine, level_indices


@pytest.mark.parametrize(
    "text, lo, hi, num",
    [
        ("-1:1:51", -1.0, 1.0, 51),
        ("0:1:3", 0.0, 1.0, 3),
        ("-0.5:0:2", -0.5, 0.0, 2),
        ("1e-3:2e-3:2", 1e-3, 2e-3, 2),
        ("0.25:0.25:1", 0.25, 0.25, 1),
    ],
)
def test_axis_parses_min_max_num(text, lo, hi, num):
    axis = Axis.parse(text)
    assert (axis.min, axis.max, axis.num) == (lo, hi, num)
    np.testing.assert_allclose(axis.coordinates(), np.linspace(lo, hi, num))
    assert Axis.parse(str(axis)) == axis


@pytest.mark.parametrize(
    "text, message",
    [
        ("-1:1", "is not min:max:num"),
        ("-1:1:5:7", "is not min:max:num"),
        ("a:1:5", "with numbers"),
        ("-1:1:2.5", "with numbers"),
        ("1:-1:5", "min must be below max"),
        ("1:1:5", "min must be below max"),
        ("-1:1:0", r"^axis -1:1:0 has no points: its num \(the last number\) must be 1 or more, e\.g\. -1:1:51$"),
        ("nan:1:5", "must be finite"),
        ("-inf:1:5", "must be finite"),
    ],
)
def test_axis_errors_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        Axis.parse(text)


@pytest.mark.parametrize("nx, ny", [(1, 1), (2, 1), (7, 1), (51, 1), (3, 3), (5, 4), (4, 9), (17, 17), (33, 2), (1, 6)])
def test_coarse_to_fine_covers_every_point_once(nx, ny):
    levels = coarse_to_fine(nx, ny)
    order = np.concatenate(levels)
    assert sorted(order.tolist()) == list(range(nx * ny))
    assert all(len(level) for level in levels)


@pytest.mark.parametrize("nx, ny", [(5, 4), (17, 17), (9, 1), (2, 2)])
def test_first_level_is_the_corners_and_each_level_completes_a_subgrid(nx, ny):
    levels = coarse_to_fine(nx, ny)
    corners = {iy * nx + ix for iy in {0, ny - 1} for ix in {0, nx - 1}}
    assert set(levels[0].tolist()) == corners
    seen: set[int] = set()
    for k, level in enumerate(levels):
        seen |= set(level.tolist())
        xs = np.unique(np.round(np.linspace(0, nx - 1, min(nx, 2**k + 1))).astype(int))
        ys = np.unique(np.round(np.linspace(0, ny - 1, min(ny, 2**k + 1))).astype(int))
        assert seen == {iy * nx + ix for iy in ys for ix in xs}  # after level k: exactly the k-th subgrid


def test_a_centred_odd_grid_reaches_its_centre_at_the_second_level():
    levels = coarse_to_fine(51, 51)
    assert 25 * 51 + 25 in levels[1]
    assert level_indices(51, 1).tolist() == [0, 25, 50]
