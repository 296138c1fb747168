"""The Ray executor on a local Ray cluster (two CPUs, no GPU, started once for the module): surfaces equal
the local engine's bit for bit, resume across executors, stop ends the actors, ``--ray`` on the CLI."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from cli_runs import compute_args
from support import kill_when

from workers import SurfaceSpec, compute_surface, read_surface
from workers.cli import main
from workers.grid import coarse_to_fine

ray = pytest.importorskip("ray")
from workers.ray_executor import RayExecutor  # noqa: E402

pytestmark = pytest.mark.slow  # a Ray actor is a new process that imports torch: seconds each


@pytest.fixture(scope="module", autouse=True)
def local_cluster():
    """A new local instance (``address="local"``), not one that ``RAY_ADDRESS`` or a ``ray start`` on this
    machine names: ray.init would join that one, and refuse ``num_cpus`` there. No GPU, whatever the machine has."""
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=0,
        object_store_memory=200 * 2**20,
        include_dashboard=False,
        logging_level=logging.WARNING,
    )
    yield
    ray.shutdown()


def spec(**kwargs) -> SurfaceSpec:
    base = dict(model="tinycnn", dataset="tensors", batch_size=16, x="-1:1:5", y="-0.5:0.5:4", split="both")
    return SurfaceSpec(**{**base, **kwargs})


def assert_same_surface(a, b) -> None:
    np.testing.assert_array_equal(a.done, b.done)
    assert set(a.metrics) == set(b.metrics)
    for name in a.metrics:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name])


def alive_point_actors() -> int:
    return sum(
        1
        for a in ray._private.state.state.actor_table(None).values()
        if a["ActorClassName"].endswith("PointActor") and a["State"] == "ALIVE"
    )


def test_ray_surface_equals_the_local_one_bit_for_bit(tmp_path, model, data):
    sp = spec()
    local = compute_surface(sp, tmp_path / "local.h5", model=model, data=data)
    events: list = []
    remote = compute_surface(sp, tmp_path / "ray.h5", model=model, data=data, ray="auto", progress=events.append)
    assert_same_surface(remote, local)
    on_disk = read_surface(tmp_path / "ray.h5")
    assert_same_surface(on_disk, local)
    assert on_disk.attrs["landscape_stats"] == read_surface(tmp_path / "local.h5").attrs["landscape_stats"]
    assert on_disk.attrs["executor"] == "ray at auto (cpu)"
    points = [(ix, iy) for p in events for ix, iy, _ in p.new]
    assert len(points) == len(set(points)) == 20  # every point reported once
    assert [p.done for p in events] == np.cumsum([len(p.new) for p in events]).tolist()
    assert events[-1].done == events[-1].total == 20
    for ix, iy, values in (v for p in events for v in p.new):
        assert values == {name: local.metrics[name][iy, ix] for name in local.metrics}
    assert alive_point_actors() == 0  # the run's actors are gone


def test_hessian_eigenvalue_maps_on_ray_equal_the_local_ones(tmp_path, model, data):
    """The executor serves any point work: the Hessian's extreme eigenvalues at each point too."""
    sp = spec(x="-1:1:3", y="-1:1:3", split="train", hessian=dict(max_steps=12, summary=False))
    local = compute_surface(sp, tmp_path / "local.h5", model=model, data=data)
    remote = compute_surface(sp, tmp_path / "ray.h5", model=model, data=data, ray="auto")
    assert {"max_eig", "min_eig"} <= set(remote.metrics)
    assert_same_surface(read_surface(tmp_path / "ray.h5"), local)
    assert np.all(remote.metrics["max_eig"] > remote.metrics["min_eig"])
    # the actors' Lanczos residuals and product counts come back with the values: the file records what a
    # local run's does (the driver's own products, the centre's summary, are added to them)
    summed = sp.model_copy(update={"hessian": sp.hessian.model_copy(update={"summary": True, "top_k": 1})})
    compute_surface(summed, tmp_path / "local-summary.h5", model=model, data=data)
    compute_surface(summed, tmp_path / "ray-summary.h5", model=model, data=data, ray="auto")
    for name in ("", "-summary"):
        here, there = (read_surface(tmp_path / f"{where}{name}.h5").attrs for where in ("local", "ray"))
        assert 0 < there["hessian_residual"] == here["hessian_residual"]
        assert 0 < there["hessian_hvps"] == here["hessian_hvps"]
    assert there["curvature"] == here["curvature"]


