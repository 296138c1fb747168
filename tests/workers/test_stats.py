"""Landscape statistics on surfaces whose curvature is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from workers.stats import grid_hessian, nonconvex_mask, nonconvex_share


def grid(n: int = 21):
    x = np.linspace(-1, 1, n)
    xx, yy = np.meshgrid(x, x)  # [iy, ix]
    return x, xx, yy


def test_finite_difference_hessian_of_a_quadratic_is_exact():
    x, xx, yy = grid()
    z = 3 * xx**2 + 0.5 * yy**2 + 2 * xx * yy
    fxx, fyy, fxy = grid_hessian(z, x, x)
    np.testing.assert_allclose(fxx, 6.0)
    np.testing.assert_allclose(fyy, 1.0)
    np.testing.assert_allclose(fxy, 2.0, atol=1e-9)


@pytest.mark.parametrize(
    "surface, share",
    [
        (lambda xx, yy: xx**2 + yy**2, 0.0),  # bowl
        (lambda xx, yy: xx**2 - yy**2, 1.0),  # saddle
        (lambda xx, yy: xx**2 - 0.05 * yy**2, 0.0),  # a negative eigenvalue under 10% of the largest
        (lambda xx, yy: -(xx**2) - yy**2, 1.0),  # a maximum
        (lambda xx, yy: xx**2 - 0.2 * yy**2, 1.0),  # eigenvalues 2 and -0.4: beyond 10%
        (lambda xx, yy: xx * yy + xx**2 + yy**2, 0.0),  # rotated bowl: eigenvalues 3 and 1
        (lambda xx, yy: 3 * xx * yy + xx**2 + yy**2, 1.0),  # rotated saddle: eigenvalues 5 and -1
    ],
)
def test_nonconvex_share(surface, share):
    x, xx, yy = grid()
    out = nonconvex_share(surface(xx, yy), x, x)
    inside = (xx[1:-1, 1:-1] ** 2 + yy[1:-1, 1:-1] ** 2 <= 0.25).sum()
    assert out == {"nonconvex_share": share, "points": int(inside), "skipped": 0}


def test_non_finite_values_are_skipped_and_1d_uses_the_second_derivative():
    x, xx, yy = grid()
    z = xx**2 + yy**2
    z[10, 10] = np.nan
    out = nonconvex_share(z, x, x)
    assert out["skipped"] == 9 and out["nonconvex_share"] == 0.0  # the 3x3 stencils touching the NaN
    assert nonconvex_share(np.cos(3 * x), x)["nonconvex_share"] == 1.0
    assert nonconvex_share(x**2, x)["nonconvex_share"] == 0.0
    assert nonconvex_share(np.zeros((2, 2)), x[:2], x[:2])["nonconvex_share"] is None


def test_mask_matches_numpy_eigenvalues():
    rng = np.random.default_rng(0)
    fxx, fyy, fxy = rng.normal(size=(3, 500))
    mask = nonconvex_mask(fxx, fyy, fxy)
    for i in range(500):
        lmin, lmax = np.linalg.eigvalsh([[fxx[i], fxy[i]], [fxy[i], fyy[i]]])
        assert mask[i] == (lmin < 0 and (lmax <= 0 or abs(lmin) > 0.1 * lmax))
