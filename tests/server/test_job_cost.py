"""The job cost limit in forward-pass work: points x samples x splits x the model's FLOPs per sample,
checked against an independent count (forward hooks on every convolution and linear layer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from serverkit import TOKEN, ThreadServer, job_request, make_settings

from workers.zoo import create_model


def hooked_gflop(model: str, channels: int = 3, side: int = 32) -> float:
    """2 x multiply-accumulates of the convolutions and linear layers, for one sample."""
    net, macs = create_model(model).eval(), []

    def count(module: nn.Module, inputs, output) -> None:
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs.append(output.numel() * module.in_channels // module.groups * kh * kw)
        else:
            macs.append(module.in_features * module.out_features)

    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(count)
    with torch.no_grad():
        net(torch.zeros(1, channels, side, side))
    return 2 * sum(macs) / 1e9


@pytest.fixture(scope="module")
def priced(tmp_path_factory: pytest.TempPathFactory, tiny_npz: Path) -> Iterator[ThreadServer]:
    root = tmp_path_factory.mktemp("priced")
    with ThreadServer(make_settings(root / "data", tiny_npz, token=TOKEN, max_job_tflop=0.05)) as server:
        yield server


def test_submit_shows_the_cost_and_refuses_a_job_over_the_limit(priced: ThreadServer):
    gflop = hooked_gflop("tinycnn")
    with priced.client(TOKEN) as c:
        job = c.post("/api/jobs", json=job_request(samples=200, split="both")).json()  # 25 points
        assert job["cost_tflop"] == pytest.approx(25 * 200 * 2 * gflop / 1e3, rel=1e-3)
        assert c.get(f"/api/jobs/{job['id']}").json()["cost_tflop"] == job["cost_tflop"]
        c.delete(f"/api/jobs/{job['id']}")
        hessian = {"max_steps": 4, "summary": False}  # each Hessian-vector product: 10 forward passes' work
        with_hvps = c.post("/api/jobs", json=job_request(samples=20, hessian=hessian)).json()
        assert with_hvps["cost_tflop"] == pytest.approx((25 + 25 * 4 * 10) * 20 * gflop / 1e3, rel=1e-3)
        c.delete(f"/api/jobs/{with_hvps['id']}")
        limit = 0.05 * 1e3 / gflop  # samples x points that fit
        samples = int(limit / 25) + 1
        r = c.post("/api/jobs", json=job_request(samples=samples))
        assert r.status_code == 422
        assert r.json()["detail"] == (
            f"the job is about {25 * samples * gflop / 1e3:.4g} TFLOP of forward passes (25 passes x {samples} samples "
            f"x 1 split x {gflop:.4g} GFLOP per sample of tinycnn), more than the server's limit "
            "max_job_tflop=0.05; use fewer points or samples"
        )
        config = c.get("/api/config").json()
        assert config["limits"]["max_job_tflop"] == 0.05
        assert config["model_gflop"]["tinycnn"] == pytest.approx(gflop, rel=1e-3)
