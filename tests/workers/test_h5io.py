"""Surface and direction files: round trips, and files written by the reference code."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from independent import make_model, write_reference_directions, write_reference_surface
from support import REPO, can_mount_tmpfs

from workers.directions import named_weights, random_directions
from workers.h5io import Surface, read_directions, read_surface, write_directions, write_surface


def grid_values(nx: int, ny: int, offset: float = 0.0) -> np.ndarray:
    """A [iy, ix] grid whose every value says where it is: 10*iy + ix + offset."""
    return 10.0 * np.arange(ny)[:, None] + np.arange(nx)[None, :] + offset


def test_surface_round_trip(tmp_path):
    x, y = np.linspace(-1, 1, 5), np.linspace(0, 0.5, 3)
    done = np.zeros((3, 5), dtype=bool)
    done[::2, ::2] = True
    loss = np.where(done, grid_values(5, 3), np.nan)
    surface = Surface(
        x,
        y,
        {"train_loss": loss, "train_acc": loss * 2},
        done,
        recipe={"spec": {"model": "tinycnn", "x": {"min": -1}}, "checkpoint_sha256": "ab"},
        attrs={"elapsed_s": 1.5, "device": "cpu", "landscape_stats": {"metric": "train_loss", "points": 3}},
        dir_file="s.dirs.h5",
        arrays={"samples_train": np.array([3, 5, 8])},
    )
    path = tmp_path / "s.h5"
    write_surface(path, surface)
    back = read_surface(path)
    np.testing.assert_array_equal(back.xcoordinates, x)
    np.testing.assert_array_equal(back.ycoordinates, y)
    np.testing.assert_array_equal(back.done, done)
    for name in ("train_loss", "train_acc"):
        np.testing.assert_array_equal(back.metrics[name], surface.metrics[name])  # NaN where not done
    assert back.recipe == surface.recipe
    assert back.attrs == surface.attrs
    assert back.dir_file == "s.dirs.h5"
    np.testing.assert_array_equal(back.arrays["samples_train"], [3, 5, 8])
    assert not back.reference
    assert [p.name for p in tmp_path.iterdir()] == ["s.h5"]  # no temporary file left behind


def test_one_dimensional_surface_round_trip(tmp_path):
    x = np.linspace(0, 1, 4)
    surface = Surface(x, None, {"test_loss": np.array([1.0, np.nan, 3.0, np.nan])}, np.array([1, 0, 1, 0], bool))
    write_surface(tmp_path / "s.h5", surface)
    back = read_surface(tmp_path / "s.h5")
    assert back.ycoordinates is None and back.shape == (4,)
    np.testing.assert_array_equal(back.metrics["test_loss"], surface.metrics["test_loss"])


@pytest.mark.parametrize("nx, ny", [(3, 3), (5, 3), (2, 6)])
def test_reference_surfaces_read_with_the_right_orientation(tmp_path, nx, ny):
    x, y = np.linspace(-1, 1, nx), np.linspace(-2, 0, ny)  # 0 as an end: the reference refused that
    loss, acc = grid_values(nx, ny), grid_values(nx, ny, 0.5)
    loss[0, -1] = acc[0, -1] = -1  # pending
    loss[-1, 0] = acc[-1, 0] = -1
    path = tmp_path / "ref.h5"
    write_reference_surface(path, x, y, {"train_loss": loss, "train_acc": acc})
    with h5py.File(path) as f:
        assert f["train_loss"].shape == (nx, ny)  # what the reference writes
    s = read_surface(path)
    assert s.reference and s.shape == (ny, nx) and s.dir_file == "dirs.h5"
    expected_done = loss != -1
    np.testing.assert_array_equal(s.done, expected_done)
    for iy in range(ny):
        for ix in range(nx):
            if expected_done[iy, ix]:
                assert s.metrics["train_loss"][iy, ix] == 10 * iy + ix
                assert s.metrics["train_acc"][iy, ix] == 10 * iy + ix + 0.5
            else:
                assert np.isnan(s.metrics["train_loss"][iy, ix])


def test_reference_one_dimensional_surface(tmp_path):
    x = np.linspace(-1, 1, 5)
    write_reference_surface(tmp_path / "ref.h5", x, None, {"train_loss": np.array([4.0, 2, -1, 2, 4])})
    s = read_surface(tmp_path / "ref.h5")
    assert s.reference and s.ycoordinates is None
    np.testing.assert_array_equal(s.done, [True, True, False, True, True])
    np.testing.assert_array_equal(s.metrics["train_loss"][s.done], [4, 2, 2, 4])


def test_unusable_surface_files_are_refused(tmp_path):
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="text.h5 is not an HDF5 file"):
        read_surface(tmp_path / "text.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f["something"] = 1
    with pytest.raises(ValueError, match="no 'xcoordinates' dataset"):
        read_surface(tmp_path / "empty.h5")
    with h5py.File(tmp_path / "nometric.h5", "w") as f:
        f["xcoordinates"] = np.arange(3.0)
    with pytest.raises(ValueError, match="holds no metric"):
        read_surface(tmp_path / "nometric.h5")
    with h5py.File(tmp_path / "short.h5", "w") as f:
        f["xcoordinates"] = np.arange(3.0)
        f["ycoordinates"] = np.arange(2.0)
        f["train_loss"] = np.zeros(5)
    with pytest.raises(ValueError, match="train_loss has 5 values for a grid of"):
        read_surface(tmp_path / "short.h5")


@pytest.mark.parametrize("dir_type", ["weights", "states"])
def test_directions_round_trip_with_names(tmp_path, model, dir_type):
    dirs = random_directions(model, seed=1, dir_type=dir_type)
    entries = named_weights(model, dir_type)
    names, shapes = [n for n, _ in entries], [tuple(t.shape) for _, t in entries]
    write_directions(tmp_path / "d.h5", names, dirs, {"recipe_kind": "random"})
    back = read_directions(tmp_path / "d.h5", names, shapes)
    assert len(back) == 2
    for d, b in zip(dirs, back):
        for t, u in zip(d, b):
            assert torch.equal(t.float(), u)
    with h5py.File(tmp_path / "d.h5") as f:  # the reference layout plus names
        assert sorted(f["xdirection"].keys(), key=int) == [str(i) for i in range(len(names))]
        assert f.attrs["recipe_kind"] == "random"


def test_reference_direction_files_are_read(tmp_path, model):
    dirs = [[t.numpy() for t in d] for d in random_directions(model, seed=1)]
    write_reference_directions(tmp_path / "ref.h5", dirs)
    names = [n for n, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for p in model.parameters()]
    back = read_directions(tmp_path / "ref.h5", names, shapes)
    for d, b in zip(dirs, back):
        for t, u in zip(d, b):
            np.testing.assert_array_equal(t, u.numpy())
    write_reference_directions(tmp_path / "ref1.h5", dirs[:1])
    assert len(read_directions(tmp_path / "ref1.h5", names, shapes)) == 1


def test_direction_file_of_another_model_is_refused_naming_the_weight(tmp_path, model):
    other = make_model("resnet20")
    other_names = [n for n, _ in other.named_parameters()]
    write_directions(tmp_path / "d.h5", other_names, random_directions(other, seed=0))
    names = [n for n, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for p in model.parameters()]
    with pytest.raises(
        ValueError,
        match=r"weight 3 is 'layer1.0.conv1.weight' in the file but 'conv2.weight' in the model \(65 vs 8 weights\)",
    ):
        read_directions(tmp_path / "d.h5", names, shapes)


def test_reference_direction_file_with_a_wrong_shape_names_the_weight(tmp_path, model):
    dirs = [[t.numpy() for t in d] for d in random_directions(model, seed=1)]
    names = [n for n, _ in model.named_parameters()]
    shapes = [tuple(p.shape) for p in model.parameters()]
    i = names.index("conv2.weight")
    dirs[0][i] = np.zeros((16, 8, 5, 5), np.float32)
    write_reference_directions(tmp_path / "shape.h5", dirs)
    with pytest.raises(
        ValueError,
        match=r"'conv2.weight' \(tensor 3\) has shape \(16, 8, 5, 5\) in the file, \(16, 8, 3, 3\) in the model",
    ):
        read_directions(tmp_path / "shape.h5", names, shapes)
    write_reference_directions(tmp_path / "count.h5", [d[:-1] for d in dirs])
    with pytest.raises(
        ValueError, match=f"has {len(names) - 1} tensors in xdirection, the model has {len(names)} weights"
    ):
        read_directions(tmp_path / "count.h5", names, shapes)


# Run in a mount namespace with a 1 MiB tmpfs at argv[1]: fill it but for argv[2] bytes, write a surface (it
# fails), free the space, write it again.
_FULL_DISK = """
import errno, os, sys
import numpy as np
from workers.h5io import Surface, read_surface, write_surface

