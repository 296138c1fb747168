"""Trajectories: the surface in a path's PCA plane, the path projected on it, each checkpoint's own loss."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from independent import make_model, plain_metrics, write_reference_directions

from workers import SurfaceSpec, compute_surface, read_surface
from workers.cli import main
from workers.h5io import default_dir_file, read_directions
from workers.pca import read_pca_stats, read_projection
from workers.spec import AxisSpec
from workers.trajectory import compute_trajectory, expand_checkpoints, path_axes


def planar_path(model, dir_type: str, coeffs: np.ndarray, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """State dicts ``w_final + a_i*U + b_i*V`` whose differences lie in a 2-D plane: U and V move every
    float tensor the directions cover (``states``: running statistics too; ``weights``: only tensors
    with more than one dimension, so that the path lies in the plane of ``ignore='biasbn'``)."""
    gen = torch.Generator().manual_seed(seed)
    final = model.state_dict()
    moved = set(dict(model.named_parameters())) if dir_type == "weights" else set(final)
    u, v = {}, {}
    for name, t in final.items():
        if name in moved and t.is_floating_point() and (dir_type == "states" or t.dim() > 1):
            u[name], v[name] = 0.05 * torch.randn(t.shape, generator=gen), 0.05 * torch.randn(t.shape, generator=gen)
    return [{k: (t + a * u[k] + b * v[k] if k in u else t.clone()) for k, t in final.items()} for a, b in coeffs]


COEFFS = np.array([[-3.0, 1.0], [-2.0, 1.5], [-1.2, 0.4], [-0.5, -0.3], [0.0, 0.0]])  # ends at the final model


def spec_fields(**kw):
    return {"model": "tinycnn", "dataset": "tensors", "split": "both", "batch_size": 16, **kw}


@pytest.mark.parametrize("dir_type,ignore", [("states", "none"), ("weights", "biasbn")])
def test_surface_at_each_projected_checkpoint_is_that_checkpoints_loss(tmp_path, model, data, dir_type, ignore):
    states = planar_path(model, dir_type, COEFFS)
    out = tmp_path / "path.h5"
    surface = compute_trajectory(
        spec_fields(directions={"dir_type": dir_type, "ignore": ignore}),
        out,
        states=states,
        model=model,
        data=data,
        num=5,
    )
    t = read_surface(out).trajectory
    assert t.labels == ["0", "1", "2", "3", "4"] and t.epochs.tolist() == [0, 1, 2, 3, 4]
    assert sum(t.attrs["explained_variance_ratio_"]) == pytest.approx(1.0, abs=1e-9)
    assert (t.x[-1], t.y[-1]) == (0.0, 0.0)  # the final model is the origin
    assert surface.trajectory.x.tolist() == t.x.tolist()

    for i, state in enumerate(states):
        checkpoint = make_model("tinycnn")
        checkpoint.load_state_dict(state)
        for split in ("train", "test"):
            loss, acc = plain_metrics(checkpoint, *data[split])
            assert t.metrics[f"{split}_loss"][i] == pytest.approx(loss, rel=1e-6)
            assert t.metrics[f"{split}_acc"][i] == acc
        # the surface's point at the checkpoint's coordinates (a one-point grid there)
        spec = SurfaceSpec(
            **spec_fields(directions={"kind": "pca", "dir_type": dir_type, "ignore": ignore}),
            dir_file=str(default_dir_file(out)),
            x=AxisSpec(min=t.x[i], max=t.x[i], num=1),
            y=AxisSpec(min=t.y[i], max=t.y[i], num=1),
        )
        point = compute_surface(spec, model=model, data=data)
        assert point.metrics["train_loss"][0, 0] == pytest.approx(t.metrics["train_loss"][i], rel=1e-5)
        assert point.metrics["test_loss"][0, 0] == pytest.approx(t.metrics["test_loss"][i], rel=1e-5)


def test_grid_covers_the_path_and_the_final_model(tmp_path, model, data):
    states = planar_path(model, "weights", COEFFS)
    surface = compute_trajectory(spec_fields(split="train"), states=states, model=model, data=data, num=3, margin=0.5)
    t = surface.trajectory
    x, y = surface.xcoordinates, surface.ycoordinates
    for coords, path in ((x, t.x), (y, t.y)):
        lo, hi = min(path.min(), 0.0), max(path.max(), 0.0)
        assert coords[0] == pytest.approx(lo - 0.5 * (hi - lo)) and coords[-1] == pytest.approx(hi + 0.5 * (hi - lo))
    assert surface.is_complete and surface.shape == (3, 3)
    given = compute_trajectory(
        spec_fields(split="train", x="-1:1:2", y="-2:2:2"), states=states, model=model, data=data
    )
    assert given.xcoordinates.tolist() == [-1.0, 1.0] and given.ycoordinates.tolist() == [-2.0, 2.0]


def test_path_axes_include_the_origin_and_refuse_a_negative_margin():
    x, y = path_axes(np.array([1.0, 2.0]), np.array([-3.0, -1.0]), num=5, margin=0.0)
    assert (x.min, x.max, x.num, y.min, y.max) == (0.0, 2.0, 5, -3.0, 0.0)
    with pytest.raises(ValueError, match="margin"):
        path_axes(np.zeros(2), np.zeros(2), margin=-1)


def test_cos_and_lstsq_agree_on_pca_directions(model, data):
    states = planar_path(model, "weights", COEFFS)
    paths = [
        compute_trajectory(
            spec_fields(split="train", x="-1:1:2", y="-1:1:2", directions={"projection": m}),
            states=states,
            model=model,
            data=data,
        ).trajectory
        for m in ("cos", "lstsq")
    ]
    np.testing.assert_allclose(paths[0].x, paths[1].x, atol=1e-9)
    np.testing.assert_allclose(paths[0].y, paths[1].y, atol=1e-9)
    assert paths[1].attrs["method"] == "lstsq"


def save_run(tmp_path, states, epochs):
    """Checkpoints as ``lossatlas train`` writes them (``epoch_k.pt``)."""
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    for epoch, state in zip(epochs, states):
        torch.save({"state_dict": state, "epoch": epoch}, run / f"epoch_{epoch}.pt")
    return run


def test_cli_pca_from_a_glob_in_epoch_order_and_resumed(tmp_path, model, tensors_npz, capsys):
    coeffs = np.array([[-3.0 + 0.25 * i, np.sin(i)] for i in range(11)] + [[0.0, 0.0]])
    run = save_run(tmp_path, planar_path(model, "weights", coeffs), list(range(0, 12)))
    assert [p.name for p in expand_checkpoints(str(run / "epoch_*.pt"))][-3:] == [
        "epoch_9.pt",
        "epoch_10.pt",
        "epoch_11.pt",
    ]
    out = tmp_path / "traj.h5"
    argv = [
        "compute",
        "--directions",
        "pca",
        "--checkpoints",
        str(run / "epoch_*.pt"),
        "--model",
        "tinycnn",
        "--data",
        "tensors",
        "--data-root",
        str(tensors_npz),
        "--batch-size",
        "16",
        "--grid-num",
        "3",
        "--out",
        str(out),
    ]
    assert main(argv + ["--proj-file", str(tmp_path / "proj_cos.h5")]) == 0
    assert f"path of 12 checkpoints, epoch_0 to epoch_11, around {run / 'epoch_11.pt'} (PC1" in capsys.readouterr().err
    surface = read_surface(out)
    t = surface.trajectory
    assert t.epochs.tolist() == list(range(12)) and t.labels[0] == "epoch_0"
    assert surface.recipe["spec"]["checkpoint"] == str(run / "epoch_11.pt")  # the final model: the last one
    assert surface.recipe["spec"]["directions"]["kind"] == "pca"
    assert len(surface.recipe["spec"]["directions"]["checkpoints"]) == 12
    assert [c.tolist() for c in read_projection(tmp_path / "proj_cos.h5")] == [t.x.tolist(), t.y.tolist()]
    stats = read_pca_stats(default_dir_file(out))
    assert t.attrs["explained_variance_ratio_"] == stats["explained_variance_ratio_"].tolist()
    before = out.stat().st_mtime_ns
    assert main(argv) == 0  # finished: nothing recomputed, nothing rewritten
    assert out.stat().st_mtime_ns == before
    assert capsys.readouterr().err.startswith(
        f"lossatlas: nothing computed: {out} already holds all 9 points of this computation (--overwrite "
        "recomputes them); path of 12 checkpoints, epoch_0 to epoch_11"
    )

    torch.save({"state_dict": planar_path(model, "weights", coeffs[:1], seed=5)[0]}, run / "epoch_3.pt")
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "another path or setting" in capsys.readouterr().err
    assert main(argv + ["--overwrite"]) == 0  # the new path's directions, surface and trajectory
    assert read_surface(out).trajectory.attrs["checkpoints_sha256"][3] != t.attrs["checkpoints_sha256"][3]


def test_cli_refuses_checkpoints_out_of_order_as_an_unquoted_glob_gives_them(tmp_path, model, tensors_npz, capsys):
    run = save_run(tmp_path, planar_path(model, "weights", COEFFS[[0, 1, 2, 4]]), [0, 1, 2, 10])
    shell_order = sorted(str(p) for p in run.glob("epoch_*.pt"))  # epoch_10 before epoch_2, as bash sorts
    assert [p.rsplit("/", 1)[1] for p in shell_order] == ["epoch_0.pt", "epoch_1.pt", "epoch_10.pt", "epoch_2.pt"]
    out = tmp_path / "traj.h5"
    argv = ["compute", "--checkpoints", *shell_order, "--model", "tinycnn", "--data", "tensors"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ["--data-root", str(tensors_npz), "--grid-num", "3", "--out", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"checkpoints out of order: {run / 'epoch_10.pt'} comes before {run / 'epoch_2.pt'}" in err
    assert f"quote the glob, '{run / 'epoch_*.pt'}'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not default_dir_file(out).exists()
    other = tmp_path / "other"  # files of another run keep the order given: a path continued elsewhere
    other.mkdir()
    (other / "epoch_0.pt").write_bytes((run / "epoch_0.pt").read_bytes())
    given = [run / "epoch_2.pt", run / "epoch_10.pt", other / "epoch_0.pt"]
    assert expand_checkpoints(given) == given
    both = str(tmp_path / "*" / "epoch_*.pt")  # two runs' epochs, sorted by name, would interleave
    with pytest.raises(ValueError, match=f"^{re.escape(repr(both))} matches checkpoints in 2 directories .*: give"):
        expand_checkpoints(both)
    assert expand_checkpoints([str(run / "epoch_*.pt"), str(other / "epoch_*.pt")])[-2:] == [
        run / "epoch_10.pt",
        other / "epoch_0.pt",
    ]


def test_cli_glob_drops_final_pt_repeating_the_last_epoch_and_says_so(tmp_path, model, tensors_npz, capsys):
    """'run/*.pt' takes final.pt after the epochs (natural order): the same weights in another file format
    would end the path with a repeated point; it is dropped, in one line, and the path ends at the epoch."""
    states = planar_path(model, "weights", COEFFS)
    run = save_run(tmp_path, states, list(range(len(states))))
    torch.save(states[-1], run / "final.pt")  # a bare state dict: another file, the same model
    out = tmp_path / "traj.h5"
    argv = ["compute", "--checkpoints", str(run / "*.pt"), "--model", "tinycnn", "--data", "tensors"]
    assert main([*argv, "--data-root", str(tensors_npz), "--grid-num", "3", "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"lossatlas: dropped 1 checkpoint repeating an earlier one's weights: {run / 'final.pt'} (= {run / 'epoch_4.pt'})"
    )
    t = read_surface(out).trajectory
    assert t.labels == [f"epoch_{i}" for i in range(5)]
    assert len(set(zip(t.x.tolist(), t.y.tolist()))) == 5  # no point twice
    assert read_surface(out).recipe["spec"]["directions"]["checkpoints"] == [
        str(run / f"epoch_{i}.pt") for i in range(5)
    ]
    assert f"path of 5 checkpoints, epoch_0 to epoch_4, around {run / 'final.pt'}" in err[-1]


def test_repeated_states_in_memory_are_dropped_with_a_warning(model, data):
    states = planar_path(model, "weights", COEFFS[[0, 1, 4]])
    with pytest.warns(
        UserWarning, match=r"^dropped 2 checkpoints repeating an earlier one's weights: b \(= a\), e \(= d\)$"
    ):
        surface = compute_trajectory(
            spec_fields(),
            states=[states[0], states[0], states[1], states[2], states[2]],
            labels=list("abcde"),
            model=model,
            data=data,
            num=2,
        )
    assert surface.trajectory.labels == ["a", "c", "d"]
    with pytest.raises(ValueError, match="at least 3 different checkpoints, got 2"), pytest.warns(UserWarning):
        compute_trajectory(spec_fields(), states=[states[0], states[1], states[1]], model=model, data=data, num=2)


def test_cli_never_writes_over_a_checkpoint_of_the_path_or_its_surface(tmp_path, model, tensors_npz, capsys):
    run = save_run(tmp_path, planar_path(model, "weights", COEFFS), list(range(len(COEFFS))))
    files = {p: p.read_bytes() for p in run.iterdir()}
    out = tmp_path / "traj.h5"
    argv = ["compute", "--checkpoints", str(run / "epoch_*.pt"), "--model", "tinycnn", "--data", "tensors"]
    argv += ["--data-root", str(tensors_npz), "--overwrite"]
    for given, what, option in (
        (["--out", str(run / "epoch_2.pt")], "a --checkpoints", "--out"),
        (["--out", str(out), "--proj-file", str(out)], "the --out", "--proj-file"),
    ):
        with pytest.raises(SystemExit) as e:
            main([*argv, *given])
        assert e.value.code == 2 and capsys.readouterr().err.endswith(
            f"{option} {given[-1]} is {what} file of this run; choose another {option}\n"
        )
    assert {p: p.read_bytes() for p in run.iterdir()} == files and not out.exists()


def test_cli_pca_with_hessian_reports_the_eigenvalue_maps(tmp_path, model, tensors_npz, capsys):
    run = save_run(tmp_path, planar_path(model, "weights", COEFFS), list(range(len(COEFFS))))
    out = tmp_path / "traj.h5"
    argv = ["compute", "--checkpoints", str(run), "--model", "tinycnn", "--data", "tensors", "--data-root"]
    argv += [str(tensors_npz), "--grid-num", "2", "--hessian", "--hessian-steps", "2", "--no-curvature-summary"]
    assert main([*argv, "--out", str(out)]) == 0
    s = read_surface(out)
    ranges = ", ".join(f"{m} {s.metrics[m].min():.4g} .. {s.metrics[m].max():.4g}" for m in ("max_eig", "min_eig"))
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        "lossatlas: tinycnn in the PCA plane of its training path with max_eig and min_eig of the train loss's "
        f"Hessian (at most 2 Lanczos steps per point) -> {out}"
    )
    assert err[-2].startswith(f"lossatlas: {ranges} (Lanczos residuals up to ") and s.attrs["hessian_residual"] > 0.01
    assert err[-1].startswith("lossatlas: warning: Lanczos stopped at --hessian-steps 2 before --hessian-tol 0.01")


def test_reference_pca_directions_are_used_as_given(tmp_path, model, data):
    states = planar_path(model, "weights", COEFFS)
    first = compute_trajectory(
        spec_fields(split="train", x="-1:1:2", y="-1:1:2"), tmp_path / "a.h5", states=states, model=model, data=data
    )
    dirs = [
        [d.numpy() for d in direction]
        for direction in read_directions(
            default_dir_file(tmp_path / "a.h5"),
            [n for n, _ in model.named_parameters()],
            [tuple(p.shape) for p in model.parameters()],
        )
    ]
    reference = tmp_path / "directions.h5"
    write_reference_directions(reference, dirs)  # no names, no statistics
    again = compute_trajectory(
        spec_fields(split="train", x="-1:1:2", y="-1:1:2", dir_file=str(reference)),
        tmp_path / "b.h5",
        states=states,
        model=model,
        data=data,
    )
    np.testing.assert_allclose(again.trajectory.x, first.trajectory.x, atol=1e-6)
    assert "explained_variance_ratio_" not in again.trajectory.attrs


def test_bad_paths_are_refused_with_the_reason(tmp_path, model, data):
    states = planar_path(model, "weights", COEFFS)
    with pytest.raises(ValueError, match="at least 3 checkpoints, got 2: give the whole path .*--save-every 1 keeps"):
        compute_trajectory(spec_fields(), states=states[:2], model=model, data=data)
    with pytest.raises(ValueError, match="lie on a line"):
        compute_trajectory(
            spec_fields(), states=planar_path(model, "weights", COEFFS[:, :1] * [1, 0]), model=model, data=data
        )
    with pytest.raises(ValueError, match="no checkpoint file matches"):
        compute_trajectory(
            spec_fields(directions={"checkpoints": [str(tmp_path / "epoch_*.pt")]}), model=model, data=data
        )
    with pytest.raises(ValueError, match="holds no epoch_"):
        compute_trajectory(spec_fields(directions={"checkpoints": [str(tmp_path)]}), model=model, data=data)
    with pytest.raises(ValueError, match="both x and y"):
        compute_trajectory(spec_fields(x="-1:1:3"), states=states, model=model, data=data)
    other = make_model("tinycnn_mnist").state_dict()
    with pytest.raises(
        ValueError, match="does not fit model 'tinycnn'.*; it holds the weights of tinycnn_mnist: choose"
    ):
        compute_trajectory(spec_fields(), states=states[:2] + [other], model=model, data=data)
    run = save_run(tmp_path, [states[0], other, states[1]], [0, 1, 2])  # a file is named as given, directory too
    with pytest.raises(ValueError) as e:
        compute_trajectory(spec_fields(directions={"checkpoints": [str(run)]}), model=model, data=data)
    assert str(e.value) == (  # the zoo model it fits named, as for a --checkpoint of another model
        f"checkpoint '{run / 'epoch_1.pt'}' does not fit model 'tinycnn': 1 wrong shape: conv1.weight (8, 1, 3, 3) "
        "vs (8, 3, 3, 3); it holds the weights of tinycnn_mnist: choose that model"
    )
    with pytest.raises(ValueError, match="leave norm out"):
        SurfaceSpec(model="tinycnn", x="-1:1:3", directions={"kind": "pca", "norm": "filter"})
    spec = SurfaceSpec(model="tinycnn", x="-1:1:3", y="-1:1:3", directions={"kind": "pca"})
    with pytest.raises(ValueError, match="compute_trajectory"):
        compute_surface(spec, model=model, data=data)


def test_a_queued_pca_job_is_run_as_a_trajectory(tmp_path, model, tensors_npz):
    from workers.jobloop import Worker
    from workers.jobqueue import JobQueue

    run = save_run(tmp_path, planar_path(make_model("tinycnn"), "weights", COEFFS), [1, 2, 3, 4, 5])
    spec = SurfaceSpec(
        model="tinycnn",
        dataset="tensors",
        data_root=str(tensors_npz),
        batch_size=16,
        x="-4:1:3",
        y="-2:2:3",
        directions={"kind": "pca", "checkpoints": [str(run)]},
    )
    queue = JobQueue(tmp_path / "data")
    job, _ = queue.submit("k", {}, spec.model_dump(mode="json"), "traj", "surfaces/traj.h5", spec.num_points, 5)
    Worker(queue, "w1").run(once=True)
    assert queue.get(job.id).state == "done", queue.get(job.id).error
    t = read_surface(tmp_path / "data" / "surfaces" / "traj.h5").trajectory
    assert t.epochs.tolist() == [1, 2, 3, 4, 5] and (t.x[-1], t.y[-1]) == (0.0, 0.0)


def test_a_stopped_trajectory_resumes_and_ends_as_an_uninterrupted_one(tmp_path, model, data):
    states = planar_path(model, "weights", COEFFS)
    fields = spec_fields(split="train", x="-4:1:3", y="-1:2:3")
    straight = compute_trajectory(fields, tmp_path / "a.h5", states=states, model=model, data=data)
    calls = []
    stopped = compute_trajectory(
        fields,
        tmp_path / "b.h5",
        states=states,
        model=model,
        data=data,
        should_stop=lambda: calls.append(1) or len(calls) > 4,
    )
    assert not stopped.is_complete and stopped.trajectory is None
    resumed = compute_trajectory(fields, tmp_path / "b.h5", states=states, model=model, data=data)
    assert resumed.is_complete
    np.testing.assert_array_equal(resumed.metrics["train_loss"], straight.metrics["train_loss"])
    np.testing.assert_array_equal(
        read_surface(tmp_path / "b.h5").trajectory.metrics["train_loss"], straight.trajectory.metrics["train_loss"]
    )


def test_given_directions_project_the_whole_difference_as_the_reference_does(tmp_path, model, data):
    """A reference direction file made without biasbn moves biases and BN weights: their differences count."""
    states = planar_path(model, "states", COEFFS)  # biases and BN weights move too
    gen = torch.Generator().manual_seed(3)
    params = list(model.named_parameters())
    dirs = [[torch.randn(p.shape, generator=gen).numpy() for _, p in params] for _ in range(2)]
    reference = tmp_path / "directions.h5"
    write_reference_directions(reference, dirs)
    t = compute_trajectory(
        spec_fields(split="train", x="-1:1:2", y="-1:1:2", dir_file=str(reference)),
        states=states,
        model=model,
        data=data,
    ).trajectory
    final = states[-1]
    for i, state in enumerate(states):
        d = np.concatenate([(state[n].double() - final[n].double()).numpy().ravel() for n, _ in params])
        for coord, direction in ((t.x[i], dirs[0]), (t.y[i], dirs[1])):
            flat = np.concatenate([a.astype(np.float64).ravel() for a in direction])
            assert coord == pytest.approx(d @ flat / np.linalg.norm(flat), rel=1e-9, abs=1e-12)
