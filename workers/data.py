"""Datasets as preloaded tensors: evaluation needs the same samples at every grid point, so they are
decoded once (cached on disk as uint8 arrays), normalized once and kept as one tensor.

Sources: ``cifar10``, ``mnist``, ``fashion-mnist`` through torchvision (downloaded when allowed),
``imagefolder`` (a directory or a tar archive in torchvision's ImageFolder layout with ``train/`` and
``test/`` splits; ``cifar10-jpeg`` is the same with CIFAR-10's constants, for the JPEG copy of CIFAR-10),
and ``tensors`` (an ``.npz`` with ``x``/``y`` or ``x_train``/``y_train``/``x_test``/``y_test``, or a
``.pt`` dict of the same).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import tarfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .files import atomic_path, unreadable_reason
from .vocab import DATA_SPLITS, DATASETS, Dataset, DataSplit

log = logging.getLogger("lossatlas.data")  # the command line shows its INFO lines (a long first decode)

DOWNLOADABLE: tuple[Dataset, ...] = ("cifar10", "mnist", "fashion-mnist")  # through torchvision; no others

CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)  # the paper's training constants
CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)

NORMALIZATION: dict[Dataset, tuple[tuple[float, ...], tuple[float, ...]] | None] = {
    "cifar10": (CIFAR10_MEAN, CIFAR10_STD),
    "cifar10-jpeg": (CIFAR10_MEAN, CIFAR10_STD),
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "imagefolder": None,  # no default: pass mean/std
    "tensors": None,
}

DATASET_LABELS: dict[Dataset, str] = {
    "cifar10": "CIFAR-10",
    "cifar10-jpeg": "CIFAR-10 (JPEG q75 copy)",
    "mnist": "MNIST",
    "fashion-mnist": "Fashion-MNIST",
    "imagefolder": "image folder",
    "tensors": "tensors",
}


SPLIT_SIZES: dict[Dataset, dict[DataSplit, int]] = {  # of the standard datasets; imagefolder, tensors: once read
    "cifar10": {"train": 50000, "test": 10000},
    "cifar10-jpeg": {"train": 50000, "test": 10000},
    "mnist": {"train": 60000, "test": 10000},
    "fashion-mnist": {"train": 60000, "test": 10000},
}


SAMPLE_SHAPES: dict[Dataset, tuple[int, int, int]] = {  # one sample as a model gets it (C, H, W); the others: once read
    "cifar10": (3, 32, 32),
    "cifar10-jpeg": (3, 32, 32),
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
}


class DataNotFound(ValueError):
    """A dataset (``label``) whose data is not where its root says: a torchvision dataset not downloaded,
    an image folder without the split, a root that does not exist. The message names the root (and the
    option that downloads a dataset) for the command line and Python callers; ``missing`` says what is
    missing without the path, for those who cannot see the server's files (:func:`workers.jobloop.job_error`)."""

    def __init__(self, message: str, label: str, missing: str = "not in the data root it is configured with"):
        super().__init__(message)
        self.label, self.missing = label, missing


def check_samples(samples: int | None, n: int, split: str = "") -> None:
    """ValueError when a subset of ``samples`` is more than the ``n`` samples of ``split`` (None: all)."""
    if samples is not None and samples > n:
        raise ValueError(f"asked for {samples} samples but the {split + ' ' if split else ''}split has only {n}")


def cache_dir() -> Path:
    """Where decoded datasets are cached: ``$LOSSATLAS_CACHE`` or ``~/.cache/lossatlas``."""
    return Path(os.environ.get("LOSSATLAS_CACHE", Path.home() / ".cache" / "lossatlas"))


def default_root(dataset: str) -> Path | None:
    """Default data location: the JPEG CIFAR-10 archive beside the checkout for ``cifar10-jpeg``
    (``$LOSSATLAS_CIFAR10_JPEG`` overrides), the cache for torchvision datasets."""
    if dataset == "cifar10-jpeg":
        env = os.environ.get("LOSSATLAS_CIFAR10_JPEG")
        if env:
            return Path(env)
        here = Path(__file__).resolve().parents[1]
        for candidate in (here.parent / "shared" / "data" / "cifar10-jpeg.tar.xz", Path.cwd() / "cifar10-jpeg.tar.xz"):
            if candidate.exists():
                return candidate
        return None
    if dataset in ("cifar10", "mnist", "fashion-mnist"):
        return cache_dir() / "torchvision"
    return None


