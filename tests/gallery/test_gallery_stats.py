"""The landscape statistic on surfaces whose answer is known analytically."""
import numpy as np
import pytest

from workers.stats import nonconvex_mask, nonconvex_share

X = np.linspace(-1, 1, 41)
XX, YY = np.meshgrid(X, X)


@pytest.mark.parametrize("z,expected", [
    (XX**2 + YY**2, 0.0),  # convex bowl
    (XX**2 - YY**2, 1.0),  # saddle everywhere
    (-(XX**2) - YY**2, 1.0),  # a maximum is not convex either
    (XX**2 - 0.05 * YY**2, 0.0),  # eigenvalues 2 and -0.1: |-0.1| <= 10% of 2
    (XX**2 - 0.2 * YY**2, 1.0),  # eigenvalues 2 and -0.4: beyond 10%
    (XX * YY + XX**2 + YY**2, 0.0),  # rotated bowl: eigenvalues 3 and 1
    (3 * XX * YY + XX**2 + YY**2, 1.0),  # rotated saddle: eigenvalues 5 and -1
])
def test_quadratics(z, expected):
    result = nonconvex_share(z, X, X)
    assert result["nonconvex_share"] == pytest.approx(expected)
    # the disc of radius 0.5 on this grid, interior points only
    assert result["points"] == int(((XX[1:-1, 1:-1] ** 2 + YY[1:-1, 1:-1] ** 2) <= 0.25).sum())


def test_half_saddle_counts_only_inside_the_disc():
    z = np.where(XX > 0, XX**2 - YY**2, XX**2 + YY**2)
    share = nonconvex_share(z, X, X)["nonconvex_share"]
    inside = (XX[1:-1, 1:-1] ** 2 + YY[1:-1, 1:-1] ** 2) <= 0.25
    right = XX[1:-1, 1:-1] > 0.05  # stencils that see only the saddle half
    assert share >= (inside & right).sum() / inside.sum()
    assert share < 0.6


def test_non_finite_points_are_skipped_not_counted():
    z = XX**2 + YY**2
    z[20, 20] = np.nan
    result = nonconvex_share(z, X, X)
    assert result["skipped"] == 9  # every stencil touching the centre
    assert result["nonconvex_share"] == 0.0


def test_one_dimensional_uses_the_second_derivative():
    assert nonconvex_share(X**2, X)["nonconvex_share"] == 0.0
    assert nonconvex_share(np.cos(3 * X), X)["nonconvex_share"] == 1.0  # concave near 0


def test_mask_matches_numpy_eigenvalues():
    rng = np.random.default_rng(0)
    fxx, fyy, fxy = rng.normal(size=(3, 500))
    mask = nonconvex_mask(fxx, fyy, fxy)
    for i in range(500):
        lmin, lmax = np.linalg.eigvalsh([[fxx[i], fxy[i]], [fxy[i], fyy[i]]])
        assert mask[i] == (lmin < 0 and (lmax <= 0 or abs(lmin) > 0.1 * lmax))
