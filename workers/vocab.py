"""The engine's words, spelled once: each choice a ``Literal`` type (for type hints and pydantic schemas,
the server's included) and the tuple of its values (for checks, CLI choices and ``/api/config``)."""

from __future__ import annotations

from typing import Literal, get_args

Norm = Literal["filter", "layer", "weight", "none"]  # how a random direction is scaled (Li et al. filter-wise)
Ignore = Literal["biasbn", "none"]  # "biasbn": biases and BatchNorm parameters get no direction
DirType = Literal["weights", "states"]  # directions over parameters, or over the whole state dict
DataSplit = Literal["train", "test"]  # a dataset's splits
Split = Literal[DataSplit, "both"]  # which splits a surface evaluates
Dataset = Literal["cifar10", "cifar10-jpeg", "imagefolder", "mnist", "fashion-mnist", "tensors"]
JobState = Literal["queued", "running", "done", "failed", "cancelled"]

NORMS: tuple[Norm, ...] = get_args(Norm)
IGNORES: tuple[Ignore, ...] = get_args(Ignore)
DIR_TYPES: tuple[DirType, ...] = get_args(DirType)
DATA_SPLITS: tuple[DataSplit, ...] = get_args(DataSplit)
SPLIT_CHOICES: tuple[Split, ...] = get_args(Split)
DATASETS: tuple[Dataset, ...] = get_args(Dataset)
JOB_STATES: tuple[JobState, ...] = get_args(JobState)