def _fingerprint(path: Path) -> str:
    """Path, size and mtime of a file, or of every file below a directory: a directory's own mtime
    does not change when an image in one of its class folders is added or replaced."""
    h = hashlib.sha256()
    for p in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _decode_image(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _read_imagefolder(root: Path, split: str, label: str, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``<root>/<split>/<class>/*`` (a directory, or a tar archive whose members may sit below one
    top folder) into (N, H, W, 3) uint8 and labels; classes sorted by name, files sorted within a class.
    ``label``: the dataset's name in a :class:`DataNotFound` error; ``cache``: where the decoded arrays
    go (said as decoding starts, which takes tens of seconds for CIFAR-10's 60,000 JPEGs)."""
    files: list[tuple[str, str, bytes | Path]] = []  # (class, file name, bytes or path)
    classes: set[str] = set()  # of every split, so that a split lacking a class keeps the others' labels

    def announce() -> None:  # as the long part starts, not before a refusal
        log.info("decoding the %s images of %s once (cached in %s)", split, root.name, cache)

    if root.is_dir():
        split_dir = root / split
        if not split_dir.is_dir():
            raise DataNotFound(
                f"image folder {str(root)!r} has no {split!r} directory",
                label,
                f"no {split!r} directory in its data root",
            )
        files = [(p.parent.name, p.name, p) for p in split_dir.glob("*/*") if p.is_file()]
        classes = {p.name for s in DATA_SPLITS if (root / s).is_dir() for p in (root / s).iterdir() if p.is_dir()}
    elif tarfile.is_tarfile(root):
        announce()  # the pass over a compressed archive is most of the time
        with tarfile.open(root) as archive:  # one sequential pass: compressed archives seek badly
            for member in archive:
                parts = Path(member.name).parts
                if member.isfile() and len(parts) >= 3 and parts[-3] in DATA_SPLITS:
                    classes.add(parts[-2])
                    if parts[-3] == split:
                        files.append((parts[-2], parts[-1], archive.extractfile(member).read()))
    else:
        raise DataNotFound(
            f"{str(root)!r} is neither a directory nor a tar archive in ImageFolder layout",
            label,
            "its data root is neither a directory nor a tar archive in ImageFolder layout",
        )
    if not files:
        raise DataNotFound(
            f"no images under {split}/<class>/ in {str(root)!r}",
            label,
            f"no images under {split}/<class>/ in its data root",
        )
    if root.is_dir():
        announce()
    classes = sorted(classes)
    index = {c: i for i, c in enumerate(classes)}
    files.sort(key=lambda t: (t[0], t[1]))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # PIL decodes without the GIL
        images = list(pool.map(lambda t: _decode_image(t[2] if isinstance(t[2], bytes) else t[2].read_bytes()), files))
    labels = [index[c] for c, _, _ in files]
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _read_torchvision(dataset: str, root: Path, split: str, download: bool) -> tuple[np.ndarray, np.ndarray]:
    import torchvision.datasets as tvd

    cls = {"cifar10": tvd.CIFAR10, "mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST}[dataset]
    created = None if root.exists() else root  # the outermost directory torchvision will create
    while created is not None and not created.parent.exists():
        created = created.parent
    try:
        ds = cls(str(root), train=split == "train", download=download)
    except (RuntimeError, OSError) as e:  # not there; or urllib's URLError, socket errors (no network, proxy, DNS)
        if created is not None:  # it and any partial archive in it are this call's own
            shutil.rmtree(created, ignore_errors=True)
        if not download:  # torchvision's reason, less its own advice ("You can use download=True ...")
            reason = str(e).split("\n")[0].split(" You can use download=True")[0]
            reason = "" if reason.startswith("Dataset not found") else f" ({reason})"
            raise DataNotFound(
                f"{DATASET_LABELS[dataset]} not found under {str(root)!r}{reason}: fetch it with --download "
                "(download=True) or give --data-root where it is",
                DATASET_LABELS[dataset],
            ) from None
        reason = getattr(e, "reason", None) or str(e).split("\n")[0]
        raise ValueError(
            f"cannot download {DATASET_LABELS[dataset]} ({reason}); check the network, or put the dataset under "
            f"{str(root)!r} (--data-root) and run without --download"
        ) from None
    x = np.asarray(ds.data)
    if x.ndim == 3:
        x = x[..., None]  # (N, H, W) -> (N, H, W, 1)
    return x.astype(np.uint8), np.asarray(ds.targets, dtype=np.int64)


def _read_tensors(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    if path.suffix not in (".npz", ".pt", ".pth"):
        raise ValueError(f"tensors file {path.name} must be .npz or .pt")
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                blob = {k: z[k] for k in z.files}
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a zip, pickle or torch error, whichever format it was not
        raise ValueError(
            f"tensors file {path.name} cannot be read ({unreadable_reason(e)}); save the arrays with "
            "numpy.savez(path, x=..., y=...) or the tensors with torch.save({'x': ..., 'y': ...}, path)"
        ) from None
    if path.suffix != ".npz":
        if not isinstance(obj, dict):
            raise ValueError(f"{path.name} must hold a dict with x and y")
        blob = {k: v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for k, v in obj.items()}
    for xk, yk in ((f"x_{split}", f"y_{split}"), ("x", "y")):
        if xk in blob and yk in blob:
            x, y = blob[xk], blob[yk]
            if len(x) != len(y):
                raise ValueError(f"{path.name}: {xk} has {len(x)} samples, {yk} has {len(y)}")
            if split == "test" and xk == "x":
                warnings.warn(
                    f"{path.name} has no test split (x_test, y_test): its x and y serve as both splits, so the "
                    "test figures are on training samples, not held-out ones",
                    stacklevel=4,
                )
            return x, np.asarray(y, dtype=np.int64)
    raise ValueError(f"{path.name} has neither x_{split}/y_{split} nor x/y arrays")


def load_raw(
    dataset: str, split: str, root: str | Path | None = None, download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """All samples of a split, undecoded from the cache when possible: images as stored (uint8 NHWC,
    or whatever a tensors file holds) and int64 labels."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    if split not in DATA_SPLITS:
        raise ValueError(f"split must be train or test; got {split!r}")
    root_path = Path(root) if root is not None else default_root(dataset)
    if root_path is None and dataset == "cifar10-jpeg":  # not found where it is looked for (default_root)
        raise DataNotFound(
            "the JPEG copy of CIFAR-10 (cifar10-jpeg) is not here: give its archive or directory with --data-root "
            "(or $LOSSATLAS_CIFAR10_JPEG), or use the real CIFAR-10: --data cifar10 --download",
            DATASET_LABELS[dataset],
            "no data root is set",
        )
    if root_path is None:
        raise ValueError(
            f"dataset {dataset!r} needs a data root (the file or directory holding it): give it with --data-root"
        )
    if dataset in ("tensors", "imagefolder", "cifar10-jpeg") and not root_path.exists():
        raise DataNotFound(
            f"data root {str(root_path)!r} of dataset {dataset!r} does not exist",
            DATASET_LABELS[dataset],
            "its data root does not exist",
        )
    if dataset == "tensors":
        return _read_tensors(root_path, split)
    if dataset in ("imagefolder", "cifar10-jpeg"):
        key = f"{dataset}-{split}-{_fingerprint(root_path)}"
    else:
        key = f"{dataset}-{split}"
    cached = cache_dir() / "decoded" / f"{key}.npz"
    if cached.exists():
        with np.load(cached) as z:
            return z["x"], z["y"]
    if dataset in ("imagefolder", "cifar10-jpeg"):
        x, y = _read_imagefolder(root_path, split, DATASET_LABELS[dataset], cached.parent)
    else:
        x, y = _read_torchvision(dataset, root_path, split, download)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cached, suffix=".tmp.npz") as tmp:  # np.savez appends .npz to other names
            np.savez(tmp, x=x, y=y)
    except OSError as e:  # a read-only home (a container, a CI sandbox): the data is decoded, only not kept
        warnings.warn(
            f"decoded {DATASET_LABELS[dataset]} not cached in {cached.parent} ({e.strerror or e}): it is decoded "
            "again next time; set LOSSATLAS_CACHE to a writable directory to keep it",
            stacklevel=2,
        )
    return x, y


def subset_indices(n: int, samples: int | None, seed: int, split: str = "") -> np.ndarray:
    """Sorted indices of a seeded random subset of ``samples`` out of ``n`` (all when None); ``split``
    names the split in the error of a subset larger than it."""
    check_samples(samples, n, split)
    if samples is None or samples == n:
        return np.arange(n)
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    gen = torch.Generator().manual_seed(int(seed))
    return np.sort(torch.randperm(n, generator=gen)[:samples].numpy())


def to_tensor(x: np.ndarray, mean: tuple[float, ...] | None, std: tuple[float, ...] | None) -> torch.Tensor:
    """Images to a float32 NCHW tensor: uint8 is scaled to [0, 1], then ``(x - mean) / std`` per channel."""
    t = torch.as_tensor(np.ascontiguousarray(x))
    if t.dtype == torch.uint8:
        t = t.float().div_(255)
        if t.dim() == 4 and t.shape[-1] in (1, 3):
            t = t.permute(0, 3, 1, 2)  # NHWC -> NCHW
    t = t.float().contiguous()
    if mean is not None and std is not None:
        channels = t.shape[1] if t.dim() > 1 else 1
        for name, values in (("mean", mean), ("std", std)):
            if len(values) not in (1, channels):
                raise ValueError(
                    f"normalization {name} has {len(values)} values for images of {channels} channels: "
                    "give one per channel (--mean/--std)"
                )
        m = torch.tensor(mean, dtype=torch.float32).view(1, -1, *([1] * (t.dim() - 2)))
        s = torch.tensor(std, dtype=torch.float32).view(1, -1, *([1] * (t.dim() - 2)))
        t = (t - m) / s
    return t.contiguous()


def load_split(
    dataset: str,
    split: str,
    root: str | Path | None = None,
    samples: int | None = None,
    seed: int = 0,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    download: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """A split as (inputs float32 NCHW, labels int64, the sample indices used).

    ``mean``/``std`` default to the dataset's own constants (:data:`NORMALIZATION`).
    """
    x, y = load_raw(dataset, split, root, download)
    idx = subset_indices(len(y), samples, seed, split)
    if mean is None and std is None and NORMALIZATION[dataset] is not None:
        mean, std = NORMALIZATION[dataset]
    return to_tensor(x[idx], mean, std), torch.as_tensor(y[idx]), idx