disk, room = sys.argv[1], int(sys.argv[2])
with open(f"{disk}/filler", "wb", buffering=0) as f:
    try:
        while True:
            f.write(bytes(4096))
    except OSError:
        pass
os.truncate(f"{disk}/filler", os.path.getsize(f"{disk}/filler") - room)
x = np.linspace(-1, 1, 31)
surface = Surface(x, x, {m: np.full((31, 31), 0.5) for m in ("train_loss", "test_loss")}, np.ones((31, 31), bool))
try:
    write_surface(f"{disk}/s.h5", surface)
except OSError as e:
    assert e.errno == errno.ENOSPC, e
    print("refused")
assert sorted(os.listdir(disk)) == ["filler"], os.listdir(disk)  # nothing half-written left
os.unlink(f"{disk}/filler")
write_surface(f"{disk}/s.h5", surface)
assert (read_surface(f"{disk}/s.h5").metrics["test_loss"] == 0.5).all()
print("written")
"""


@pytest.mark.skipif(not can_mount_tmpfs(), reason="cannot mount a tmpfs in a user namespace here")
@pytest.mark.parametrize("room", [4096, 12288, 20480])  # the file (24 kB) meets a full disk early, midway, late
def test_a_full_disk_fails_a_write_with_its_os_error_and_nothing_of_hdf5_left_over(tmp_path, room):
    """HDF5 writing into a full disk left objects it could not close: "Exception ignored in
    ObjectID.__dealloc__" with HDF5's trace at every garbage collection after, once a crash at exit."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = f"mount -t tmpfs -o size=1m tmpfs {disk} && exec {sys.executable} -c '{_FULL_DISK}' {disk} {room}"
    run = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["refused", "written"]
    assert run.stderr == ""
