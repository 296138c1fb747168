"""Directions that move BatchNorm running variances below zero at some grid points (``dir_type`` states,
past the ends of what they span): the engine counts those points, NaN, before computing them, and the API
says so where its users look, in the surface's summary and as a warning of the finished job (it used to be
a line of the server's log only)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from serverkit import ThreadServer, job_request, make_settings
from test_api_jobs import read_events

from workers.jobloop import Worker
from workers.jobqueue import JobQueue

# tinycnn's running variances start at 1 and, with ignore none, a states direction of a running statistic is
# the statistic itself: the variance at (x, y) is 1 + x + y, below zero where x + y < -1
STATES = {"dir_type": "states", "ignore": "none"}
AXIS = np.linspace(-2, 1, 4)
NEGATIVE = 1 + AXIS[None, :] + AXIS[:, None] < 0  # rows of y


def test_points_nan_for_negative_variances_are_counted_in_the_summary_and_the_jobs_warnings(
    tmp_path: Path, tiny_npz: Path
):
    settings = make_settings(tmp_path / "data", tiny_npz)
    request = job_request(samples=20, x="-2:1:4", y="-2:1:4", directions=STATES)
    worker = Worker(JobQueue(settings.data_dir), "w-nan")
    warning = (
        f"{NEGATIVE.sum()} of 16 grid points move a BatchNorm running variance below zero: train_loss and "
        "train_acc are NaN there; dir_type weights keeps the model's running statistics. Those points are null "
        "in the mesh."
    )
    with ThreadServer(settings) as server, server.client() as c:
        job = c.post("/api/jobs", json=request).json()
        assert job["warnings"] == []
        with pytest.warns(UserWarning, match=r"^6 of 16 grid points move a BatchNorm running variance below zero"):
            worker.run(once=True)
        done = c.get(f"/api/jobs/{job['id']}").json()
        assert (done["state"], done["warnings"]) == ("done", [warning])
        assert read_events(f"{server.url}/api/jobs/{job['id']}/events")[-1][1]["warnings"] == [warning]
        assert [j["warnings"] for j in c.get("/api/jobs").json()["jobs"]] == [[warning]]

        mesh = c.get(f"/api/surfaces/{job['surface_id']}").json()
        assert mesh["summary"]["negative_variance_points"] == NEGATIVE.sum() == 6
        np.testing.assert_array_equal(np.isnan(np.array(mesh["metrics"]["train_loss"], dtype=float)), NEGATIVE)
        assert np.all(mesh["done"])  # computed, NaN
        listed = {s["id"]: s for s in c.get("/api/surfaces").json()["surfaces"]}
        assert listed[job["surface_id"]]["negative_variance_points"] == 6

        # asked again once its surface is deleted: queued without the old run's warning, which the new run gives
        assert c.delete(f"/api/surfaces/{job['surface_id']}").status_code == 204
        again = c.post("/api/jobs", json=request).json()
        assert (again["id"], again["state"], again["warnings"]) == (job["id"], "queued", [])
        with pytest.warns(UserWarning, match=r"^6 of 16 grid points"):
            worker.run(once=True)
        assert c.get(f"/api/jobs/{job['id']}").json()["warnings"] == [warning]

        # the same grid over the parameters only: no NaN point, nothing said, nothing recorded
        plain = c.post("/api/jobs", json={**request, "directions": {**STATES, "dir_type": "weights"}}).json()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            worker.run(once=True)
        assert c.get(f"/api/jobs/{plain['id']}").json()["warnings"] == []
        mesh = c.get(f"/api/surfaces/{plain['surface_id']}").json()
        assert mesh["summary"]["negative_variance_points"] == 0  # counted: none (null is for files that do not say)
        assert not np.isnan(np.array(mesh["metrics"]["train_loss"], dtype=float)).any()