def test_compute_cli_on_ray_warns_of_unconverged_lanczos_as_a_local_run_does(tmp_path, tensors_npz, capsys):
    """--ray --hessian: the actors' residuals reach the file and the command's report and warning."""
    argv = ["compute", "--model", "tinycnn", "--data", "tensors", "--data-root", str(tensors_npz), "--x", "-1:1:3"]
    argv += ["--hessian", "--hessian-steps", "2", "--no-curvature-summary", "--out"]
    reports = []
    for name, extra in (("local.h5", []), ("ray.h5", ["--ray"])):
        assert main([*argv, str(tmp_path / name), *extra]) == 0
        reports.append(capsys.readouterr().err.splitlines()[-2:])
    assert reports[1] == reports[0]
    assert reports[0][0].endswith(" of the spectral radius)") and "residuals up to " in reports[0][0]
    assert reports[0][1].startswith("lossatlas: warning: Lanczos stopped at --hessian-steps 2 before --hessian-tol")
    assert read_surface(tmp_path / "ray.h5").attrs["hessian_residual"] > 0.01


def test_chunks_go_out_coarse_to_fine_and_a_stopped_ray_run_resumes_locally(tmp_path, model, data):
    sp = spec(split="train")
    whole = compute_surface(sp, tmp_path / "whole.h5", model=model, data=data)
    out = tmp_path / "part.h5"
    first: list = []
    executor = RayExecutor("auto", actors=1, chunk_points=3)
    compute_surface(
        sp, out, model=model, data=data, executor=executor, progress=first.append, should_stop=lambda: len(first) >= 2
    )
    assert alive_point_actors() == 0  # stopping ended the actors
    partial = read_surface(out)
    order = np.concatenate(coarse_to_fine(5, 4)).tolist()
    assert [len(p.new) for p in first] == [3, 1]  # one actor: chunks come back in order, none mixes levels
    assert set(np.flatnonzero(partial.done.ravel()).tolist()) == set(order[:4])  # level 0: the 4 corners
    second: list = []
    resumed = compute_surface(sp, out, model=model, data=data, progress=second.append)  # the local executor
    assert {(ix, iy) for p in second for ix, iy, _ in p.new} == {(i % 5, i // 5) for i in order[4:]}
    assert_same_surface(resumed, whole)
    assert_same_surface(read_surface(out), whole)


def test_a_local_partial_file_is_finished_on_ray(tmp_path, model, data):
    sp = spec(split="test", fast=True)  # the fast mode runs on the actors too
    whole = compute_surface(sp, tmp_path / "whole.h5", model=model, data=data)
    out = tmp_path / "part.h5"
    first: list = []
    compute_surface(sp, out, model=model, data=data, progress=first.append, should_stop=lambda: len(first) >= 5)
    second: list = []
    resumed = compute_surface(sp, out, model=model, data=data, ray="auto", progress=second.append)
    assert sum(len(p.new) for p in second) == 15 and second[-1].computed == 15
    assert_same_surface(resumed, whole)


def test_gpu_actors_on_a_cluster_without_gpus_are_refused_with_one_line(tmp_path, model, data):
    with pytest.raises(ValueError, match="^the Ray cluster at auto has no GPU; run with --device cpu$"):
        compute_surface(spec(split="train"), tmp_path / "s.h5", model=model, data=data, device="cuda", ray="auto")
    assert not (tmp_path / "s.h5").exists()
    assert alive_point_actors() == 0


def test_compute_cli_on_a_cluster_address_killed_and_rerun_resumes(tmp_path):
    """The driver (``lossatlas compute --ray ADDRESS``) killed mid-run: its actors go with it, and the same
    command run again finishes the file, equal to the local engine's."""
    gen = torch.Generator().manual_seed(0)
    npz = tmp_path / "big.npz"
    np.savez(
        npz,
        x=torch.randn(1200, 3, 16, 16, generator=gen).numpy(),
        y=torch.randint(0, 10, (1200,), generator=gen).numpy(),
    )
    out = tmp_path / "s.h5"
    address = ray.get_runtime_context().gcs_address
    # 49 points (a later --x is the one taken): a second or more between the first write and the last
    cmd = [sys.executable, "-m", "server.cli", *compute_args(npz, out, "--x=-1:1:7", "--y=-1:1:7", "--ray", address)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    done_at_kill = kill_when(proc, lambda: out.exists() and (n := int(read_surface(out).done.sum())) < 49 and n, 240)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    partial = read_surface(out)
    assert 4 <= partial.done.sum() == done_at_kill  # the corners come first, together
    deadline = time.monotonic() + 60
    while alive_point_actors() and time.monotonic() < deadline:  # Ray ends a dead driver's actors
        time.sleep(0.2)
    assert alive_point_actors() == 0

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    computed = int(re.findall(r"(\d+) new", rerun.stderr)[-1])
    assert computed == 49 - int(partial.done.sum())  # no finished point computed again
    local = compute_surface(
        SurfaceSpec(model="tinycnn", dataset="tensors", data_root=str(npz), batch_size=256, x="-1:1:7", y="-1:1:7")
    )
    final = read_surface(out)
    assert_same_surface(final, local)
    assert final.attrs["executor"] == f"ray at {address} (cpu)"
