"""PCA directions and projections against numpy's SVD and hand computations; the reference's files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from independent import write_reference_directions

from workers import pca
from workers.h5io import read_directions
from workers.pca import (
    flatten_difference,
    pca_directions,
    principal_components,
    project,
    read_pca_stats,
    read_projection,
    write_pca_directions,
    write_projection,
)


def numpy_pca(matrix: np.ndarray, k: int = 2):
    """scikit-learn's PCA by its definition: centre, SVD, sign of each component's largest entry positive."""
    centred = matrix - matrix.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:k] * np.sign(vt[np.arange(k), np.abs(vt[:k]).argmax(axis=1)])[:, None]
    var = s**2 / (len(matrix) - 1)
    return components, var[:k], var[:k] / var.sum(), s[:k]


@pytest.mark.parametrize("block", [1 << 24, 9 * 7])  # one block, and column blocks of 7 (9 rows)
def test_principal_components_match_numpy_svd(monkeypatch, block):
    monkeypatch.setattr(pca, "_BLOCK_VALUES", block)
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(9, 60)) * np.linspace(3, 0.1, 60)  # a clear spectrum
    got = principal_components(torch.from_numpy(matrix), 2)
    components, var, ratio, s = numpy_pca(matrix)
    np.testing.assert_allclose(got.components.numpy(), components, atol=1e-10)
    np.testing.assert_allclose(got.explained_variance, var, rtol=1e-10)
    np.testing.assert_allclose(got.explained_variance_ratio, ratio, rtol=1e-10)
    np.testing.assert_allclose(got.singular_values, s, rtol=1e-10)


def test_a_path_in_a_known_plane_is_recovered_exactly():
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.normal(size=(300, 2)))  # orthonormal u, v
    coeffs = rng.normal(size=(8, 2)) * [4.0, 1.0]
    coeffs[-1] = 0  # the final model: w_final - w_final
    rows = coeffs @ basis.T
    got = principal_components(torch.from_numpy(rows), 2)
    assert got.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-12)
    pcs = got.components.numpy()
    np.testing.assert_allclose(np.linalg.norm(pcs @ basis, axis=1), 1.0, atol=1e-12)  # inside span(u, v)
    np.testing.assert_allclose(pcs @ pcs.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose((rows @ pcs.T) @ pcs, rows, atol=1e-12)  # cos coordinates rebuild every row


def test_points_on_a_line_or_too_few_give_no_plane():
    line = torch.outer(torch.arange(5.0), torch.randn(40, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="span fewer than 2 directions"):
        principal_components(line.double(), 2)
    with pytest.raises(ValueError, match="at least 3 checkpoints"):
        principal_components(torch.randn(2, 10, dtype=torch.float64), 2)


def test_difference_zeroes_1d_and_integer_entries_under_biasbn():
    final = [torch.ones(2, 3), torch.ones(3), torch.tensor(5)]
    w = [torch.full((2, 3), 3.0), torch.full((3,), 2.0), torch.tensor(9)]
    assert flatten_difference(w, final, "biasbn").tolist() == [2.0] * 6 + [0.0] * 3 + [0.0]
    assert flatten_difference(w, final, "none").tolist() == [2.0] * 6 + [1.0] * 3 + [0.0]


def test_directions_have_parameter_shapes_and_zero_1d_entries():
    rng = np.random.default_rng(2)
    shapes = [(3, 2), (3,), (4, 1, 2)]
    matrix = torch.from_numpy(rng.normal(size=(6, 17)))
    matrix[:, 6:9] = 0  # biasbn rows carry no 1-D entries
    dirs, result = pca_directions(matrix, shapes, [True, True, True], "biasbn")
    assert [tuple(d.shape) for d in dirs[0]] == shapes and all(d.dtype == torch.float32 for d in dirs[1])
    assert not dirs[0][1].any() and not dirs[1][1].any()
    flat = torch.cat([d.reshape(-1) for d in dirs[0]]).double()
    np.testing.assert_allclose(flat.numpy(), result.components[0].numpy(), atol=1e-7)


def test_projections_against_a_hand_computation():
    d = torch.tensor([[1.0, 2.0, 3.0], [-2.0, 0.5, 4.0]], dtype=torch.float64)
    dx = torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64)
    dy = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)  # not orthogonal to dx, not unit
    x, y = project(d, dx, dy, "cos")
    np.testing.assert_allclose(x, [1.0 * 2 / 2, -2.0 * 2 / 2])
    np.testing.assert_allclose(y, [(1 + 2) / np.sqrt(2), (-2 + 0.5) / np.sqrt(2)])
    # least squares by the normal equations: [[4, 2], [2, 2]] (x, y) = (<dx, d>, <dy, d>)
    x, y = project(d, dx, dy, "lstsq")
    for row, xi, yi in zip(d.tolist(), x, y):
        bx, by = 2 * row[0], row[0] + row[1]
        det = 4 * 2 - 2 * 2
        assert (xi, yi) == pytest.approx(((2 * bx - 2 * by) / det, (4 * by - 2 * bx) / det))
    with pytest.raises(ValueError, match="cos, lstsq"):
        project(d, dx, dy, "orth")


def test_pca_direction_file_is_the_reference_layout_and_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    shapes = [(4, 3), (4,)]
    matrix = torch.from_numpy(rng.normal(size=(5, 16)))
    dirs, result = pca_directions(matrix, shapes, [True, True], "none")
    path = tmp_path / "directions.h5"
    write_pca_directions(path, ["w", "b"], dirs, result)
    with h5py.File(path, "r") as f:  # what the reference's plot_2D.plot_trajectory reads
        np.testing.assert_array_equal(f["explained_variance_ratio_"][()], result.explained_variance_ratio)
        np.testing.assert_array_equal(f["singular_values_"][()], result.singular_values)
        np.testing.assert_array_equal(f["explained_variance_"][()], result.explained_variance)
        np.testing.assert_array_equal(f["xdirection"]["0"][()], dirs[0][0].numpy())
        np.testing.assert_array_equal(f["ydirection"]["1"][()], dirs[1][1].numpy())
    back = read_directions(path, ["w", "b"], shapes)
    assert all(torch.equal(a, b) for a, b in zip(back[0] + back[1], dirs[0] + dirs[1]))
    stats = read_pca_stats(path)
    np.testing.assert_array_equal(stats["explained_variance_ratio_"], result.explained_variance_ratio)


def test_reference_pca_file_is_read(tmp_path):
    """A file as the reference's setup_PCA_directions writes it: write_list groups, root datasets, no names."""
    path = tmp_path / "PCA_weights_save_epoch=1" / "directions.h5"
    path.parent.mkdir()
    x = [np.arange(6, dtype=np.float32).reshape(2, 3), np.zeros(2, dtype=np.float32)]
    y = [np.ones((2, 3), dtype=np.float32), np.zeros(2, dtype=np.float32)]
    write_reference_directions(path, [x, y])
    with h5py.File(path, "a") as f:
        f["explained_variance_ratio_"] = np.array([0.7, 0.2])
        f["singular_values_"] = np.array([3.0, 1.5])
        f["explained_variance_"] = np.array([4.5, 1.125])
    dirs = read_directions(path, ["w", "b"], [(2, 3), (2,)])
    np.testing.assert_array_equal(dirs[0][0].numpy(), x[0])
    np.testing.assert_array_equal(dirs[1][0].numpy(), y[0])
    assert read_pca_stats(path)["explained_variance_ratio_"].tolist() == [0.7, 0.2]
    write_reference_directions(tmp_path / "random.h5", [x, y])
    assert read_pca_stats(tmp_path / "random.h5") is None


def test_projection_files_round_trip_in_the_reference_layout(tmp_path):
    ours = tmp_path / "proj_cos.h5"
    write_projection(ours, np.array([1.5, -2.0, 0.0]), np.array([0.25, 3.0, 0.0]))
    with h5py.File(ours, "r") as f:
        assert sorted(f) == ["proj_xcoord", "proj_ycoord"]
    reference = tmp_path / "directions.h5_proj_cos.h5"
    with h5py.File(reference, "w") as f:  # as the reference's project_trajectory writes it
        f["proj_xcoord"] = np.array([1.5, -2.0, 0.0])
        f["proj_ycoord"] = np.array([0.25, 3.0, 0.0])
    for path in (ours, reference):
        x, y = read_projection(path)
        assert x.tolist() == [1.5, -2.0, 0.0] and y.tolist() == [0.25, 3.0, 0.0]
    with h5py.File(tmp_path / "surface.h5", "w") as f:
        f["xcoordinates"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a projection file"):
        read_projection(tmp_path / "surface.h5")
