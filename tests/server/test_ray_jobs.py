"""Server jobs on a Ray cluster: the processes of docker-compose.yml (its ``ray start --head`` and ``ray
start --address`` commands, its healthcheck, ``lossatlas serve`` with ``LOSSATLAS_RAY_ADDRESS``) run as
plain local processes. Unlike its container, the server here needs no ``ray start`` of its own: the
nodes' raylets run on this same machine."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from serverkit import between_writes, child_pids, direct_surface, job_request, paused
from support import REPO, wait_for, written
from test_api_jobs import read_events, wait_state

from workers import read_surface

pytest.importorskip("ray")
yaml = pytest.importorskip("yaml")

pytestmark = pytest.mark.slow

RAY = Path(sys.executable).with_name("ray")
STORE = str(100 * 2**20)  # bytes of object store per node: the machine is shared
# how `ray start --head` names the address it bound (a line Ray keeps, its Java driver reads it)
HEAD_ADDRESS = re.compile(r"ray start --address='\S+:([0-9]+)'")


@pytest.fixture(scope="module")
def ray_cluster():
    """A head node without CPUs and a worker node of 2 CPUs, token-authenticated as in docker-compose.yml.
    Yields the head's address and the authentication environment. The head listens on a port the system
    gives it (``--port 0``), as its output names it: a port found free beforehand could be taken before the
    head binds it."""
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "OMP_NUM_THREADS": "1"}
    address = "127.0.0.1:0"  # the head's port, once it names it
    logs, procs = [], []

    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]

    def start(service: str, *extra: str) -> subprocess.Popen:
        """The service's command, on this machine's address and port, with a small object store."""
        port = address.rsplit(":", 1)[1]
        cmd = [a.replace("ray-head:6379", address).replace("6379", port) for a in services[service]["command"]]
        assert cmd[:2] == ["ray", "start"]
        logs.append(tempfile.TemporaryFile("w+"))  # noqa: SIM115 (closed after the services stop)
        procs.append(
            subprocess.Popen(
                [str(RAY), *cmd[1:], *extra, "--object-store-memory", STORE],
                env=env,
                stdout=logs[-1],
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        return procs[-1]

    def healthy(service: str) -> bool:
        test = services[service]["healthcheck"]["test"]
        assert test[:2] == ["CMD", "python"]
        return subprocess.run([sys.executable, *test[2:]], env=env).returncode == 0

    try:
        head = start("ray-head")
        named = wait_for(
            lambda: HEAD_ADDRESS.search(written(logs[0])) or head.poll() is not None, 120, 0.5, "the Ray head"
        )
        assert head.poll() is None, written(logs[0])
        address = f"127.0.0.1:{named[1]}"
        wait_for(lambda: healthy("ray-head"), 60, 0.5, "the Ray head's healthcheck")
        start("ray-worker", "--num-cpus", "2")
        yield address, {k: env[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    finally:
        for proc in reversed(procs):  # SIGTERM: ray start stops the node's processes
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for f in logs:
            f.close()
        # ray start records the cluster as this machine's current one; a stale record would make the
        # next ray.init() without an address try to join this dead cluster
        from ray._private.utils import get_ray_address_file, read_ray_address

        recorded = read_ray_address()
        if recorded and recorded.rsplit(":", 1)[1] == address.rsplit(":", 1)[1]:
            Path(get_ray_address_file(None)).unlink()


def point_actors() -> int:
    """Processes of this machine that are Ray actors of the engine (Ray names them ``ray::PointActor``)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):  # the process ended meanwhile
            count += cmdline.read_bytes().startswith(b"ray::PointActor")
    return count


def test_server_jobs_run_on_ray_with_progress_events_and_cancel(
    tmp_path, tiny_npz, processes, ray_cluster, monkeypatch
):
    address, auth = ray_cluster
    for key, value in auth.items():  # the server's worker joins the cluster with its secret
        monkeypatch.setenv(key, value)
    serve, url = processes.serve(tmp_path / "data", tiny_npz, ray_address=address)
    with httpx.Client(base_url=url, timeout=30) as c:
        request = job_request(split="both")
        job = c.post("/api/jobs", json=request).json()
        events = read_events(f"{url}/api/jobs/{job['id']}/events", timeout=300)
        assert events[-1] == ("state", {**events[-1][1], "state": "done"})
        points = [(p["ix"], p["iy"], p["values"]) for kind, e in events if kind == "progress" for p in e["points"]]
        assert sorted((ix, iy) for ix, iy, _ in points) == [(ix, iy) for ix in range(5) for iy in range(5)]
        got = read_surface(tmp_path / "data" / "surfaces" / f"{job['surface_id']}.h5")
        assert got.attrs["executor"] == f"ray at {address} (cpu)"
        expected = direct_surface(request, tiny_npz)
        for name, values in expected.metrics.items():
            np.testing.assert_array_equal(got.metrics[name], values, err_msg=name)
        for ix, iy, values in points:  # the streamed values are the computed ones
            assert values == {m: v[iy, ix] for m, v in expected.metrics.items()}

        big = c.post("/api/jobs", json=job_request(samples=2000, x="-1:1:9", y="-1:1:9")).json()
        wait_for(
            lambda: point_actors() == 2 and c.get(f"/api/jobs/{big['id']}").json()["points_done"] >= 2,
            300,
            0.2,
            "the job to run on two actors",
        )
        (driver,) = child_pids(serve.pid)  # the embedded worker: the job's driver, the only one writing its file
        path = tmp_path / "data" / "surfaces" / f"{big['surface_id']}.h5"
        with paused(driver, lambda: between_writes(tmp_path / "data"), "the job's driver to pause"):
            assert c.delete(f"/api/jobs/{big['id']}").json()["state"] == "cancelled"
            stopped = int(read_surface(path).done.sum())
        wait_for(lambda: point_actors() == 0, 60, 0.2, "the cancelled job's actors to end")
        assert int(read_surface(path).done.sum()) == stopped < 81  # no write after the cancel
        small = c.post("/api/jobs", json=job_request(x="-1:1:3", y=None)).json()  # the worker is free again
        assert wait_state(c, small["id"], ("done",), timeout=300)["points_done"] == 3
