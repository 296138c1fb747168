"""The Ray executor on a two-node local cluster (``ray.cluster_utils.Cluster``): a node killed in the
middle of a surface loses no finished point, computes none twice, and the file equals the local one."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from independent import make_model
from support import wait_for

from workers import SurfaceSpec, compute_surface, read_surface

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from workers.ray_executor import RayExecutor  # noqa: E402

pytestmark = pytest.mark.slow

_STORE = 100 * 2**20  # bytes of object store per node: the machine is shared


@pytest.fixture(scope="module")
def cluster():
    """A head node without CPUs (the driver's; no actor lands there) and two worker nodes of 1 CPU."""
    c = Cluster(
        initialize_head=True,
        connect=True,
        head_node_args=dict(num_cpus=0, object_store_memory=_STORE, include_dashboard=False),
    )
    nodes = [c.add_node(num_cpus=1, object_store_memory=_STORE) for _ in range(2)]
    c.wait_for_nodes()
    yield c, nodes
    ray.shutdown()
    c.shutdown()


def actor_pids(node) -> list[int]:
    return [
        a["Pid"]
        for a in ray._private.state.state.actor_table(None).values()
        if a["State"] == "ALIVE" and a["Address"]["NodeID"] == node.node_id
    ]


def kill_node(c: Cluster, node) -> None:
    """Kill every process of ``node`` at once, as a machine that dies: its workers, then its raylet
    (alone, a worker outlives its raylet long enough to deliver a result)."""
    for pid in actor_pids(node):
        os.kill(pid, signal.SIGKILL)
    c.remove_node(node, allow_graceful=False)


def test_a_node_killed_mid_surface_loses_nothing_and_computes_nothing_twice(tmp_path, cluster):
    c, nodes = cluster
    gen = torch.Generator().manual_seed(3)
    data = {"train": (torch.randn(1500, 3, 16, 16, generator=gen), torch.randint(0, 10, (1500,), generator=gen))}
    model = make_model("tinycnn")
    sp = SurfaceSpec(model="tinycnn", dataset="tensors", batch_size=500, x="-1:1:5", y="-1:1:5")
    local = compute_surface(sp, tmp_path / "local.h5", model=model, data=data)

    events: list = []
    stopped: list[int] = []  # the event at which the actor on nodes[1] was stopped

    def progress(p) -> None:
        events.append(p)
        if len(events) == 1:  # the run waits for the second node's actor (they start seconds apart)
            wait_for(lambda: actor_pids(nodes[1]), timeout=120, what="the actor on the second node")
        elif len(events) == 3:
            # It has been up for two chunks' time: the driver has given it a chunk, as it does before handing
            # over results. Stopped, it returns nothing more: it holds a chunk (or is given one for a result
            # it returned before) when it is killed, at the next event (killed at once, its chunk could have
            # come back meanwhile, on a loaded machine).
            for pid in actor_pids(nodes[1]):
                os.kill(pid, signal.SIGSTOP)
            stopped.append(len(events))
        elif stopped and len(events) == stopped[0] + 1:
            kill_node(c, nodes[1])

    executor = RayExecutor("auto", chunk_points=2)
    remote = compute_surface(sp, tmp_path / "ray.h5", model=model, data=data, executor=executor, progress=progress)
    assert stopped and executor.lost_chunks >= 1
    points = [(ix, iy) for p in events for ix, iy, _ in p.new]
    assert len(points) == len(set(points)) == 25  # each point written once
    assert events[-1].computed == 25
    final = read_surface(tmp_path / "ray.h5")
    for s in (remote, final):
        assert s.done.all()
        np.testing.assert_array_equal(s.metrics["train_loss"], local.metrics["train_loss"])
        np.testing.assert_array_equal(s.metrics["train_acc"], local.metrics["train_acc"])
    assert final.attrs["landscape_stats"] == read_surface(tmp_path / "local.h5").attrs["landscape_stats"]
