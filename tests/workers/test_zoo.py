"""Zoo: every registered model builds, runs a CIFAR-sized batch, and has the parameters its
architecture implies; the paper's checkpoints load with strict key matching."""

import pytest
import torch
from support import PAPER_MODELS

from workers.checkpoints import load_model
from workers.zoo import create_model, list_models, num_params


def cifar_resnet_params(depth: int, shortcut: bool, classes: int = 10) -> int:
    """Parameter count of a CIFAR ResNet from its definition (3x3 convs without bias, BN, linear)."""
    n = (depth - 2) // 6
    total = 3 * 16 * 9 + 2 * 16  # stem conv + BN
    planes_in = 16
    for planes in (16, 32, 64):
        for _ in range(n):
            total += planes_in * planes * 9 + 2 * planes + planes * planes * 9 + 2 * planes
            if shortcut and planes_in != planes:
                total += planes_in * planes + 2 * planes  # 1x1 projection + BN
            planes_in = planes
    return total + 64 * classes + classes


@pytest.mark.parametrize("name", list_models())
def test_every_model_runs_a_batch(name):
    model = create_model(name).eval()
    channels = 1 if name.endswith("mnist") else 3
    with torch.no_grad():
        out = model(torch.randn(2, channels, 32, 32))
    assert out.shape == (2, 10)
    assert num_params(model) == sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
@pytest.mark.parametrize("shortcut", [True, False])
def test_resnet_parameter_counts(depth, shortcut):
    name = f"resnet{depth}" + ("" if shortcut else "_noshort")
    assert num_params(create_model(name)) == cifar_resnet_params(depth, shortcut)


def test_vgg9_is_seven_convs_and_two_linears():
    model = create_model("vgg9")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert (len(convs), len(linears)) == (7, 2)
    vgg16 = create_model("vgg16")
    assert sum(isinstance(m, torch.nn.Conv2d) for m in vgg16.modules()) == 13


def test_densenet121_has_121_weighted_layers_in_its_count():
    model = create_model("densenet121")
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    linears = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    # stem + 2 per bottleneck x (6+12+24+16) + 3 transitions + classifier = 121
    assert convs + linears == 1 + 2 * 58 + 3 + 1 == 121


def test_duplicate_registration_warns():
    from workers.zoo import register_model

    def resnet20():  # same name as a zoo entry
        return torch.nn.Linear(1, 1)

    with pytest.warns(UserWarning, match="registered twice"):
        register_model(resnet20)
    from workers.zoo import resnet as family

    with pytest.warns(UserWarning):
        register_model(family.resnet20)  # put the real one back
    assert isinstance(create_model("resnet20"), family.CifarResNet)


def test_unknown_model_names_the_zoo():
    with pytest.raises(ValueError, match="resnet56_noshort"):
        create_model("resnet57")


@pytest.mark.skipif(not PAPER_MODELS.exists(), reason="../shared/models is absent")
@pytest.mark.parametrize(
    "name,file",
    [
        ("resnet56", "resnet56_sgd_lr0.1_bs128_wd0.0005_model_300.t7"),
        ("resnet56_noshort", "resnet56_noshort_sgd_lr0.1_bs128_wd0.0005_model_300.t7"),
    ],
)
def test_paper_checkpoints_load_strictly(name, file):
    model = load_model(name, PAPER_MODELS / file)
    state = torch.load(PAPER_MODELS / file, map_location="cpu", weights_only=True)["state_dict"]
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value)
