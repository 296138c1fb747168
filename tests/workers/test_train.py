"""Training: it learns, it resumes exactly, its augmentation is crop + flip."""
import pytest
import torch

from workers.train import TrainConfig, augment_batch, train


def config(path, **kw):
    return TrainConfig(model="tinycnn", dataset="tensors", data_root=str(path), batch_size=32, **kw)


def test_training_lowers_the_loss(learnable_npz, tmp_path):
    result = train(config(learnable_npz, epochs=4, lr=0.05, milestones=(0.75,)), tmp_path / "run", log=lambda m: None)
    first, last = result.history[0], result.history[-1]
    assert last.train_loss < first.train_loss
    assert len(result.history) == 4 and [h.epoch for h in result.history] == [1, 2, 3, 4]
    assert result.history[3].lr == pytest.approx(0.005)  # dropped at 75% of 4 epochs


class Interrupt(Exception):
    pass


def test_interrupted_training_resumes_exactly(learnable_npz, tmp_path):
    cfg = config(learnable_npz, epochs=3, save_every=1)
    straight = train(cfg, tmp_path / "straight", log=lambda m: None)

    def stop_in_epoch_2(epoch, step, steps, loss, acc):
        if epoch == 1 and step == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "resumed", progress=stop_in_epoch_2, log=lambda m: None)
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["epoch_1.pt", "last.pt"]
    resumed = train(cfg, tmp_path / "resumed", log=lambda m: None)

    a = torch.load(straight.checkpoint, weights_only=True)["state_dict"]
    b = torch.load(resumed.checkpoint, weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [h.train_loss for h in straight.history] == [h.train_loss for h in resumed.history]


def test_resume_with_other_settings_is_refused(learnable_npz, tmp_path):
    train(config(learnable_npz, epochs=1), tmp_path / "run", log=lambda m: None)
    with pytest.raises(ValueError, match="other settings"):
        train(config(learnable_npz, epochs=1, lr=0.01), tmp_path / "run", log=lambda m: None)


def test_augmentation_is_a_padded_crop_possibly_flipped():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 32, 32)
    out = augment_batch(x, gen)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    flips = 0
    for i in range(len(x)):
        windows = [padded[i, :, dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
        plain = any(torch.equal(out[i], w) for w in windows)
        flipped = any(torch.equal(out[i], w.flip(-1)) for w in windows)
        assert plain or flipped, i
        flips += flipped and not plain
    assert 10 < flips < 54  # about half are flipped


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(lr=-1.0), dict(milestones=(1.5,)), dict(batch_size=0)])
def test_bad_config_is_refused(bad):
    with pytest.raises(ValueError):
        TrainConfig(model="tinycnn", **bad)


def test_flat_inputs_train_without_augmentation_whatever_augment_says(tmp_path, monkeypatch):
    """Crop and flip apply to images only (#16): on flat tensors augment=True trains exactly as False."""
    import numpy as np

    (tmp_path / "flatmodels.py").write_text(
        "import torch.nn as nn\n\ndef mlp():\n    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    np.savez(tmp_path / "flat.npz", x_train=x, y_train=(x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0),
             x_test=x[:8], y_test=np.zeros(8, dtype=np.int64))
    runs = [TrainConfig(model="flatmodels:mlp", dataset="tensors", data_root=str(tmp_path / "flat.npz"), epochs=2,
                        batch_size=16, augment=augment) for augment in (True, False)]
    results = [train(cfg, tmp_path / f"run{i}", log=lambda m: None) for i, cfg in enumerate(runs)]
    a, b = (torch.load(r.checkpoint, weights_only=True)["state_dict"] for r in results)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
